// The client's start-up re-execution (cli/tuning.ts): which commands run with the allocator and JIT
// settings, and that a setting the user chose is kept. Each command is caught while it waits for a
// greeting from a listener that never sends one, and its environment read from /proc.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Socket, TCPSocketListener } from "bun";
import { clientWantsTuning } from "../../cli/tuning.ts";
import { FTPKIT, killByPid, removeDir, tempDir } from "../helpers/peers.ts";

const TUNED = ["MIMALLOC_PURGE_DELAY", "BUN_JSC_useDFGJIT"];

let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** The tuning variables of `ftpkit ARGS…` once it connects to a server that stays silent. */
async function tuningOf(args: (url: string, dir: string) => string[], preset: Record<string, string> = {}): Promise<Record<string, string>> {
  const dir = tempDir("ftpkit-tuning-");
  cleanup.push(() => removeDir(dir));
  let connected!: () => void;
  const arrived = new Promise<void>((r) => (connected = r));
  const held: Socket<undefined>[] = [];
  const listener: TCPSocketListener<undefined> = Bun.listen<undefined>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(s) {
        held.push(s);
        connected();
      },
      data() {},
    },
  });
  cleanup.push(() => {
    for (const s of held) s.end();
    listener.stop(true);
  });
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !TUNED.includes(k) && k !== "FTPKIT_PASSWORD") env[k] = v;
  const proc = Bun.spawn(["bun", FTPKIT, ...args(`ftp://u:p@127.0.0.1:${listener.port}/`, dir)], {
    cwd: dir,
    env: { ...env, ...preset, NO_COLOR: "1", HOME: dir },
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  cleanup.push(() => killByPid(proc));
  const exited = proc.exited.then(async (code) => {
    throw new Error(`ftpkit exited (${code}) before connecting: ${await new Response(proc.stderr).text()}`);
  });
  await Promise.race([arrived, exited]);
  const environ = readFileSync(`/proc/${proc.pid}/environ`, "utf8").split("\0");
  const out: Record<string, string> = {};
  for (const entry of environ) {
    const eq = entry.indexOf("=");
    if (TUNED.includes(entry.slice(0, eq))) out[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return out;
}

const CLIENT = { MIMALLOC_PURGE_DELAY: "-1", BUN_JSC_useDFGJIT: "0" };

describe("client start-up tuning", () => {
  test("get and put -r run with the allocator kept and the optimizing JIT off", async () => {
    expect(await tuningOf((url, dir) => ["get", `${url}big.bin`, join(dir, "big.bin"), "-q"])).toEqual(CLIENT);
    expect(
      await tuningOf((url, dir) => {
        mkdirSync(join(dir, "tree"));
        writeFileSync(join(dir, "tree", "a.txt"), "a");
        return ["put", "-r", join(dir, "tree"), `${url}tree`, "-q"];
      }),
    ).toEqual(CLIENT);
  }, 30_000);

  test("a single put and ls keep Bun's defaults (no second start)", async () => {
    expect(
      await tuningOf((url, dir) => {
        writeFileSync(join(dir, "one.txt"), "one");
        return ["put", join(dir, "one.txt"), `${url}one.txt`, "-q"];
      }),
    ).toEqual({});
    expect(await tuningOf((url) => ["ls", url])).toEqual({});
  }, 30_000);

  test("a setting the user made is kept: a chosen JIT setting stays, a chosen purge delay means no re-execution", async () => {
    expect(await tuningOf((url, dir) => ["get", `${url}big.bin`, join(dir, "big.bin"), "-q"], { BUN_JSC_useDFGJIT: "1" })).toEqual({ MIMALLOC_PURGE_DELAY: "-1", BUN_JSC_useDFGJIT: "1" });
    expect(await tuningOf((url, dir) => ["get", `${url}big.bin`, join(dir, "big.bin"), "-q"], { MIMALLOC_PURGE_DELAY: "10" })).toEqual({ MIMALLOC_PURGE_DELAY: "10" });
  }, 30_000);

  test("which command lines are tuned: every get, sync and resume; put only for a tree or a glob", () => {
    expect(clientWantsTuning(["get", "ftp://h/a"])).toBe(true);
    expect(clientWantsTuning(["sync", "ftp://h/a", "dir"])).toBe(true);
    expect(clientWantsTuning(["resume"])).toBe(true);
    expect(clientWantsTuning(["put", "--recursive", "dir", "ftp://h/a"])).toBe(true);
    expect(clientWantsTuning(["put", "out/*.csv", "ftp://h/a/"])).toBe(true);
    expect(clientWantsTuning(["put", "file.bin", "ftp://h/a?b"])).toBe(false);
    expect(clientWantsTuning(["put", "file.bin", "ftp://h/a", "--exclude", "*.tmp"])).toBe(false);
    expect(clientWantsTuning(["ls", "ftp://h/"])).toBe(false);
    expect(clientWantsTuning(["serve"])).toBe(false);
    expect(clientWantsTuning([])).toBe(false);
  });
});
