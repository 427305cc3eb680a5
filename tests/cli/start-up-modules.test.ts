// What the commands that move files load at start-up. Node's stream modules cost each start ~12 ms of
// CPU and wall time (loaded by node:crypto, node:stream, node:tty or the first use of process.stdout),
// a sizeable share of a quick job (a 1,000-file get -r takes ~0.6 s of CPU): get, put, sync and
// resume load none of them unless they need one (a question asked on the terminal, put - from one).
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { cleanEnv, FTPKIT, randomFile, removeDir, REPO, startFtpkitServer, tempDir, type FtpkitPeer } from "../helpers/peers.ts";

setDefaultTimeout(30_000);

/** Loading any of these loads Node's stream modules. */
const HEAVY = ["node:crypto", "crypto", "node:stream", "stream", "node:tty", "tty"];

/** What the `ftpkit get|put|sync|resume` command line runs before its work: the entry, main.ts, interrupt.ts and the command. */
const ROOTS = ["cli/ftpkit.ts", "cli/main.ts", "cli/interrupt.ts", "cli/commands/get.ts", "cli/commands/put.ts", "cli/commands/sync.ts", "cli/commands/resume.ts"];

/** Every module `roots` import statically (type-only imports aside), transitively, with what imports it. */
function staticImports(roots: string[]): Map<string, string> {
  const seen = new Map<string, string>();
  const queue: [string, string][] = roots.map((r) => [join(REPO, r), "(root)"]);
  const spec = /^\s*(?:import|export)\s+(?!type\s)(?:[^"';]*?\sfrom\s+)?["']([^"']+)["']/gm;
  while (queue.length > 0) {
    const [file, by] = queue.shift()!;
    if (seen.has(file)) continue;
    seen.set(file, by);
    if (!file.endsWith(".ts")) continue;
    for (const m of readFileSync(file, "utf8").matchAll(spec)) {
      const name = m[1]!;
      if (name.startsWith(".")) {
        const target = resolve(dirname(file), name);
        if (existsSync(target)) queue.push([target, file]);
      } else if (!seen.has(name)) seen.set(name, file);
    }
  }
  return seen;
}

test("get, put, sync and resume import no module that loads Node's streams at start-up", () => {
  const graph = staticImports(ROOTS);
  expect(graph.size).toBeGreaterThan(50); // the walk found the client's modules
  const heavy = [...graph].filter(([name]) => HEAVY.includes(name)).map(([name, by]) => `${name} (imported by ${by.slice(REPO.length + 1)})`);
  expect(heavy).toEqual([]);
});

/** Builtins that cost a start-up without loading Node's streams: node:fs/promises ~3 ms (only `get URL FIFO` opens with it). */
const COSTLY = ["node:fs/promises", "fs/promises"];

test("get, put, sync and resume do not import node:fs/promises at start-up", () => {
  const costly = [...staticImports(ROOTS)].filter(([name]) => COSTLY.includes(name)).map(([name, by]) => `${name} (imported by ${by.slice(REPO.length + 1)})`);
  expect(costly).toEqual([]);
});

/** What only a single file's job runs (and what only it imports): a tree job's start-up (get -r, put -r, a glob) spent ~2-4 ms loading them. */
const SINGLE_FILE_ONLY = ["client/operations.ts", "client/segmented.ts", "client/segment-range.ts", "client/pending-rivals.ts", "client/stdio-transfer.ts", "cli/single-file.ts", "cli/stream-target.ts"];

test("get imports the modules of a single file's job only when it runs one", () => {
  const graph = staticImports(["cli/ftpkit.ts", "cli/main.ts", "cli/interrupt.ts", "cli/commands/get.ts"]);
  expect(graph.size).toBeGreaterThan(10);
  const loaded = SINGLE_FILE_ONLY.filter((m) => graph.has(join(REPO, m)));
  expect(loaded).toEqual([]);
});

test("put imports the modules of a single file's job only when it runs one", () => {
  const graph = staticImports(["cli/ftpkit.ts", "cli/main.ts", "cli/interrupt.ts", "cli/commands/put.ts"]);
  expect(graph.size).toBeGreaterThan(10);
  const loaded = SINGLE_FILE_ONLY.filter((m) => graph.has(join(REPO, m)));
  expect(loaded).toEqual([]);
});

/** What only a TLS connection (ftps://, --tls) or active mode (--active) runs: a plain passive job's start-up spent ~1 ms loading them. */
const TLS_OR_ACTIVE_ONLY = ["client/tls-trust.ts", "client/control-tls.ts", "protocol/tls-record-tail.ts", "client/active-listener.ts", "protocol/ports.ts"];

test("the client imports the TLS and active-mode modules only when a connection uses them", () => {
  const graph = staticImports([...ROOTS, "client/tree-job.ts", "client/operations.ts", "client/client.ts"]);
  expect(graph.size).toBeGreaterThan(50);
  const loaded = TLS_OR_ACTIVE_ONLY.filter((m) => graph.has(join(REPO, m))).map((m) => `${m} (imported by ${graph.get(join(REPO, m))!.slice(REPO.length + 1)})`);
  expect(loaded).toEqual([]);
});

/** What a tree job runs only in one direction (the other direction's file transfer), with a pending job (its question) or without a password (the prompt). */
const TREE_SOMETIMES = ["client/file-upload.ts", "client/retrieve.ts", "client/retrieve-attempts.ts", "client/resume-question.ts", "client/prompt.ts"];

test("a tree job imports each direction's file transfer, the resume question and the password prompt only when it runs them", () => {
  const graph = staticImports(["cli/ftpkit.ts", "cli/main.ts", "cli/interrupt.ts", "cli/commands/get.ts", "cli/commands/sync.ts", "client/tree-job.ts"]);
  expect(graph.size).toBeGreaterThan(50);
  const loaded = TREE_SOMETIMES.filter((m) => graph.has(join(REPO, m))).map((m) => `${m} (imported by ${graph.get(join(REPO, m))!.slice(REPO.length + 1)})`);
  expect(loaded).toEqual([]);
});

test("the tuning re-execution's first image (cli/ftpkit.ts up to main.ts) imports no node:fs, ~1.5 ms to load", () => {
  const graph = staticImports(["cli/ftpkit.ts"]);
  expect(graph.has(join(REPO, "cli/hide-secrets.ts"))).toBe(true); // the walk found the first image's modules
  const fs = [...graph].filter(([name]) => name === "node:fs" || name === "fs").map(([name, by]) => `${name} (imported by ${by.slice(REPO.length + 1)})`);
  expect(fs).toEqual([]);
});

let server: FtpkitPeer;
let work: string;

beforeAll(async () => {
  server = await startFtpkitServer();
  work = tempDir();
  mkdirSync(join(server.home, "tree"), { recursive: true });
  for (let i = 0; i < 3; i++) randomFile(join(server.home, "tree", `f${i}.bin`), 10_000);
});

afterAll(async () => {
  await server.stop();
  removeDir(work);
});

/** `ftpkit get -r` of /tree into `dst` (under work), quiet, with `trap` preloaded: its stderr and exit status. */
async function quietTreeGet(trap: string, dst: string): Promise<{ stderr: string; code: number }> {
  // The purge delay set: no re-execution, whose image would not run the preload.
  const proc = Bun.spawn(["bun", "--preload", trap, FTPKIT, "get", "-r", server.url("/tree"), join(work, dst), "-q"], {
    cwd: work,
    env: { ...cleanEnv(), NO_COLOR: "1", MIMALLOC_PURGE_DELAY: "-1" },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill(9), 20_000);
  const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { stderr, code };
}

test("a quiet get -r never creates process.stdout", async () => {
  // Preloaded: counts uses of process.stdout and says at exit whether there was one.
  const trap = join(work, "stdout-trap.ts");
  writeFileSync(
    trap,
    `import { writeSync } from "node:fs";
const d = Object.getOwnPropertyDescriptor(process, "stdout")!;
let used = false;
Object.defineProperty(process, "stdout", { configurable: true, get() { used = true; return d.get ? d.get.call(process) : d.value; } });
process.on("exit", () => writeSync(2, "process.stdout used: " + used + "\\n"));
`,
  );
  const { stderr, code } = await quietTreeGet(trap, "dst");
  expect(code).toBe(0);
  expect(readFileSync(join(work, "dst", "f2.bin")).length).toBe(10_000);
  expect(stderr.trim()).toBe("process.stdout used: false");
});

test("a quiet get -r formats no number for a locale (ICU's number formatting costs ~3 ms to load)", async () => {
  // Preloaded: says at exit whether Number.prototype.toLocaleString was called.
  const trap = join(work, "locale-trap.ts");
  writeFileSync(
    trap,
    `import { writeSync } from "node:fs";
const original = Number.prototype.toLocaleString;
let used = false;
Number.prototype.toLocaleString = function (...args: Parameters<typeof original>) { used = true; return original.apply(this, args); };
process.on("exit", () => writeSync(2, "toLocaleString used: " + used + "\\n"));
`,
  );
  const { stderr, code } = await quietTreeGet(trap, "dst-locale");
  expect(code).toBe(0);
  expect(readFileSync(join(work, "dst-locale", "f2.bin")).length).toBe(10_000);
  expect(stderr.trim()).toBe("toLocaleString used: false");
});
