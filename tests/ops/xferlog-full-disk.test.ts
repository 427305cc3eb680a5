// --xferlog on a disk that fills up: what it refuses is kept and written once there is room, the cut
// record's rest first, so every record ends up whole and none is lost (not a piece glued to the next
// record, which an analyzer would misread as one 26-field record). Needs root (a private mount
// namespace with a small tmpfs).
import { expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FTPKIT, waitFor } from "../helpers/peers.ts";
import { cleanedAfterEach, collect, serveEnv } from "../helpers/serve-proc.ts";
import { Wire } from "../helpers/wire.ts";
import { tempDir } from "../tls/helpers.ts";

const t = cleanedAfterEach();

/** Run `sh -c SCRIPT` in the server's mount namespace (where the small tmpfs is). */
function inServerNs(script: string): string {
  const r = Bun.spawnSync(["nsenter", "-t", String(t.pid), "-m", "sh", "-c", script], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`nsenter: ${r.stderr.toString()}`);
  return r.stdout.toString();
}

const NAME = `${"n".repeat(150)}.bin`;
const canNamespace = process.getuid?.() === 0 && Bun.spawnSync(["unshare", "-m", "true"]).exitCode === 0;

test.skipIf(!canNamespace)("a full disk loses no xferlog record: those it refused are written, whole, once there is room", async () => {
  t.dir = tempDir();
  // The xferlog outside the served root: serve --root refuses a root that holds it (every account could read it).
  const root = join(t.dir, "root");
  const small = join(t.dir, "small");
  mkdirSync(root);
  mkdirSync(small);
  writeFileSync(join(root, NAME), Buffer.alloc(1000, 1));
  // 16 KiB, half taken by a filler: the xferlog fills the rest after ~40 records of ~200 bytes.
  const script = `mount -t tmpfs -o size=16k tmpfs '${small}' && dd if=/dev/zero of='${small}/filler' bs=1k count=8 2>/dev/null && exec bun '${FTPKIT}' serve --root '${root}' --user u:pw --host 127.0.0.1 --port 0 --xferlog '${small}/xferlog'`;
  const proc = Bun.spawn(["unshare", "-m", "--propagation", "private", "sh", "-c", script], { cwd: t.dir, env: serveEnv(), stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  t.pid = proc.pid; // unshare and sh exec: this is the server
  const out = { text: "" };
  void collect(proc.stdout, out);
  await waitFor(() => /ftp:\/\/127\.0\.0\.1:\d+\/\n/.test(out.text), 15_000, "the URL");
  const w = await Wire.connect(Number(/:(\d+)\/\n/.exec(out.text)![1]));
  t.wires.push(w);
  expect((await w.login("u", "pw")).code).toBe(230);
  await w.cmd("TYPE I");
  let transfers = 0;
  for (; transfers < 60 && !out.text.includes("xferlog write failed"); transfers++) expect((await w.transfer(`RETR ${NAME}`)).final?.code).toBe(226);
  await waitFor(() => out.text.includes("xferlog write failed"), 5000, "a failed xferlog write");
  // Still full: these records wait too.
  for (let i = 0; i < 5; i++, transfers++) expect((await w.transfer(`RETR ${NAME}`)).final?.code).toBe(226);
  inServerNs(`rm '${small}/filler'`);
  for (let i = 0; i < 3; i++, transfers++) expect((await w.transfer(`RETR ${NAME}`)).final?.code).toBe(226);
  let lines: string[] = [];
  await waitFor(() => (lines = inServerNs(`cat '${small}/xferlog'`).split("\n").filter(Boolean)).length >= transfers, 10_000, "every record");
  // Whole records have 18 whitespace-separated tokens (the date is five), each ends "c"; one per transfer.
  expect(lines.length).toBe(transfers);
  expect(new Set(lines.map((l) => l.split(/\s+/).length))).toEqual(new Set([18]));
  for (const l of lines) expect(l).toEndWith(` /${NAME} b _ o r u ftp 0 * c`);
  expect(out.text).toMatch(/xferlog written again/);
}, 60_000);
