// ftpkit serve --workers N|auto: N processes share the control port (SO_REUSEPORT), each owning a
// slice of the passive port range, so a data connection always reaches the process whose session
// asked for it. The processes share connection caps, quotas, login back-off, bans, S3 key locks and
// user rates through --state (Redis/Valkey) or the primary's memory store. This file is the primary:
// it spawns, watches and stops the workers.
import { consola } from "consola";
import { availableParallelism } from "node:os";
import type { Socket, Subprocess } from "bun";
import { CliError, UsageError } from "../args.ts";
import { MemoryStore } from "../../server/state/memory-store.ts";
import { newRunTag, nodeIdPrefix, RUN_TAG_ENV } from "../../server/state/node-id.ts";
import { stateUrlForLogs } from "../../server/state/url.ts";
import type { CreateServerOptions } from "../../server/index.ts";
import { DEFAULT_OPTIONS } from "../../server/options.ts";
import { selfCommand } from "../tuning.ts";
import { takeEarlySignals } from "../early-serve-signals.ts";
import { listenPermissionHint } from "../../server/privileged-port.ts";
import { logStream, newLineAfterFailure } from "../../server/log.ts";

/** Set in a worker's environment (its index); the worker then listens with reusePort and reports over IPC. */
export const WORKER_ENV = "FTPKIT_WORKER";
/** Set instead of --state to keep a store password out of `ps` (the primary hands it to workers so). */
export const STATE_ENV = "FTPKIT_STATE";
/**
 * Set (to "stdin") in a worker's environment: its --user and --hook flags and the store's URL come as
 * one JSON object on its standard input. On its command line a password (NAME:PASS, a hook URL's, the
 * store's) showed in `ps` for the milliseconds before the worker starred it (5–8 ms measured); in its
 * environment it stayed in /proc/PID/environ for the worker's life, for any process of the same user
 * (a hook) to read.
 */
export const SECRETS_ENV = "FTPKIT_WORKER_SECRETS";
const SECRET_FLAGS = ["user", "hook"];

/**
 * This worker's secret flags, read from its standard input (none in the primary, or for a lone
 * server); the store's URL is put in $FTPKIT_STATE, where serve reads it (and takes it out again).
 * Called once, by the image that runs the server (after reexecTuned): the input is read only once.
 */
export async function workerSecretArgs(): Promise<string[]> {
  if (process.env[SECRETS_ENV] !== "stdin") return [];
  delete process.env[SECRETS_ENV];
  const secrets = JSON.parse((await Bun.stdin.text()) || "{}") as { args?: unknown; state?: unknown };
  if (typeof secrets.state === "string") process.env[STATE_ENV] = secrets.state;
  return Array.isArray(secrets.args) ? secrets.args.map(String) : [];
}

/** Set when the primary keeps the shared state (no --state): the worker reaches it over IPC. */
export const WORKER_STATE_ENV = "FTPKIT_WORKER_STATE";

/**
 * A worker's exit status for a start-up error that another try cannot mend (a users file, a hook, a
 * certificate, the xferlog, the metrics port): sysexits' EX_CONFIG. While the workers first start,
 * the primary then stops at once (exit 1) instead of restarting them for 30 s; later (a replacement
 * worker) it is retried as a store that is down (exit 1) is.
 */
export const WORKER_CONFIG_EXIT = 78;
/** A worker that exited is started again after this, doubled for each start in a row that failed, up to the max. */
const RESTART_MS = 1000;
const RESTART_MAX_MS = 30_000;

export function workerCount(value: string | undefined): number {
  if (value === undefined) return 1;
  if (value === "auto") return Math.max(1, availableParallelism());
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 64) throw new UsageError(`--workers must be auto or a whole number between 1 and 64, got "${value}"`);
  return Number(value);
}

/** The `--NAME VALUE` / `--NAME=VALUE` flags of the command line, as `--NAME=VALUE`. */
function pickFlag(args: string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === `--${name}` && i + 1 < args.length) out.push(`--${name}=${args[++i]!}`);
    else if (a.startsWith(`--${name}=`)) out.push(a);
  }
  return out;
}

