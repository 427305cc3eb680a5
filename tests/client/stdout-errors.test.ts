// Standard output that takes no more bytes (here /dev/full: ENOSPC) is a local write failure: every
// client command says it in one line and exits 3 (README, "Exit status"), as `get URL -` did; `ls`
// dumped Bun's uncaught-exception report with our source lines and exited 1.
import { expect, test } from "bun:test";
import { closeSync, openSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { cleanEnv, FTPKIT } from "../helpers/peers.ts";
import { useFakeServerWork } from "./fake-server.ts";

const t = useFakeServerWork();

/** Run ftpkit with its stdout on /dev/full; its exit code and stderr. */
async function toDevFull(args: string[]): Promise<{ code: number; stderr: string }> {
  const full = openSync("/dev/full", "w");
  try {
    const proc = Bun.spawn(["bun", FTPKIT, ...args], { cwd: t.work, env: { ...cleanEnv(), NO_COLOR: "1" }, stdin: "ignore", stdout: full, stderr: "pipe" });
    const timer = setTimeout(() => proc.kill(9), 20_000);
    const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    clearTimeout(timer);
    return { code, stderr };
  } finally {
    closeSync(full);
  }
}

const COMMANDS: [string, (url: string) => string[]][] = [
  ["ls", (url) => ["ls", `${url}/d/`]],
  ["ls --json", (url) => ["ls", `${url}/d/`, "--json"]],
  ["get URL -", (url) => ["get", `${url}/d/f.bin`, "-"]],
  ["sync --dry-run --json", (url) => ["sync", `${url}/d/`, "mirror", "--dry-run", "--json"]],
  ["sync --dry-run", (url) => ["sync", `${url}/d/`, "mirror", "--dry-run"]],
];

for (const [name, args] of COMMANDS) {
  test(`${name} > /dev/full: one line naming standard output and the cause (disk full), exit 3, no stack trace`, async () => {
    const fake = t.start({ files: new Map([["/d/f.bin", randomBytes(200_000)]]), feat: ["SIZE", "MDTM", "MLST type*;size*;modify*;"] });
    const r = await toDevFull([...args(`ftp://u:p@127.0.0.1:${fake.port}`), "--retries", "0"]);
    expect(r.stderr.trim().split("\n")).toEqual(["[error] cannot write to standard output: disk full"]);
    expect(r.code).toBe(3);
  });
}
