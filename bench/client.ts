// Client rows of the benchmark: ftpkit's client (verified with SHA-256, the default, and with CRC-32;
// --no-verify) against curl and lftp,
// each fetching from / sending to the same server in the same run, taking turns round by round.
// Wall time of the whole command (process start to exit), median of the profile's repetitions,
// destination files deleted and the disk synced after every run so no run pays for another's
// writeback. Ratios are paired: each round's ftpkit run against the reference run of the same round
// (the median of those), because this VM's speed drifts by 2–5× between rounds.
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { median } from "./stats.ts";
import { cpuMsWithReaped, REPO_DIR } from "./servers.ts";

export const CLIENT_WORKLOADS = ["client-get", "client-put", "client-tree", "client-tree-put", "client-tree-tls"] as const;
export type ClientWorkload = (typeof CLIENT_WORKLOADS)[number];
export const isTreeWorkload = (w: ClientWorkload) => w === "client-tree" || w === "client-tree-put" || w === "client-tree-tls";
// --no-block-mode: the tree rows once more with a data connection per file (MODE S), as before MODE B.
const CLIENTS = ["ftpkit", "ftpkit --hash crc32", "ftpkit --no-verify", "ftpkit --no-block-mode", "curl", "lftp"] as const;
type ClientName = (typeof CLIENTS)[number];

export interface ClientBenchSetup {
  server: string;
  port: number;
  /** The server's main process: its CPU time (and its reaped sessions') is read around each run. */
  serverPid: number;
  user: string;
  pass: string;
  home: string;
  /** Virtual path of the big file ("/big-….bin") and its size. */
  big: string;
  bigSize: number;
  /** The server offers explicit FTPS (AUTH TLS) with the bench's self-signed certificate. */
  tls: boolean;
  reps: number;
  warmup: number;
  work: string;
  log(msg: string): void;
}

const TREE_FILES = 1000;
/** Rounds of each tree row at least, whatever --reps says. */
export const TREE_MIN_REPS = 7;
const TREE_SIZE = 100 * 1024;

/** 1,000 × 100 KiB in ten directories (kept between runs). */
export function ensureTree(home: string): string {
  const root = join(home, "tree-1000");
  let n = 0;
  if (existsSync(root)) for (const d of readdirSync(root)) n += readdirSync(join(root, d)).length;
  if (n !== TREE_FILES) {
    rmSync(root, { recursive: true, force: true });
    for (let i = 0; i < TREE_FILES; i++) {
      const dir = join(root, `d${i % 10}`);
      mkdirSync(dir, { recursive: true });
      const data = Buffer.allocUnsafe(TREE_SIZE);
      for (let off = 0; off < TREE_SIZE; off += 65536) crypto.getRandomValues(data.subarray(off, Math.min(TREE_SIZE, off + 65536)));
      writeFileSync(join(dir, `f${i}.bin`), data);
    }
  }
  return "/tree-1000";
}

