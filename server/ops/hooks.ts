// Event hooks (`--hook EVENT=COMMAND`): a program run with an argv and FTPKIT_* variables (never a
// shell, so a file name cannot inject anything), or a JSON POST to an http(s):// URL.
import type { Logger } from "../log.ts";
import type { HookEvent, HookSpec, OpsOptions } from "./options.ts";
import { compileHooks, type Hook } from "./hook-commands.ts";
import { within } from "../timers.ts";

export { compileHooks, splitWords, urlForLogs } from "./hook-commands.ts";

/** What a hook is told: FTPKIT_<NAME> variables, or the JSON fields of a POST. */
export interface HookFields {
  event: HookEvent;
  user?: string;
  path?: string;
  realPath?: string;
  fromPath?: string;
  fromRealPath?: string;
  bytes?: number;
  sha256?: string;
  clientIp?: string;
  result?: string;
}

/** Secrets the server's environment may hold that its hooks never get (FTPKIT_STATE is taken out of the server's own at start). */
export const HOOK_HIDDEN_ENV = ["S3_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY", "S3_SESSION_TOKEN", "AWS_SESSION_TOKEN", "FTPKIT_PASSWORD", "FTPKIT_STATE"] as const;

const ENV_NAMES: Record<keyof HookFields, string> = {
  event: "FTPKIT_EVENT",
  user: "FTPKIT_USER",
  path: "FTPKIT_PATH",
  realPath: "FTPKIT_REAL_PATH",
  fromPath: "FTPKIT_FROM_PATH",
  fromRealPath: "FTPKIT_FROM_REAL_PATH",
  bytes: "FTPKIT_BYTES",
  sha256: "FTPKIT_SHA256",
  clientIp: "FTPKIT_CLIENT_IP",
  result: "FTPKIT_RESULT",
};

export type HookResult = "ok" | "failed" | "timeout";

/** A run's result; `answered: false` when the hook never gave one (could not start, endpoint unreachable). */
interface RunOutcome {
  result: HookResult;
  detail: string;
  answered?: boolean;
}

interface Job {
  hook: Hook;
  fields: HookFields;
}

/**
 * Runs hooks. Post-event hooks go through bounded queues, one per event, taken in turn with a few
 * running at once, and are never waited on by the FTP side; a full queue drops the event (logged,
 * counted). One queue per event, so a flood of one kind (failed logins anyone can cause, logins of
 * one account) cannot fill the queue that `upload` hooks (a virus scan) wait in and get them
 * dropped. `pre-upload` runs at once and is awaited: anything but success (exit 0, HTTP 2xx)
 * refuses the upload.
 */
export class HookRunner {
  private readonly hooks: Hook[];
  private readonly queues = new Map<HookEvent, Job[]>();
  /** Round robin over the queues: where the next pick starts. */
  private turn = 0;
  private running = 0;
  /** Post-event hooks running, by event (see slotsPerEvent). */
  private readonly runningBy = new Map<HookEvent, number>();
  /**
   * Running hook commands, each the leader of its own process group (see spawn), with what they run
   * for (said when shutdown kills them); `leftover`: the hook exited, these are what it left running.
   */
  private readonly procs = new Map<{ pid: number; kill(signal?: NodeJS.Signals | number): void }, { hook: string; fields: HookFields; leftover: boolean }>();
  private idle: (() => void) | null = null;
  private lastDropLog = -Infinity;
  private closed = false;
  private droppedSinceLog = 0;
  private killedAll = false;

  constructor(
    specs: readonly HookSpec[],
    private readonly opts: Pick<OpsOptions, "hookTimeoutMs" | "hookQueueSize" | "hookConcurrency">,
    private readonly log: Logger,
    private readonly count: (event: HookEvent, result: HookResult | "dropped" | "refused") => unknown,
  ) {
    this.hooks = compileHooks(specs);
    const events = new Set(this.hooks.filter((h) => h.event !== "pre-upload").map((h) => h.event)).size;
    this.slotsPerEvent = events > 1 ? Math.max(1, opts.hookConcurrency - 1) : opts.hookConcurrency;
  }

  has(event: HookEvent): boolean {
    return this.hooks.some((h) => h.event === event);
  }

  get queued(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.length;
    return n;
  }

