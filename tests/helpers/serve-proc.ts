// Spawn `bun cli/ftpkit.ts serve …` as a real process, read its address, kill it by PID.
import { afterEach } from "bun:test";
import type { Subprocess } from "bun";
import { rmSync } from "node:fs";
import { cleanEnv, FTPKIT } from "./peers.ts";

export interface ServeProcess {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  port: number;
  /** Everything written to stdout / stderr so far. */
  stdout(): string;
  stderr(): string;
  /** Kill by PID (SIGKILL unless told) and wait for the exit code. */
  kill(signal?: NodeJS.Signals | number): Promise<number>;
}

/**
 * The environment for a spawned server: without NODE_ENV=test / TEST (inherited from bun test),
 * which make consola drop info lines such as "listening on".
 */
export function serveEnv(): Record<string, string> {
  const env = cleanEnv();
  delete env.NODE_ENV;
  delete env.TEST;
  return { ...env, NO_COLOR: "1" };
}

/**
 * What a test starts by hand (a temp directory, a server from spawnServe or by its PID, control
 * connections), ended after each test: connections closed, the server killed, the directory removed.
 */
export function cleanedAfterEach(): { dir: string; pid: number; srv: ServeProcess | null; wires: { close(): void }[] } {
  const t = { dir: "", pid: 0, srv: null as ServeProcess | null, wires: [] as { close(): void }[] };
  afterEach(async () => {
    for (const w of t.wires.splice(0)) w.close();
    await t.srv?.kill();
    t.srv = null;
    if (t.pid) {
      try {
        process.kill(t.pid, "SIGKILL");
      } catch {}
    }
    t.pid = 0;
    if (t.dir) rmSync(t.dir, { recursive: true, force: true });
    t.dir = "";
  });
  return t;
}

/** Collect a stream into a growing string without blocking. */
export function collect(stream: ReadableStream<Uint8Array>, sink: { text: string }): Promise<void> {
  return (async () => {
    const dec = new TextDecoder();
    for await (const chunk of stream) sink.text += dec.decode(chunk, { stream: true });
  })();
}

/** The text "listening" line's port: after a host name, an IPv4 address or a bracketed IPv6 one (`ftp://[::1]:2121`). */
const LISTENING = /listening on ftp:\/\/(?:\[[^\]\s]+\]|[^\s:\/]+):(\d+)/;

/**
 * Start `ftpkit serve ARGS --port 0` on 127.0.0.1 (or the `--host` in ARGS) and wait for its "listening" line (text, or the
 * JSON `listening` event under --log-format json), and for `alsoWaitFor` (a later line, such as
 * the implicit-FTPS listener's). Throws with stderr if it exits first. `bunArgs` go to bun itself
 * (`--preload FILE` injects a fault).
 * `fdLimit` starts it under that open-file limit (soft and hard), `fileSizeLimit` under that file size limit (bytes); `hostname` under that host name
 * (a UTS namespace of its own: needs unshare(1) and the right to use it). `uid`: run as that user (and
 * its own group, no others) when the tests run as root, so the kernel's permission checks apply to it.
 */
export async function spawnServe(
  args: string[],
  opts: { cwd: string; timeoutMs?: number; fdLimit?: number; fileSizeLimit?: number; hostname?: string; alsoWaitFor?: RegExp; bunArgs?: string[]; env?: Record<string, string>; uid?: number },
): Promise<ServeProcess> {
  const cmd = ["bun", ...(opts.bunArgs ?? []), FTPKIT, "serve", "--host", "127.0.0.1", "--port", "0", ...args];
  // `exec` keeps the PID (unshare without --fork execs too, and so does setpriv): kill() still reaches the server itself.
  const setup = [
    ...(opts.fdLimit === undefined ? [] : [`ulimit -n ${opts.fdLimit}`]),
    // A host name of its own (a UTS namespace): the machine's stays as it is.
    ...(opts.hostname === undefined ? [] : [`hostname ${opts.hostname}`]),
  ];
  const shell = setup.length ? ["sh", "-c", `${setup.join(" && ")} && exec "$0" "$@"`, ...cmd] : cmd;
  const limited = opts.hostname === undefined ? shell : ["unshare", "--uts", ...shell];
  // prlimit execs too. Bun ignores SIGXFSZ: a write past the limit fails with EFBIG, the process lives.
  if (opts.fileSizeLimit !== undefined) limited.unshift("prlimit", `--fsize=${opts.fileSizeLimit}`);
  if (opts.uid !== undefined && process.getuid?.() === 0) limited.unshift("setpriv", `--reuid=${opts.uid}`, `--regid=${opts.uid}`, "--clear-groups");
  const proc = Bun.spawn(limited, {
    cwd: opts.cwd,
    env: { ...serveEnv(), ...opts.env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const out = { text: "" };
  const err = { text: "" };
  void collect(proc.stdout, out);
  void collect(proc.stderr, err);
  const kill = async (signal: NodeJS.Signals | number = "SIGKILL") => {
    try {
      process.kill(proc.pid, signal);
    } catch {
      /* already gone */
    }
    return proc.exited;
  };
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  let port = 0;
  while (!port) {
    const m = LISTENING.exec(out.text + err.text) ?? /"event":"listening"[^\n]*"port":(\d+)/.exec(out.text);
    if (m && (!opts.alsoWaitFor || opts.alsoWaitFor.test(out.text + err.text))) port = Number(m[1]);
    else if (proc.exitCode !== null) throw new Error(`ftpkit serve exited ${proc.exitCode}: ${err.text}${out.text}`);
    else if (Date.now() > deadline) {
      await kill();
      throw new Error(`ftpkit serve did not start: ${err.text}${out.text}`);
    } else await Bun.sleep(20);
  }
  return { proc, port, stdout: () => out.text, stderr: () => err.text, kill };
}