/** The command line without `--NAME VALUE` / `--NAME=VALUE`. */
function stripFlag(args: string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === `--${name}`) {
      i++;
      continue;
    }
    if (a.startsWith(`--${name}=`)) continue;
    out.push(a);
  }
  return out;
}

/** Split [lo, hi] into `n` slices, one per worker (each gets at least one port). */
export function slicePorts(range: readonly [number, number], n: number): Array<[number, number]> {
  const [lo, hi] = range;
  const size = hi - lo + 1;
  if (size < n) throw new UsageError(`--pasv-ports ${lo}-${hi} has ${size} ports for ${n} workers: give each at least one`);
  const per = Math.floor(size / n);
  return Array.from({ length: n }, (_, i) => [lo + i * per, i === n - 1 ? hi : lo + (i + 1) * per - 1] as [number, number]);
}

export async function runWorkers(n: number, rawArgs: string[], options: CreateServerOptions): Promise<void> {
  // Without --state the primary is the store: one process answering one command at a time, like Redis.
  const memory = options.state ? null : new MemoryStore();
  // What the store publishes (a ban) reaches every worker before the script's answer does.
  memory?.subscribe((channel, message) => {
    for (const w of workers) {
      try {
        w?.send({ pub: channel, message });
      } catch {
        /* a worker on its way out: it reloads the bans when it starts again */
      }
    }
  });
  const host = options.host ?? "0.0.0.0";
  // Bind first (reusePort), so --port 0 gives every worker the same port; released once they listen.
  let probe;
  try {
    // reusePort is accepted by Bun.listen (BUN-NOTES) but missing from its listen types.
    // A client that arrives before any worker listens is told so, not dropped without a word.
    const socket = { open: (s: Socket) => void s.end("421 Service starting, try again in a moment\r\n"), data() {} };
    // First without SO_REUSEPORT, which fails while any socket holds the port: another `serve
    // --workers` listens there with SO_REUSEPORT too, and a second one sharing it took half of the
    // new connections with quotas and limits of its own (a double start, a restart whose old server
    // had not stopped), where one process says the port is in use.
    const exclusive = Bun.listen({ hostname: host, port: options.port ?? 2121, socket });
    const chosen = exclusive.port;
    exclusive.stop(true);
    probe = Bun.listen({ hostname: host, port: chosen, socket, ...({ reusePort: true } as object) });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE") throw new CliError(`port ${options.port ?? 2121} is already in use`);
    if (code === "EACCES") throw new CliError(`no permission to listen on port ${options.port ?? 2121}${listenPermissionHint(options.port ?? 2121)}`);
    throw err;
  }
  const port = probe.port;
  let probeOpen = true;
  const releaseProbe = () => {
    if (probeOpen) probe.stop(true);
    probeOpen = false;
  };
  const slices = options.pasvPorts ? slicePorts(options.pasvPorts, n) : null;
  // --state goes to the workers on their standard input (SECRETS_ENV): on their command lines a
  // store password was there for anyone's `ps` to read, once per worker.
  let base = stripFlag(stripFlag(stripFlag(stripFlag(stripFlag(rawArgs, "workers"), "port"), "pasv-ports"), "metrics"), "state");
  // So do --user and --hook (SECRETS_ENV).
  const secret = SECRET_FLAGS.flatMap((name) => pickFlag(base, name));
  for (const name of SECRET_FLAGS) base = stripFlag(base, name);
  base = ["serve", ...base, "--port", String(port)];
  // Each worker counts its own sessions: worker i serves its metrics on the given port + i (one
  // scrape target per worker, as with gunicorn or uWSGI), not all on one port (only one could bind).
  const metrics = options.ops?.metrics;
  if (metrics && metrics.port !== 0 && metrics.port + n - 1 > 65535) throw new UsageError(`--metrics ${metrics.host}:${metrics.port}: worker ${n - 1} would need port ${metrics.port + n - 1}`);
  const metricsFor = (i: number) => (metrics ? ["--metrics", `${metrics.host.includes(":") ? `[${metrics.host}]` : metrics.host}:${metrics.port === 0 ? 0 : metrics.port + i}`] : []);
  const json = options.logFormat === "json";
  // The workers' log lines reach stdout through this process, whole lines at a time: written by
  // each worker to a shared stdout, a batch that a full pipe or journald's socket took only in part
  // had another worker's batch written into the middle of a line (2 of 6,007 JSON lines broken in a
  // 3,000-session burst into a slow pipe). With --port 0 the URL is the first stdout line (README):
  // the workers' start-up lines wait for it.
  const relay = workerOutput(options.port === 0 && !json);
  // Text mode: this process's consola lines on stdout go through the relay too (a line of their own after a cut one).
  if (!json) consola.options.stdout = logStream(relay) as unknown as NodeJS.WriteStream;
  const workers: Array<Subprocess | null> = Array(n).fill(null);
  /** Restarts in a row of each worker that exited before it listened. */
  const failedStarts: number[] = Array(n).fill(0);
  /** Workers that said they listen (their signal handlers are installed). */
  const listening = new WeakSet<Subprocess>();
  /** Workers that said they catch SIGHUP, SIGTERM and SIGINT (early-serve-signals.ts), listening or not. */
  const catching = new WeakSet<Subprocess>();
  let stopping = false;
  let ready = 0;
  let onAllReady!: () => void;
  const allReady = new Promise<void>((r) => (onAllReady = r));

  // In the workers' node ids: this run's dead worker is found by its `host:pid:tag`, never another run's node.
  const runTag = newRunTag();
  // Workers that died within --state-ttl (pid → when), told to each worker that starts listening too:
  // where every worker died at once, none was left to tell the store (with --state: the replacements'
  // sessions waited out --state-ttl for the dead ones' quota leases and slots), nor to abort the dead
  // ones' S3 multipart uploads (either state: they stayed pending until the day-old sweep).
  const recentlyGone = new Map<number, number>();
  const stateTtlMs = options.stateTtlMs ?? 15_000;
  const spawn = (i: number) => {
    const args = [...base, ...(slices ? ["--pasv-ports", `${slices[i]![0]}-${slices[i]![1]}`] : []), ...metricsFor(i)];
    let reported = false;
    const child = Bun.spawn([...selfCommand(), ...args], {
      env: {
        ...process.env,
        [WORKER_ENV]: String(i),
        [RUN_TAG_ENV]: runTag,
        ...(memory ? { [WORKER_STATE_ENV]: "ipc" } : {}),
        [SECRETS_ENV]: "stdin",
      },
      stdin: "pipe",
      stdout: "pipe",
      stderr: "inherit",
      ipc(message, self) {
        const rpc = message as { rpc?: number; command?: string; args?: string[] };
        if (memory && typeof rpc.rpc === "number") {
          try {
            self.send({ rpc: rpc.rpc, ok: memory.exec(rpc.command ?? "", rpc.args ?? []) });
          } catch (err) {
            self.send({ rpc: rpc.rpc, err: (err as Error).message });
          }
          return;
        }
        if ((message as { signalsCaught?: boolean }).signalsCaught) catching.add(self);
        if ((message as { listening?: number }).listening !== undefined && !reported) {
          reported = true;
          listening.add(self);
          catching.add(self);
          for (const [pid, at] of recentlyGone) {
            if (performance.now() - at > stateTtlMs) recentlyGone.delete(pid);
            else {
              try {
                self.send({ workerExited: pid });
              } catch {
                /* gone again: its own exit is handled as any */
              }
            }
          }
          // One worker holds the port now: the probe stops taking the connections it would only refuse.
          releaseProbe();
          if (++ready === n) onAllReady();
        }
      },
    });
    workers[i] = child;
    // Read by the worker once it runs (workerSecretArgs); a worker that dies first only drops them.
    child.stdin.write(JSON.stringify({ args: secret, ...(memory ? {} : { state: options.state }) }));
    void Promise.resolve(child.stdin.end()).catch(() => {});
    // A dead worker's PID given to its replacement: it is alive again, and a worker told of its "death"
    // later (the replay above) would end the new one's slots, leases and uploads (same `host:pid:tag`).
    recentlyGone.delete(child.pid);
    relay.add(child.stdout as ReadableStream<Uint8Array>);
    void child.exited.then((code) => {
      workers[i] = null;
      if (stopping) return;
      // Only while starting: a replacement worker that meets a users file broken since is retried, and
      // the others go on serving with the users they have (README: a corrupt file keeps the previous users).
      if (code === WORKER_CONFIG_EXIT && !reported && ready < n) return void stop("start-up failure", 1);
      // Its quota leases and connection slots end now, not after --state-ttl: it is known dead.
      memory?.nodeGone(nodeIdPrefix(child.pid, runTag));
      recentlyGone.set(child.pid, performance.now());
      // Reaped by now: the others may sweep the temp files it left (a worker sweeps once otherwise).
      for (const w of workers) {
        try {
          w?.send({ workerExited: child.pid });
        } catch {
          /* a worker on its way out */
        }
      }
      // A worker that dies is replaced; its sessions are gone, the others' are untouched. One that
      // dies before it listens (the --state store down) is retried less and less often: at a fixed
      // second, N workers were N new processes a second, each with its error line, for the whole outage.
      failedStarts[i] = reported ? 0 : failedStarts[i]! + 1;
      const delay = Math.min(RESTART_MS * 2 ** Math.max(0, failedStarts[i]! - 1), RESTART_MAX_MS);
      if (json) relay.line(JSON.stringify({ time: new Date().toISOString(), level: "warn", event: "worker exited", worker: i, code, restartInMs: delay }));
      // As the workers' own log lines (consola's warn framed it in blank lines, without a time).
      else relay.line(`${new Date().toISOString()} WARN  worker ${i} exited (${code}); restarting it in ${delay / 1000} s`);
      setTimeout(() => !stopping && spawn(i), delay);
    });
  };
  const timeout = setTimeout(() => {
    if (ready < n) {
      consola.error(`only ${ready} of ${n} workers started`);
      stop("start-up failure", 1);
    }
  }, 30_000);
  const stop = async (signal: string, code = 0) => {
    if (stopping) return process.exit(1);
    stopping = true;
    clearTimeout(timeout);
    releaseProbe();
    // A stop before every worker listened (one killed while starting never will): the lines held for
    // the URL of --port 0 go out now, the stop's own after them, and no URL or listening line follows.
    relay.release();
    // Said here, once, for every worker (they stay silent, as they do for "stopped").
    if (code === 0) {
      const graceSec = options.shutdownGraceSec ?? DEFAULT_OPTIONS.shutdownGraceSec;
      if (json) relay.line(JSON.stringify({ time: new Date().toISOString(), level: "info", event: "stopping", signal, graceSec }));
      else consola.info(`${signal}: stopping (running transfers may finish within ${graceSec} s)`);
    }
    // A listening worker is asked over IPC (see serve.ts: it may have had the signal itself too); one
    // still starting has nothing to finish: SIGTERM ends it (or, held, stops it as soon as it listens).
    for (const w of workers) {
      if (!w) continue;
      try {
        if (!listening.has(w)) throw new Error("still starting");
        w.send({ stop: signal });
      } catch {
        w.kill("SIGTERM");
      }
    }
    await Promise.all(workers.map((w) => w?.exited));
    if (json) relay.line(JSON.stringify({ time: new Date().toISOString(), level: "info", event: "stopped", signal }));
    else consola.info(`${signal}: stopped`); // the last line, as one process's (README)
    process.exit(code);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
  // `kill -HUP <primary>` (systemd's ExecReload, logrotate) reloads every worker. Without a handler
  // Bun's default action ended the primary, and the workers stopped with it: the whole server went down.
  // A worker that has not said it catches signals yet (its first milliseconds) would die of it, and
  // reads everything afresh anyway; one still starting holds it and reloads once it listens.
  process.on("SIGHUP", () => {
    for (const w of workers) if (w && catching.has(w)) w.kill("SIGHUP");
  });
  // Ours are installed: the early handlers (early-serve-signals.ts) step aside. A stop held while this
  // process started ends it before any worker is spawned; a SIGHUP is dropped (no worker has read anything).
  const held = takeEarlySignals().find((s) => s !== "SIGHUP");
  if (held) return void stop(held);
  for (let i = 0; i < n; i++) spawn(i);
  await allReady;
  clearTimeout(timeout);
  if (stopping) return;
  releaseProbe();
  const shown = host.includes(":") ? `[${host}]` : host;
  const detail = slices ? `; passive ports ${slices.map(([a, b]) => `${a}-${b}`).join(", ")}` : "";
  // The PIDs are named here, on the line a script waits for: the workers' own lines share stdout and may come later.
  const pids = workers.map((w) => w?.pid ?? 0);
  if (options.port === 0 && !json) {
    process.stdout.write(`ftp://${host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "[::1]" : shown}:${port}/\n`);
    relay.release();
  }
  if (json) relay.line(JSON.stringify({ time: new Date().toISOString(), level: "info", event: "listening", host, port, workers: n, pids }));
  else consola.success(`ftpkit listening on ftp://${shown}:${port} (${n} workers, pids ${pids.join(" ")}, state ${options.state ? stateUrlForLogs(options.state) : "in the primary process"}${detail})`);
}

/**
 * The workers' stdout, passed on in whole lines (bytes up to a chunk's last newline; a newline byte
 * is never inside a UTF-8 character), held until release() when `hold`; and the primary's own JSON
 * lines (`line`, JSON or consola's text), through the same output: written beside it (console.log), one came glued to the
 * piece of a worker's line that a full disk had cut.
 */
export function workerOutput(hold: boolean, output: { write(bytes: Uint8Array, done?: (err?: Error | null) => void): unknown } = process.stdout): { add(stream: ReadableStream<Uint8Array>): void; release(): void; line(text: string): void } {
  // A write a full disk cut short must not glue its piece to the next line.
  const out = newLineAfterFailure(output);
  let held: Uint8Array[] | null = hold ? [] : null;
  // A standard output that stops taking lines (journald stalled, a pipe's reader stopped) stops the
  // reading of the workers' output until it takes them again: each worker's logger then keeps its
  // own bounded backlog (server/log.ts). Relayed without waiting, every line stayed in this
  // process's memory for as long as the stall lasted.
  const write = (bytes: Uint8Array): void | Promise<void> => {
    if (held) {
      held.push(bytes);
      return;
    }
    let written = false;
    let resume: (() => void) | null = null;
    const done = () => {
      written = true;
      resume?.();
    };
    if (out.write(bytes, done) !== false || written) return;
    return new Promise<void>((r) => (resume = r));
  };
  return {
    add(stream) {
      void (async () => {
        let rest: Uint8Array = new Uint8Array(0);
        for await (const chunk of stream) {
          const end = chunk.lastIndexOf(10) + 1;
          if (end === 0) {
            rest = Buffer.concat([rest, chunk]);
            continue;
          }
          const line = rest.length ? Buffer.concat([rest, chunk.subarray(0, end)]) : chunk.subarray(0, end);
          rest = chunk.slice(end);
          await write(line);
        }
        // A worker that died in the middle of a line: the piece ends there, not inside the next worker's line.
        if (rest.length) await write(Buffer.concat([rest, Buffer.from("\n")]));
      })();
    },
    release() {
      for (const text of held ?? []) out.write(text);
      held = null;
    },
    line(text) {
      void write(Buffer.from(text.endsWith("\n") ? text : `${text}\n`));
    },
  };
}
