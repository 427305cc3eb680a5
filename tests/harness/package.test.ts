// ftpkit as others get it: a packed tarball installed into another project, and the single
// executable from `bun run build` on a PATH without Bun.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO, cleanEnv, removeDir, tempDir } from "../helpers/peers.ts";

let dirs: string[] = [];
/** By its full path: the executable's test runs with a PATH that leaves out most of the system. */
const SETSID = Bun.which("setsid") ?? "/usr/bin/setsid";

/** Processes to kill after each test (a negative number: a whole process group). */
let pids: number[] = [];

afterEach(() => {
  for (const pid of pids.splice(0)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* already gone */
    }
  }
  for (const d of dirs.splice(0)) removeDir(d);
});

function work(prefix: string): string {
  const d = tempDir(prefix);
  dirs.push(d);
  return d;
}

async function run(cmd: string[], opts: { cwd: string; env?: Record<string, string>; timeoutMs?: number }): Promise<{ code: number; out: string }> {
  const proc = Bun.spawn(cmd, { cwd: opts.cwd, env: opts.env ?? { ...cleanEnv(), NO_COLOR: "1" }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill(9), opts.timeoutMs ?? 60_000);
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, out: out + err };
}

/**
 * Start `cmd` (an `ftpkit serve … --port 0`) and read the URL from its first stdout line. In a
 * process group of its own (setsid execs, so the PID stays the command's): `bunx` runs the server
 * as its child, and a failed test's clean-up then kills the whole group, not the wrapper alone.
 */