  /** Queue the post-event hooks for `fields.event`. Never blocks. */
  post(fields: HookFields): void {
    if (this.closed) return;
    for (const hook of this.hooks) {
      if (hook.event !== fields.event) continue;
      let queue = this.queues.get(fields.event);
      if (!queue) this.queues.set(fields.event, (queue = []));
      if (queue.length >= this.opts.hookQueueSize) {
        this.count(fields.event, "dropped");
        this.droppedSinceLog++;
        const now = performance.now();
        if (now - this.lastDropLog >= 1000) {
          this.log.warn("hook queue full: event dropped", { hookEvent: fields.event, dropped: this.droppedSinceLog, queue: this.opts.hookQueueSize });
          this.lastDropLog = now;
          this.droppedSinceLog = 0;
        }
        continue;
      }
      queue.push({ hook, fields });
    }
    this.pump();
  }

  /**
   * Run the pre-upload hooks in order; false as soon as one refuses (or fails, or times out). `gone`:
   * the client has left (its session ended): a hook still running is killed (its process group) or
   * abandoned (a POST), and none is started, so such hooks never outnumber the sessions.
   */
  async allow(fields: HookFields, gone?: AbortSignal): Promise<boolean> {
    for (const hook of this.hooks) {
      if (hook.event !== "pre-upload") continue;
      const { result, detail, answered } = gone?.aborted ? { result: "failed" as const, detail: "the client has gone", answered: true } : await this.run(hook, fields, gone);
      if (result !== "ok") {
        this.count("pre-upload", "refused");
        // Its "no" is the hook's job (info); a hook that cannot run or answer refuses every upload: a warning.
        const fault = result === "timeout" || answered === false;
        this.log[fault ? "warn" : "info"]("upload refused by pre-upload hook", { user: fields.user, path: fields.path, hook: hook.text, result, detail: detail || undefined });
        return false;
      }
    }
    this.count("pre-upload", "ok");
    return true;
  }

  /**
   * Slots one event's hooks may hold at once: all but one when hooks of other events are set, so a
   * kind whose hooks hang (a download hook, a slow alerting webhook for failed logins anyone can
   * cause) never holds every slot: the upload hooks waited a whole --hook-timeout behind them.
   */
  private readonly slotsPerEvent: number;

  private pump(): void {
    while (this.running < this.opts.hookConcurrency) {
      const job = this.next();
      if (!job) return;
      const event = job.fields.event;
      this.running++;
      this.runningBy.set(event, (this.runningBy.get(event) ?? 0) + 1);
      void this.run(job.hook, job.fields).finally(() => {
        this.running--;
        this.runningBy.set(event, this.runningBy.get(event)! - 1);
        if (this.running === 0 && this.queued === 0) this.idle?.();
        this.pump();
      });
    }
  }

  /** The next job, taking the events' queues in turn (an event at its slotsPerEvent waits). */
  private next(): Job | undefined {
    const queues = [...this.queues.entries()];
    const cap = this.slotsPerEvent;
    for (let i = 0; i < queues.length; i++) {
      const at = (this.turn + i) % queues.length;
      const [event, queue] = queues[at]!;
      if ((this.runningBy.get(event) ?? 0) >= cap) continue;
      const job = queue.shift();
      if (job) {
        this.turn = at + 1;
        return job;
      }
    }
    return undefined;
  }

  private async run(hook: Hook, fields: HookFields, gone?: AbortSignal): Promise<RunOutcome> {
    const started = performance.now();
    let out: RunOutcome;
    try {
      out = hook.url ? await this.post1(hook.url, fields, gone) : await this.spawn(hook.argv!, hook.text, fields, gone);
    } catch (err) {
      // The command could not be started (removed, no longer executable since start-up).
      out = { result: "failed", detail: (err as Error).message, answered: false };
    }
    // pre-upload outcomes are counted and logged by allow(): a refusal is its normal job.
    // Killed by kill() (shutdown): said there already, once.
    if (fields.event !== "pre-upload" && !this.killedAll) {
      this.count(fields.event, out.result);
      if (out.result !== "ok") {
        this.log.warn(`hook ${out.result}`, { hookEvent: fields.event, hook: hook.text, path: fields.path, ms: Math.round(performance.now() - started), detail: out.detail || undefined });
      }
    }
    return out;
  }

