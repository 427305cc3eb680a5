// `bun bench/probe-peers.ts`: run `ftpkit test` against ftpkit, vsftpd and pyftpdlib on loopback and
// print the three checklists side by side as a markdown table (the README's comparison). Root only
// (vsftpd logs in a system user). `--json` prints the three reports instead.
import { chmodSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { chownTree, ensurePeers, ensureSystemUser, makeCert, startPyftpdlib, startVsftpd, stopServer, type RunningServer } from "./servers.ts";
import { startServer } from "../cli/api.ts";
import { probeServer, type ProbeReport } from "../client/probe/index.ts";

const USER = "ftpprobe";
const PASS = "probe-Pw-3141";

/** A port nobody listens on right now (vsftpd and our pyftpd wrapper need one given). */
export function freePort(): number {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = l.port;
  l.stop(true);
  return port;
}

export interface PeerTarget {
  name: string;
  port: number;
  stop(): Promise<void>;
}

/** vsftpd with a system user (needs root), FTPS with a self-signed certificate when openssl works. */
export async function vsftpdTarget(work: string): Promise<PeerTarget> {
  const home = join(work, "vsftpd-home");
  mkdirSync(home, { recursive: true });
  chmodSync(work, 0o755); // the system user must reach its home (mkdtemp makes 0700 directories)
  const acct = { user: USER, pass: PASS, home };
  ensureSystemUser(acct);
  chownTree(home, USER);
  const port = freePort();
  const lo = 45000 + Math.floor(Math.random() * 4000);
  const s: RunningServer = await startVsftpd({ acct, port, pasv: [lo, lo + 50], work, tls: makeCert(join(work, "tls")) });
  return { name: "vsftpd", port, stop: () => stopServer(s) };
}

export async function pyftpdlibTarget(work: string): Promise<PeerTarget> {
  const home = join(work, "pyftpdlib-home");
  mkdirSync(home, { recursive: true });
  const port = freePort();
  const lo = 49500 + Math.floor(Math.random() * 4000);
  const cert = makeCert(join(work, "tls"));
  const s = await startPyftpdlib({ acct: { user: USER, pass: PASS, home }, port, pasv: [lo, lo + 50], work, tls: cert });
  return { name: "pyftpdlib", port, stop: () => stopServer(s) };
}

export async function ftpkitTarget(work: string): Promise<PeerTarget> {
  const cert = makeCert(join(work, "tls"));
  const root = join(work, "ftpkit-home");
  mkdirSync(root, { recursive: true });
  const s = await startServer({ root, users: [{ name: USER, password: PASS }], write: true, ...(cert ? { tls: cert } : {}) });
  return { name: "ftpkit", port: s.port, stop: () => s.close() };
}

export const PROBE_USER = USER;
export const PROBE_PASS = PASS;

function cell(r: ProbeReport, id: string): string {
  const item = r.items.find((i) => i.id === id);
  if (!item) return "";
  const status = item.status === "n/a" ? "N/A" : item.status.toUpperCase();
  return item.status === "pass" ? status : `${status}: ${item.reason.replace(/\|/g, "\\|")}`;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("run as root (vsftpd needs a system user)");
  for (const n of ensurePeers()) console.error(n);
  const work = join(import.meta.dir, "work", "probe");
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const reports: ProbeReport[] = [];
  for (const start of [ftpkitTarget, vsftpdTarget, pyftpdlibTarget]) {
    const t = await start(work);
    try {
      reports.push({ ...(await probeServer({ host: "127.0.0.1", port: t.port, user: USER, password: PASS })), target: t.name });
    } finally {
      await t.stop();
    }
  }
  if (process.argv.includes("--json")) {
    console.log(JSON.stringify(reports, null, 2));
    return;
  }
  console.log(`| item | ${reports.map((r) => r.target).join(" | ")} |`);
  console.log(`|---|${reports.map(() => "---").join("|")}|`);
  for (const item of reports[0]!.items) {
    console.log(`| ${item.title}${item.required ? " *" : ""} | ${reports.map((r) => cell(r, item.id)).join(" | ")} |`);
  }
}

if (import.meta.main) await main();