async function serveUrl(cmd: string[], opts: { cwd: string; env: Record<string, string> }): Promise<{ url: string; proc: ReturnType<typeof Bun.spawn> }> {
  const proc = Bun.spawn([SETSID, ...cmd], { cwd: opts.cwd, env: opts.env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  pids.push(-proc.pid);
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  let text = "";
  const deadline = Date.now() + 20_000;
  while (!text.includes("\n")) {
    const next = await Promise.race([reader.read(), Bun.sleep(Math.max(0, deadline - Date.now())).then(() => null)]);
    if (!next || next.done) throw new Error(`no URL line from ${cmd.join(" ")}: ${await new Response(proc.stderr as ReadableStream).text()}`);
    text += new TextDecoder().decode(next.value);
  }
  reader.releaseLock();
  const url = text.split("\n")[0]!;
  expect(url).toMatch(/^ftp:\/\/127\.0\.0\.1:\d+\/$/);
  return { url, proc };
}

/** What `stream` says until `marker` appears (at most 20 s). */
async function readUntil(stream: ReadableStream<Uint8Array>, marker: string): Promise<string> {
  const reader = stream.getReader();
  let text = "";
  const deadline = Date.now() + 20_000;
  while (!text.includes(marker)) {
    const next = await Promise.race([reader.read(), Bun.sleep(Math.max(0, deadline - Date.now())).then(() => null)]);
    if (!next || next.done) break;
    text += new TextDecoder().decode(next.value);
  }
  reader.releaseLock();
  return text;
}

function site(base: string): string {
  const root = join(base, "site");
  mkdirSync(root);
  writeFileSync(join(root, "hello.txt"), "hello from ftpkit\n");
  return root;
}

describe("packaging", () => {
  test("bun pm pack, then bun add in a temp project: the bin serves and the import works", async () => {
    const base = work("ftpkit-pack-");
    const packed = await run(["bun", "pm", "pack", "--destination", base], { cwd: REPO });
    expect(packed.code).toBe(0);
    const tgz = join(base, `ftpkit-${JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")).version}.tgz`);
    const listing = await run(["tar", "tzf", tgz], { cwd: base });
    expect(listing.out).toContain("package/cli/api.ts");
    expect(listing.out).toContain("package/server/index.ts");
    expect(listing.out).not.toContain("package/tests/");
    expect(listing.out).not.toContain("package/bench/");

    const project = join(base, "project");
    mkdirSync(project);
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "uses-ftpkit", type: "module", private: true }));
    const added = await run(["bun", "add", tgz], { cwd: project, timeoutMs: 90_000 });
    expect(added.code).toBe(0);

    const help = await run(["bunx", "ftpkit", "--help"], { cwd: project });
    expect(help.code).toBe(0);
    expect(help.out).toContain("serve");
    expect(help.out).toContain("test");

    const env = { ...cleanEnv(), NO_COLOR: "1" };
    // The demo (its files are in the package) tells how to run ftpkit here: `bunx ftpkit`, not the
    // checkout's `bun cli/ftpkit.ts`, which names nothing in this project.
    // (NODE_ENV=test, which bun test sets, would keep consola from drawing the box.)
    const demo = Bun.spawn([SETSID, "bunx", "ftpkit", "serve", "--demo", "--port", "0"], { cwd: project, env: { ...env, NODE_ENV: "" }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    pids.push(-demo.pid);
    const box = await readUntil(demo.stdout as ReadableStream<Uint8Array>, "Ctrl-C stops the server");
    expect(box).toMatch(/bunx ftpkit ls ftp:\/\/demo:demo@127\.0\.0\.1:\d+\//);
    expect(box).not.toContain("cli/ftpkit.ts");
    process.kill(-demo.pid, "SIGTERM");
    await demo.exited;

    const root = site(base);
    const { url, proc } = await serveUrl(["bunx", "ftpkit", "serve", "--root", root, "--user", "me:pw", "--port", "0", "--host", "127.0.0.1"], { cwd: project, env });

    writeFileSync(
      join(project, "check.ts"),
      [
        `import { get, startServer, FtpClient, probeServer } from "ftpkit";`,
        `import { readFileSync } from "node:fs";`,
        `const r = await get(${JSON.stringify(url.replace("ftp://", "ftp://me:pw@") + "hello.txt")}, "./copy.txt");`,
        `await using s = await startServer({ users: [{ name: "x", password: "y" }] });`,
        `console.log(JSON.stringify({ text: readFileSync("./copy.txt", "utf8"), size: r.size, own: s.url.startsWith("ftp://127.0.0.1:"), client: typeof FtpClient.connect, probe: typeof probeServer }));`,
      ].join("\n"),
    );
    const checked = await run(["bun", "check.ts"], { cwd: project });
    expect(checked.code).toBe(0);
    expect(JSON.parse(checked.out.trim().split("\n").at(-1)!)).toEqual({ text: "hello from ftpkit\n", size: 18, own: true, client: "function", probe: "function" });

    // A TypeScript project type-checks its use of the API (bun init's tsconfig): our sources come
    // with the package, so the types they import must come with it too. Bun's own types are the
    // project's, taken here from this checkout.
    writeFileSync(
      join(project, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          lib: ["ESNext"], target: "ESNext", module: "Preserve", moduleDetection: "force", types: ["bun"], typeRoots: [join(REPO, "node_modules/@types")],
          moduleResolution: "bundler", allowImportingTsExtensions: true, verbatimModuleSyntax: true, noEmit: true,
          strict: true, skipLibCheck: true, noFallthroughCasesInSwitch: true, noUncheckedIndexedAccess: true, noImplicitOverride: true,
        },
        include: ["check.ts"],
      }),
    );
    const typed = await run([join(REPO, "node_modules/.bin/tsc"), "--noEmit", "-p", project], { cwd: project, timeoutMs: 120_000 });
    expect(typed.out).toBe("");
    expect(typed.code).toBe(0);

    process.kill(proc.pid, "SIGTERM");
    expect(await proc.exited).toBe(0);
  }, 180_000);

  test("bun run build's executable serves --root (with the runtime tuning, and with --workers) and gets a file with no bun on PATH; 20 MiB get and put verify on both hashing threads", async () => {
    const base = work("ftpkit-exe-");
    const exe = join(base, "ftpkit");
    const script: string = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")).scripts.build;
    expect(script).toContain("--compile");
    const built = await run([...script.replace("dist/ftpkit", exe).split(" ")], { cwd: REPO, timeoutMs: 120_000 });
    expect(built.code).toBe(0);

    const emptyPath = join(base, "empty-bin");
    mkdirSync(emptyPath);
    expect(Bun.which("bun", { PATH: emptyPath })).toBeNull();
    const env = { PATH: emptyPath, HOME: base, NO_COLOR: "1" };
    const root = site(base);
    const serveCwd = join(base, "serve-cwd");
    mkdirSync(serveCwd);
    const { url, proc } = await serveUrl([exe, "serve", "--root", root, "--user", "me:pw", "--port", "0", "--host", "127.0.0.1"], { cwd: serveCwd, env });

    const dl = join(base, "dl");
    mkdirSync(dl);
    const got = await run([exe, "get", "--quiet", `${url.replace("ftp://", "ftp://me:pw@")}hello.txt`, join(dl, "hello.txt")], { cwd: dl, env });
    expect(got.out).toBe("");
    expect(got.code).toBe(0);
    expect(readFileSync(join(dl, "hello.txt"), "utf8")).toBe("hello from ftpkit\n");

    // Big enough for the client's hashing thread (≥ 16 MiB) and, after OPTS HASH, the server's: both
    // are extra entrypoints of the executable, which a missing one would fail (or hang) on.
    const big = crypto.getRandomValues(new Uint8Array(1 << 20));
    writeFileSync(join(root, "big.bin"), Buffer.concat(Array.from({ length: 20 }, () => big)));
    const login = url.replace("ftp://", "ftp://me:pw@");
    const bigGet = await run([exe, "get", `${login}big.bin`, join(dl, "big.bin")], { cwd: dl, env, timeoutMs: 30_000 });
    expect(bigGet.code).toBe(0);
    expect(bigGet.out).toContain("verified by HASH");
    expect(readFileSync(join(dl, "big.bin")).equals(readFileSync(join(root, "big.bin")))).toBe(true);
    proc.kill("SIGTERM");
    await proc.exited;
    const rw = await serveUrl([exe, "serve", "--root", root, "--user", "me:pw", "--write", "--port", "0", "--host", "127.0.0.1"], { cwd: serveCwd, env });
    // The executable re-executes itself with the runtime tuning (cli/tuning.ts), as a checkout does.
    expect(readFileSync(`/proc/${rw.proc.pid}/environ`, "utf8").split("\0")).toContain("MIMALLOC_PURGE_DELAY=-1");
    const bigPut = await run([exe, "put", join(dl, "big.bin"), `${rw.url.replace("ftp://", "ftp://me:pw@")}up.bin`], { cwd: dl, env, timeoutMs: 30_000 });
    expect(bigPut.code).toBe(0);
    expect(bigPut.out).toContain("verified by HASH");
    expect(readFileSync(join(root, "up.bin")).equals(readFileSync(join(root, "big.bin")))).toBe(true);

    process.kill(rw.proc.pid, "SIGTERM");
    expect(await rw.proc.exited).toBe(0);

    // --workers: each worker is the executable again. Started with the embedded entry point's
    // "/$bunfs/…" name as an argument, every worker refused it as a command and nothing was served.
    const many = await serveUrl([exe, "serve", "--root", root, "--user", "me:pw", "--workers", "2", "--port", "0", "--host", "127.0.0.1"], { cwd: serveCwd, env });
    const listed = await run([exe, "ls", many.url.replace("ftp://", "ftp://me:pw@")], { cwd: dl, env, timeoutMs: 30_000 });
    expect(listed.code).toBe(0);
    expect(listed.out).toContain("hello.txt");
    process.kill(many.proc.pid, "SIGTERM");
    expect(await many.proc.exited).toBe(0);

    // --demo is the one thing it cannot do (README): one line saying so, and no ./ftpkit-demo left behind.
    const demoCwd = join(base, "demo-cwd");
    mkdirSync(demoCwd);
    const demo = await run([exe, "serve", "--demo", "--port", "0"], { cwd: demoCwd, env });
    expect(demo.code).toBe(1);
    expect(demo.out.trim()).toMatch(/^\[error\] --demo needs the demo files \(fixtures\/homes\) of a checkout or of the installed package, and this ftpkit has none: serve a directory instead \(--root DIR --user NAME:PASS\)$/);
    expect(readdirSync(demoCwd)).toEqual([]);
  }, 180_000);
});
