// The report: number formatting, the markdown table of the server rows (ratios to vsftpd, targets
// met) and the machine description at the top of RESULTS.md.
import { cpus, release, totalmem } from "node:os";
import { existsSync, readFileSync } from "node:fs";
import { BENCH_DIR } from "./servers.ts";
import { proftpdVersion } from "./proftpd.ts";
import { CPU_BOUND, type ServerName } from "./settings.ts";
import { measured, type Cell, type Workload } from "./workloads.ts";

export function fmt(x: number, unit: string): string {
  const digits = unit === "ms" ? (x < 100 ? 1 : 0) : unit === "MB/s" || unit === "sessions/s" || unit === "KiB" ? (x < 10 ? 1 : 0) : 1;
  return x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function cellText(c: Cell | undefined, w: Workload, vsftpd: Cell | undefined, extra = ""): string {
  if (!c) return "not run";
  if (c.error) return c.error === "not available" ? "not available" : "error†";
  if (c.na) return "n/a";
  if (c.value === undefined) return "—";
  let s = fmt(c.value, w.unit);
  if (w.showWall && c.wallMs !== undefined) s += ` · ${(c.wallMs / 1000).toFixed(2)} s`;
  if (c.cpuFrac !== undefined && c.cpuFrac >= CPU_BOUND) s += " ⚠";
  const ref = measured(vsftpd);
  if (ref !== undefined && ref > 0 && c !== vsftpd) s += ` (${(c.value / ref).toFixed(2)}×)`;
  return s + extra;
}

export interface Results {
  raw: Cell | undefined;
  cells: Map<string, Record<string, Cell>>;
}

export function renderTable(ws: Workload[], r: Results, servers: readonly ServerName[]): { table: string; notes: string[] } {
  const notes: string[] = [];
  const head = `| Workload | Unit | ${servers.join(" | ")} | Target (ftpkit) | Met |`;
  const sep = `|---|---|${servers.map(() => "---:").join("|")}|---|:-:|`;
  const rows = [head, sep];
  if (r.raw) {
    const rawText = r.raw.error ? "error†" : `${fmt(r.raw.value ?? 0, "MB/s")}${(r.raw.cpuFrac ?? 0) >= CPU_BOUND ? " ⚠" : ""}`;
    if (r.raw.error) notes.push(`raw: ${r.raw.error}`);
    rows.push(`| raw loopback limit (Bun read+send, no FTP) | MB/s | ${servers.map(() => rawText).join(" | ")} | ceiling | |`);
  }
  for (const w of ws) {
    const cells = r.cells.get(w.id);
    if (!cells) continue;
    const plain = r.cells.get(w.baseline ?? "retr-1") ?? {};
    const texts = servers.map((s) => {
      let extra = "";
      const c = cells[s];
      if (w.ops && measured(c) !== undefined && c?.paired) {
        extra = `, ${Math.round((100 * measured(c)!) / c.paired)}% of plain ${fmt(c.paired, w.unit)} in the same runs`;
        if (c.cpu && c.cpu.plain > 0) extra += `; server CPU ${(c.cpu.ops / c.cpu.plain).toFixed(2)}× plain`;
      } else if (w.id === "ftps-retr-1" && measured(c) !== undefined && measured(plain[s]) !== undefined) {
        extra = `, ${Math.round((100 * measured(c)!) / measured(plain[s])!)}% of plain`;
        // Where the time goes: a ⚠ with the server's CPU far below the wall time means the load
        // generator's decryption, not the server, set the pace.
        const tlsCpu = c?.serverCpuMs;
        const plainCpu = plain[s]?.serverCpuMs;
        if (s === "ftpkit" && tlsCpu !== undefined && plainCpu !== undefined) extra += `; server CPU ${fmt(tlsCpu, "ms")} ms per run (plain ${fmt(plainCpu, "ms")})`;
      }
      return cellText(c, w, cells.vsftpd, extra);
    });
    for (const s of servers) {
      const c = cells[s];
      if (c?.error && c.error !== "not available") notes.push(`${w.id} / ${s}: ${c.error}`);
      if (c?.na) notes.push(`${w.id} / ${s}: n/a (${c.na})`);
    }
    const met = w.target?.check(cells, plain, r.raw);
    const unit = w.unit === "KiB" ? "KiB/session" : w.unit;
    rows.push(`| ${w.label} | ${unit} | ${texts.join(" | ")} | ${w.target?.text ?? ""} | ${met === undefined ? "—" : met ? "✅" : "❌"} |`);
  }
  return { table: rows.join("\n"), notes };
}

export function machine(): string[] {
  const cpuinfo = existsSync("/proc/cpuinfo") ? readFileSync("/proc/cpuinfo", "utf8") : "";
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? cpus()[0]?.model ?? "unknown";
  const vsftpd = Bun.spawnSync(["sh", "-c", "dpkg-query -W -f '${Version}' vsftpd 2>/dev/null"]).stdout.toString() || "?";
  const pyftpd = Bun.spawnSync(["sh", "-c", "dpkg-query -W -f '${Version}' python3-pyftpdlib 2>/dev/null"]).stdout.toString() || "?";
  const rev = Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"], { cwd: BENCH_DIR }).stdout.toString().trim();
  return [
    `- CPU: ${model}, ${cpus().length} cores; RAM ${(totalmem() / 2 ** 30).toFixed(0)} GiB`,
    `- Kernel: Linux ${release()}`,
    `- Bun ${Bun.version}; vsftpd ${vsftpd}; pyftpdlib ${pyftpd} (Debian packages); ProFTPD ${proftpdVersion()} (Debian's proftpd-core, unpacked)`,
    `- ftpkit commit ${rev || "?"}; date ${new Date().toISOString().replace(/\.\d+Z$/, "Z")}`,
  ];
}