function command(w: ClientWorkload, c: ClientName, s: ClientBenchSetup, dest: string, rep: number): string[] | null {
  const url = (p: string) => `ftp://${encodeURIComponent(s.user)}:${encodeURIComponent(s.pass)}@127.0.0.1:${s.port}${p}`;
  const ftpkit = [process.execPath, join(REPO_DIR, "cli/ftpkit.ts")];
  // ftpkit's variants: its flags after the command's own arguments.
  const flags = c.startsWith("ftpkit ") ? c.split(" ").slice(1) : [];
  const upName = `/up/client-${c.replace(/\W+/g, "-")}-${rep}.bin`;
  const tlsSettings = w === "client-tree-tls" ? "set ftp:ssl-force yes; set ftp:ssl-protect-data yes; set ftp:ssl-protect-list yes; set ssl:verify-certificate no" : "set ftp:ssl-allow no";
  const lftp = (script: string) => ["lftp", "-u", `${s.user},${s.pass}`, "-p", String(s.port), "-e", `${tlsSettings}; set xfer:clobber on; set net:max-retries 1; ${script}; quit`, "127.0.0.1"];
  // MODE B is for tree jobs only: the single-file rows have no such variant.
  if (c === "ftpkit --no-block-mode" && !isTreeWorkload(w)) return null;
  switch (w) {
    case "client-get":
      if (c === "curl") return ["curl", "-sS", "-o", join(dest, "big.bin"), url(s.big)];
      if (c === "lftp") return lftp(`get ${s.big} -o ${join(dest, "big.bin")}`);
      return [...ftpkit, "get", url(s.big), join(dest, "big.bin"), "-q", ...flags];
    case "client-put":
      if (c === "curl") return ["curl", "-sS", "-T", join(s.home, s.big), url(upName)];
      if (c === "lftp") return lftp(`put ${join(s.home, s.big)} -o ${upName}`);
      return [...ftpkit, "put", join(s.home, s.big), url(upName), "-q", ...flags];
    case "client-tree":
      if (c === "curl") return null; // curl has no recursive download
      if (c === "lftp") return lftp(`mirror --parallel=8 /tree-1000 ${join(dest, "tree")}`);
      return [...ftpkit, "get", "-r", url("/tree-1000"), join(dest, "tree"), "--parallel", "8", "-q", ...flags];
    case "client-tree-put": {
      // Into up/ (emptied after every run), from the tree the download row fetches.
      const upTree = `/up/client-${c.replace(/\W+/g, "-")}-${rep}-tree`;
      if (c === "curl") return null;
      if (c === "lftp") return lftp(`mirror -R --parallel=8 ${join(s.home, "tree-1000")} ${upTree}`);
      return [...ftpkit, "put", "-r", join(s.home, "tree-1000"), url(upTree), "--parallel", "8", "-q", ...flags];
    }
    case "client-tree-tls":
      // Explicit FTPS, data encrypted (PROT P), the bench's self-signed certificate not checked.
      if (c === "curl" || !s.tls) return null;
      if (c === "lftp") return lftp(`mirror --parallel=8 /tree-1000 ${join(dest, "tree")}`);
      return [...ftpkit, "get", "-r", url("/tree-1000"), join(dest, "tree"), "--parallel", "8", "--tls", "--insecure", "-q", ...flags];
  }
}

export interface ClientCell {
  value?: number;
  /** Median over rounds of this run's MB/s divided by the reference client's in the same round. */
  ratio?: number;
  error?: string;
  na?: string;
  /** Medians over the measured runs: wall time, and CPU time of the client and of the server (ms). */
  cpu?: { wallMs: number; clientMs: number; serverMs: number };
}

/**
 * Run every client row against one server; value = MB/s (bytes moved / wall time). The clients take
 * turns, one run each per round, in an order rotated every round: a slow phase of the machine (the
 * loopback, the page cache, other tenants of a VM) then costs every client the same, and the ratios
 * stay side by side.
 */