  private async spawn(argv: string[], text: string, fields: HookFields, gone?: AbortSignal): Promise<{ result: HookResult; detail: string }> {
    const env: Record<string, string> = { ...(process.env as Record<string, string>) };
    // The server's secrets are not the hook's: a third-party scanner read the object store's key.
    for (const secret of HOOK_HIDDEN_ENV) delete env[secret];
    for (const k of Object.keys(ENV_NAMES) as (keyof HookFields)[]) {
      delete env[ENV_NAMES[k]]; // never let the server's own environment pose as an event field
      const v = fields[k];
      if (v !== undefined) env[ENV_NAMES[k]] = String(v);
    }
    // The hook's stdout is dropped; its stderr goes on to the server's stderr (beside, not inside, the
    // log lines), up to HOOK_STDERR_MAX a run. Inherited, it had no bound: `yes >&2` put 1.9 GB in the
    // server's redirected stderr within a 2 s hook timeout. The pipe costs ~0.03 ms of CPU a spawn.
    // Its own process group (setsid), so a timeout ends what it started too: killing only the
    // command left a shell script's children running forever, one per event.
    const started = performance.now();
    const proc = Bun.spawn(argv, { env, stdin: "ignore", stdout: "ignore", stderr: "pipe", detached: true });
    this.procs.set(proc, { hook: text, fields, leftover: false });
    void this.passStderr(proc.stderr, text, fields, started + this.opts.hookTimeoutMs);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(proc);
    }, this.opts.hookTimeoutMs);
    let left = false;
    const leave = () => {
      left = true;
      killGroup(proc);
    };
    gone?.addEventListener("abort", leave, { once: true });
    const code = await proc.exited;
    clearTimeout(timer);
    gone?.removeEventListener("abort", leave);
    // It exited, but left processes in its group (`scan "$f" &` in a script): they are held to the
    // same deadline. Without it each event left one running for ever, past the hook timeout.
    if (!timedOut && !left && groupAlive(proc.pid)) this.reapLeftovers(proc, started + this.opts.hookTimeoutMs, fields);
    else this.procs.delete(proc);
    if (left) return { result: "failed", detail: "killed: the client has gone" };
    if (timedOut) return { result: "timeout", detail: `killed after ${this.opts.hookTimeoutMs} ms` };
    return code === 0 ? { result: "ok", detail: "" } : { result: "failed", detail: proc.signalCode ? `killed by ${proc.signalCode}` : `exit ${code}` };
  }

  private async post1(url: string, fields: HookFields, gone?: AbortSignal): Promise<RunOutcome> {
    try {
      const timeout = AbortSignal.timeout(this.opts.hookTimeoutMs);
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ ...fields, time: new Date().toISOString() }),
        signal: gone ? AbortSignal.any([timeout, gone]) : timeout,
      });
      // The status is the whole answer (any 2xx is success): the body is never used, so it is cancelled
      // unread. Read whole, an endpoint that kept sending (hostile, or a broken proxy) filled memory
      // until the hook timeout: 256 MiB of body raised the server's RSS by 366 MiB in 5 s (loopback).
      await res.body?.cancel().catch(() => {});
      return res.ok ? { result: "ok", detail: "" } : { result: "failed", detail: `HTTP ${res.status}` };
    } catch (err) {
      const e = err as Error;
      if (gone?.aborted) return { result: "failed", detail: "abandoned: the client has gone" };
      if (e.name === "TimeoutError" || e.name === "AbortError") return { result: "timeout", detail: `no answer within ${this.opts.hookTimeoutMs} ms` };
      return { result: "failed", detail: e.message, answered: false };
    }
  }

  /**
   * Copy a hook's stderr to ours, up to HOOK_STDERR_MAX; beyond it the pipe is closed (the hook's next
   * write fails: EPIPE, or SIGPIPE ends it) and the log says so, naming the hook. Closed at `deadline`
   * (the hook timeout) too: by then the hook's process group is gone, and what still holds the pipe
   * left the group (a daemon started with setsid), out of reach of every kill; read on, it kept one
   * descriptor of the server's open per such event for as long as it ran.
   */
  private async passStderr(stream: ReadableStream<Uint8Array>, hook: string, fields: HookFields, deadline: number): Promise<void> {
    const reader = stream.getReader();
    const stop = setTimeout(() => void reader.cancel().catch(() => {}), Math.max(0, deadline - performance.now()));
    (stop as { unref?: () => void }).unref?.();
    let total = 0;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        const room = HOOK_STDERR_MAX - total;
        total += value.length;
        const passed = value.length > room ? value.subarray(0, room) : value;
        process.stderr.write(passed);
        if (total > HOOK_STDERR_MAX) {
          // Cut mid-line, the next line (the log's "hook output cut", with 2>&1) was glued onto it.
          if (passed.length > 0 && passed[passed.length - 1] !== 10) process.stderr.write("\n");
          await reader.cancel().catch(() => {});
          this.log.warn("hook output cut", { hookEvent: fields.event, hook, path: fields.path, reason: `more than ${HOOK_STDERR_MAX} bytes on stderr` });
          return;
        }
      }
    } catch {
      /* the pipe broke: nothing more to pass on */
    } finally {
      clearTimeout(stop);
      reader.releaseLock();
    }
  }

  /**
   * Watch what an exited hook left in its process group until the group is empty or `deadline`
   * passes, then kill it (logged). Polled, not timed once: the group's id is the exited hook's pid,
   * reserved only while the group has a member, so it is never signalled long after it emptied.
   */
  private reapLeftovers(proc: { pid: number; kill(signal?: NodeJS.Signals | number): void }, deadline: number, fields: HookFields): void {
    // Bounded as running hooks are: at 100 uploads/s a script ending in `cmd &` left ~3,000 groups
    // alive within a 30 s timeout. Past LEFTOVER_GROUPS_PER_SLOT per --hook concurrency slot, what
    // an exiting hook leaves is killed at once.
    const watched = [...this.procs.values()].filter((p) => p.leftover).length;
    if (watched >= this.opts.hookConcurrency * LEFTOVER_GROUPS_PER_SLOT) {
      killGroup(proc);
      this.procs.delete(proc);
      this.log.warn("hook left processes running: killed at once", { hookEvent: fields.event, path: fields.path, left_running: watched });
      return;
    }
    const entry = this.procs.get(proc);
    if (entry) entry.leftover = true;
    const poll = setInterval(() => {
      if (!groupAlive(proc.pid)) {
        clearInterval(poll);
        this.procs.delete(proc);
      } else if (performance.now() >= deadline) {
        clearInterval(poll);
        killGroup(proc);
        this.procs.delete(proc);
        this.log.warn("hook left processes running: killed at the hook timeout", { hookEvent: fields.event, path: fields.path, timeoutMs: this.opts.hookTimeoutMs });
      }
    }, LEFTOVER_POLL_MS);
    (poll as { unref?: () => void }).unref?.();
  }

  /** Shutdown: the queue may drain within `graceMs` (the last uploads' hooks still run); then what is left is dropped (logged) and killed. */
  async close(graceMs: number): Promise<void> {
    this.closed = true;
    if (this.running > 0 || this.queued > 0) {
      await within(new Promise<void>((r) => (this.idle = r)), graceMs);
    }
    this.kill();
  }

  /**
   * Stop now: queued hooks are dropped and running ones killed with their process groups, each said
   * in the log (a killed upload scan must not pass unnoticed). Synchronous, for a second Ctrl-C or
   * SIGTERM that exits at once: hooks run in process groups of their own, so no signal to the
   * server's group reaches them, and they would outlive it.
   */
  kill(): void {
    this.closed = true;
    this.killedAll = true;
    const left = this.queued;
    if (left) this.log.warn("hooks not run at shutdown", { count: left });
    this.queues.clear();
    for (const [p, what] of this.procs) {
      killGroup(p);
      const { event, path } = what.fields;
      if (what.leftover) this.log.warn("hook left processes running: killed at shutdown", { hookEvent: event, path });
      else this.log.warn("hook killed at shutdown", { hookEvent: event, hook: what.hook, path });
    }
    this.procs.clear();
  }
}

/** Bytes of a hook run's stderr passed on to the server's stderr; beyond, the hook's pipe is closed. */
export const HOOK_STDERR_MAX = 64 * 1024;

/** Process groups exited hooks may leave running at once, per hook concurrency slot (see reapLeftovers). */
const LEFTOVER_GROUPS_PER_SLOT = 4;
/** How often the process group an exited hook left behind is looked at. */
const LEFTOVER_POLL_MS = 250;

/** Does the process group led by `pid` still have a member? */
function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** SIGKILL a hook command and everything in its process group (the command alone if that fails). */
function killGroup(proc: { pid: number; kill(signal?: NodeJS.Signals | number): void }): void {
  try {
    process.kill(-proc.pid, "SIGKILL");
  } catch {
    proc.kill("SIGKILL");
  }
}