export async function runClientRows(ws: readonly ClientWorkload[], s: ClientBenchSetup): Promise<Map<ClientWorkload, Record<ClientName, ClientCell>>> {
  const out = new Map<ClientWorkload, Record<ClientName, ClientCell>>();
  const upDir = join(s.home, "up");
  for (const w of ws) {
    const row = {} as Record<ClientName, ClientCell>;
    out.set(w, row);
    const tree = isTreeWorkload(w);
    const bytes = tree ? TREE_FILES * TREE_SIZE : s.bigSize;
    // Per client, the MB/s of each round (undefined: warm-up or failed).
    const samples = new Map<ClientName, (number | undefined)[]>();
    /** Per client, each measured run's wall time and CPU time (client, server), in ms. */
    const costs = new Map<ClientName, { wallMs: number; clientMs: number; serverMs: number }[]>();
    const errors = new Map<ClientName, string>();
    for (const c of CLIENTS) {
      if (!command(w, c, s, "/", 0)) row[c] = { na: "not this row's" };
      else if ((c === "curl" || c === "lftp") && Bun.spawnSync(["sh", "-c", `command -v ${c}`]).exitCode !== 0) row[c] = { error: "not available" };
      else samples.set(c, []);
    }
    // A row none of the clients can run against this server (FTPS against one without TLS): left out.
    if (![...CLIENTS].some((c) => command(w, c, s, "/", 0))) {
      out.delete(w);
      continue;
    }
    const turns = [...samples.entries()];
    // A tree round takes well under a second and its ratio varies with the machine's phase: more
    // rounds for those (the 1 GiB rows keep --reps).
    const reps = tree ? Math.max(s.reps, TREE_MIN_REPS) : s.reps;
    for (let i = 0; i < s.warmup + reps; i++) {
      // Each round starts with the next client: none always runs first, right after the previous
      // round's last run freed its gigabyte, and none always follows the same other client.
      for (const [c, runs] of turns.map((_, k) => turns[(k + i) % turns.length]!)) {
        if (errors.has(c)) continue;
        const dest = join(s.work, "client-dest");
        rmSync(dest, { recursive: true, force: true });
        mkdirSync(dest, { recursive: true });
        const cmd = command(w, c, s, dest, i)!;
        const serverCpu0 = cpuMsWithReaped(s.serverPid);
        const t = performance.now();
        const p = Bun.spawn(cmd, { cwd: dest, stdin: "ignore", stdout: "ignore", stderr: "pipe" });
        const timer = setTimeout(() => p.kill(9), 600_000);
        const [err, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
        clearTimeout(timer);
        const ms = performance.now() - t;
        const clientCpu = p.resourceUsage()?.cpuTime.total;
        if (code === 0 && i >= s.warmup && clientCpu !== undefined) {
          const list = costs.get(c) ?? [];
          list.push({ wallMs: ms, clientMs: Number(clientCpu) / 1000, serverMs: cpuMsWithReaped(s.serverPid) - serverCpu0 });
          costs.set(c, list);
        }
        if (code !== 0) {
          errors.set(c, `exit ${code}: ${err.trim().split("\n").slice(-1)[0] ?? ""}`);
          // The table keeps the last line; the log gets what came before it (which file, why).
          s.log(`  ${w} · ${s.server} · ${c}: exit ${code}, stderr:\n${err.trim().split("\n").slice(-20).map((l) => `      ${l}`).join("\n")}`);
        }
        runs.push(code === 0 && i >= s.warmup ? bytes / 1e6 / (ms / 1000) : undefined);
        rmSync(dest, { recursive: true, force: true });
        for (const f of existsSync(upDir) ? readdirSync(upDir) : []) if (f.startsWith("client-")) rmSync(join(upDir, f), { recursive: true, force: true });
        // The next run starts with no writeback of this one pending (measured: curl's 1 GiB put to
        // vsftpd took 0.84–1.57 s without this, 0.82–0.87 s with it).
        Bun.spawnSync(["sync"]);
      }
    }
    const refName: ClientName = tree ? "lftp" : "curl";
    const ref = samples.get(refName);
    for (const [c, runs] of samples) {
      const sorted = runs.filter((v): v is number => v !== undefined).sort((a, b) => a - b);
      const error = errors.get(c);
      const paired = ref && c !== refName ? runs.flatMap((v, i) => (v !== undefined && ref[i] !== undefined ? [v / ref[i]!] : [])) : [];
      const spent = costs.get(c) ?? [];
      const cpu = spent.length ? { wallMs: median(spent.map((x) => x.wallMs)), clientMs: median(spent.map((x) => x.clientMs)), serverMs: median(spent.map((x) => x.serverMs)) } : undefined;
      row[c] = error ? { error } : { value: median(sorted), ...(paired.length ? { ratio: median(paired) } : {}), ...(cpu ? { cpu } : {}) };
      const pairedText = paired.length ? `; ratio to ${refName} per round ${paired.map((r) => r.toFixed(2)).join(", ")}` : "";
      const cpuText = cpu ? `; CPU per run: client ${(cpu.clientMs / 1000).toFixed(2)} s, server ${(cpu.serverMs / 1000).toFixed(2)} s` : "";
      s.log(`  ${w} · ${s.server} · ${c}: ${error ?? `${row[c].value!.toFixed(0)} MB/s (runs ${sorted.map((v) => v.toFixed(0)).join(", ")}${pairedText}${cpuText})`}`);
    }
  }
  return out;
}

const TARGETS: Record<ClientWorkload, { text: string; check(r: Record<ClientName, ClientCell>): boolean | undefined }> = {
  "client-get": { text: "verified (sha256) ≥ 0.9× curl, --no-verify ≥ 1.0× curl", check: both },
  "client-put": { text: "verified (sha256) ≥ 0.9× curl, --no-verify ≥ 1.0× curl", check: both },
  "client-tree": { text: "verified ≥ 1.0× lftp mirror", check: (r) => ratio(r.ftpkit, 1.0) },
  "client-tree-put": { text: "verified ≥ 1.0× lftp mirror -R", check: (r) => ratio(r.ftpkit, 1.0) },
  "client-tree-tls": { text: "none (FTPS, PROT P)", check: () => undefined },
};

function ratio(a: ClientCell | undefined, min: number): boolean | undefined {
  return a?.ratio === undefined ? undefined : a.ratio >= min;
}

function both(r: Record<ClientName, ClientCell>): boolean | undefined {
  const v = ratio(r.ftpkit, 0.9);
  const nv = ratio(r["ftpkit --no-verify"], 1.0);
  return v === undefined || nv === undefined ? undefined : v && nv;
}

function rowLabel(w: ClientWorkload, bigMiB: number): string {
  const tree = `${TREE_FILES.toLocaleString("en-US")} × 100 KiB, 8 connections`;
  return { "client-get": `get ${bigMiB} MiB`, "client-put": `put ${bigMiB} MiB`, "client-tree": `get -r ${tree}`, "client-tree-put": `put -r ${tree}`, "client-tree-tls": `get -r ${tree}, FTPS` }[w];
}

/** The client table: one row per (workload, server), MB/s with the ratio to curl (lftp for trees). */
export function renderClientTable(results: Map<string, Map<ClientWorkload, Record<ClientName, ClientCell>>>, bigMiB: number): string {
  const rows = [`| Client workload | Server | ${CLIENTS.join(" | ")} | Target | Met |`, `|---|---|${CLIENTS.map(() => "---:").join("|")}|---|:-:|`];
  for (const [server, ws] of results) {
    for (const [w, r] of ws) {
      const cells = CLIENTS.map((c) => {
        const cell = r[c];
        if (!cell) return "not run";
        if (cell.na) return "n/a";
        if (cell.error) return "error†";
        const x = cell.ratio !== undefined ? ` (${cell.ratio.toFixed(2)}×)` : "";
        return `${cell.value!.toFixed(0)}${x}`; // the reference itself has no ratio
      });
      const met = TARGETS[w].check(r);
      rows.push(`| ${rowLabel(w, bigMiB)} | ${server} | ${cells.join(" | ")} | ${TARGETS[w].text} | ${met === undefined ? "—" : met ? "✅" : "❌"} |`);
    }
  }
  return rows.join("\n");
}

export function clientNotes(results: Map<string, Map<ClientWorkload, Record<ClientName, ClientCell>>>): string[] {
  const notes: string[] = [];
  for (const [server, ws] of results) for (const [w, r] of ws) for (const c of CLIENTS) if (r[c]?.error && r[c]!.error !== "not available") notes.push(`${w} / ${server} / ${c}: ${r[c]!.error}`);
  return notes;
}

/**
 * What the machine allows each verified ftpkit row: the CPU time client and server spent per run
 * (medians), and the fastest ratio to the reference those seconds permit on this machine's cores
 * (client and server share them: the run cannot take less wall time than all its CPU time spread
 * over every core). A "best possible" under the target means the target cannot be met here by any
 * overlap of the same work; only less work per byte could.
 */
export function clientCpuTable(results: Map<string, Map<ClientWorkload, Record<ClientName, ClientCell>>>, bigMiB: number, cores = cpus().length): string {
  const sec = (ms: number) => (ms / 1000).toFixed(2);
  const rows = [
    `| Client workload | Server | client | CPU s: client + server = total | wall s | ${cores}-core floor s | reference (wall s, CPU s) | best possible ratio | measured |`,
    "|---|---|---|---:|---:|---:|---:|---:|---:|",
  ];
  for (const [server, ws] of results) {
    for (const [w, r] of ws) {
      const refName: ClientName = isTreeWorkload(w) ? "lftp" : "curl";
      const ref = r[refName]?.cpu;
      for (const c of ["ftpkit", "ftpkit --no-verify"] as const) {
        const x = r[c]?.cpu;
        if (!x || !ref) continue;
        const total = x.clientMs + x.serverMs;
        const floor = total / cores;
        rows.push(
          `| ${rowLabel(w, bigMiB)} | ${server} | ${c} | ${sec(x.clientMs)} + ${sec(x.serverMs)} = ${sec(total)} | ${sec(x.wallMs)} | ${sec(floor)} | ${refName} ${sec(ref.wallMs)}, ${sec(ref.clientMs + ref.serverMs)} | ${(ref.wallMs / floor).toFixed(2)}× | ${r[c]!.ratio?.toFixed(2) ?? "—"}× |`,
        );
      }
    }
  }
  return rows.join("\n");
}
