// Operations: turns the core's events into metrics, hook runs, bans and xferlog lines.
import { banKey, canonicalBanKey } from "../../protocol/cidr.ts";
import type { ServerContext } from "../context.ts";
import type { Logger, LogFields } from "../log.ts";
import type { Session } from "../session.ts";
import { storageAt } from "../vfs/mounts.ts";
import { resolvePath, type Resolved } from "../vfs/resolve.ts";
import type { SharedBan } from "../state/types.ts";
import { Defender, type Ban } from "./defender.ts";
import { GuessGate } from "./guess-gate.ts";
import type { OpsEvent, ServerEvents } from "./events.ts";
import { HookRunner, type HookFields } from "./hooks.ts";
import { Metrics, serveMetrics, type ReadyCheck } from "./metrics.ts";
import { METRICS_MAX_CONNECTIONS, type MetricsListener } from "./metrics-http.ts";
import { DEFAULT_OPS, type HookEvent, type OpsOptions } from "./options.ts";
import { XferLog } from "./xferlog.ts";

export { DEFAULT_OPS, HOOK_EVENTS, type OpsOptions } from "./options.ts";

/** A bad operations setting (hook command not found, xferlog not writable, metrics port in use): one clear line. */
export class OpsConfigError extends Error {
  override name = "OpsConfigError";
}

const FILE_VERBS: Record<string, { direction: "i" | "o"; hook: HookEvent }> = {
  RETR: { direction: "o", hook: "download" },
  STOR: { direction: "i", hook: "upload" },
  APPE: { direction: "i", hook: "upload" },
  // An upload under a name the server chose: without it STOU files had no xferlog line and, worse,
  // never reached the upload hook (a virus scan), which STOR's do.
  STOU: { direction: "i", hook: "upload" },
};
/** Homes and mounts /readyz checks at most (a stat each). */
const READY_STORAGE_CHECKS = 8;
/** How long a place's storage check answers /readyz probes that come after it. */
const READY_CHECK_REUSE_MS = 1000;

export class Operations implements ServerEvents {
  readonly options: OpsOptions;
  readonly log: Logger;
  readonly defender: Defender;
  readonly metrics: Metrics | null;
  readonly hooks: HookRunner | null;
  readonly xferlog: XferLog | null;
  private http: MetricsListener | null = null;
  private ctx: ServerContext | null = null;
  private accepting: () => boolean = () => false;

  constructor(options: Partial<OpsOptions>, baseLog: Logger) {
    this.options = { ...DEFAULT_OPS, ...options };
    const o = this.options;
    this.defender = new Defender(o);
    this.metrics = o.metrics ? new Metrics(() => this.context, { activeBans: () => this.defender.active(), hookQueue: () => this.hooks?.queued ?? 0 }) : null;
    this.log = this.metrics ? countingLogger(baseLog, this.metrics) : baseLog;
    try {
      this.hooks = o.hooks.length ? new HookRunner(o.hooks, o, this.log, (event, result) =>
            result === "dropped" ? this.metrics?.hookDrops.inc() : this.metrics?.hooks.inc([event, result])) : null;
      // The configured hooks' series from the start, at 0 (see Metrics: a first failure is then seen by rate()).
      for (const event of new Set(o.hooks.map((h) => h.event))) {
        for (const result of event === "pre-upload" ? ["ok", "refused"] : ["ok", "failed", "timeout"]) this.metrics?.hooks.inc([event, result], 0);
      }
      this.xferlog = o.xferlog
        ? new XferLog(
            o.xferlog,
            (msg) => this.log.error("xferlog write failed", { reason: msg }),
            (f) => this.log.info("xferlog written again", f),
          )
        : null;
    } catch (err) {
      throw new OpsConfigError((err as Error).message);
    }
  }

  private get context(): ServerContext {
    if (!this.ctx) throw new Error("operations not attached to a server");
    return this.ctx;
  }

  /** Called once the server context exists; `accepting` tells /readyz whether the listener is up. */
  attach(ctx: ServerContext, accepting: () => boolean): void {
    this.ctx = ctx;
    this.accepting = accepting;
    // Bans taken by any process sharing the state are kept here too, fed by the store: connects ask no one.
    if (this.defender.enabled) ctx.state.watchBans?.((ban) => this.sharedBan(ban), () => this.defender.inForce());
  }

  /** Start the metrics listener (when --metrics was given). */
  start(): void {
    const m = this.options.metrics;
    if (!m || !this.metrics || this.http) return;
    try {
      this.http = serveMetrics(m.host, m.port, this.metrics, () => this.readiness());
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new OpsConfigError(`--metrics ${m.host}:${m.port}: ${code === "EADDRINUSE" ? "address already in use" : (err as Error).message}`);
    }
  }

  /**
   * Descriptors the metrics endpoint may hold at once, at its cap: the session budget leaves them
   * free, so a scraper holding every one of them cannot take what admitted sessions need.
   */
  get descriptorsHeld(): number {
    return this.http ? METRICS_MAX_CONNECTIONS : 0;
  }

  /** The metrics listener's port (tests, logs). */
  get metricsPort(): number | undefined {
    return this.http?.port;
  }

  emit(e: OpsEvent): void {
    try {
      this.metrics?.observe(e);
      switch (e.type) {
        case "login":
          this.hook({ event: "login", ...this.who(e.session), result: "ok" });
          break;
        case "login-failed":
          this.hook({ event: "login-failed", user: e.user, clientIp: e.session.remoteIp, result: "failed" });
          break;
        case "transfer": {
          const file = FILE_VERBS[e.verb];
          if (!file) break;
          const s = e.session;
          this.xferlog?.write({
            end: new Date(),
            ms: e.ms,
            remoteHost: s.remoteIp,
            bytes: e.stored ?? e.bytes,
            path: e.vpath,
            type: s.type,
            direction: file.direction,
            anonymous: s.userName === "anonymous",
            // wu-ftpd and vsftpd: an anonymous transfer is logged under the ident its password gave.
            user: (s.userName === "anonymous" ? s.anonymousIdent : s.userName) ?? "*",
            complete: e.result === "ok",
          });
          if (this.hooks?.has(file.hook)) {
            this.hooks.post({ event: file.hook, ...this.who(s), ...this.where(s, e.vpath), bytes: e.stored ?? e.bytes, sha256: e.sha256, result: e.result });
          }
          break;
        }
        case "delete":
          this.hook({ event: "delete", ...this.who(e.session), ...this.where(e.session, e.vpath), bytes: e.bytes, result: "ok" });
          break;
        case "rename":
          if (this.hooks?.has("rename")) {
            const from = this.where(e.session, e.from);
            this.hooks.post({ event: "rename", ...this.who(e.session), ...this.where(e.session, e.vpath), fromPath: from.path, fromRealPath: from.realPath, result: "ok" });
          }
          break;
        case "mkdir":
        case "rmdir":
          this.hook({ event: e.type, ...this.who(e.session), ...this.where(e.session, e.vpath), result: "ok" });
          break;
      }
    } catch (err) {
      this.log.error("operations event failed", { serverEvent: e.type, error: String(err) });
    }
  }

  async allowUpload(session: Session, target: Resolved): Promise<boolean> {
    if (!this.hooks?.has("pre-upload")) return true;
    // Ended with the session: a client that sends STOR and hangs up, again and again, kept one hook
    // process each for the hook timeout, past every connection limit (600 in 2 s, measured).
    return this.hooks.allow({ event: "pre-upload", ...this.who(session), path: target.vpath, realPath: joinReal(target.mount.location, target.key) }, session.gone);
  }

  actsOnUploads(): boolean {
    return this.hooks?.has("upload") ?? false;
  }

  private readonly guesses = new GuessGate();

  guessTurn(session: Session): Promise<() => void> {
    const ip = session.remoteIp;
    return this.guesses.turn(ip, () => this.defender.failuresLeft(ip), session.gone);
  }

  banned(ip: string): boolean {
    return this.defender.refusal(ip) === "banned";
  }

  refusal(ip: string): string | null {
    const why = this.defender.refusal(ip);
    if (!why) return null;
    this.metrics?.refused.inc([why]);
    return why === "denied" ? "Connections from your address are not accepted" : "Too many failed logins from your address: try again later";
  }

  /**
   * A failed login counts toward a ban. With shared state (--workers, --state) the store counts every
   * process's failures and takes the ban, announced to all of them before this resolves (the 530
   * waits for it, so the next guess meets the ban wherever it lands); if the store cannot be reached,
   * this process bans on its own count within --ban-window.
   */
  async failedLogin(session: Session): Promise<void> {
    const ip = session.remoteIp;
    if (!this.defender.enabled || this.defender.exempt(ip)) return;
    // Its own 530 goes out first, even when the store's announcement of the ban is heard before its answer.
    this.judging.add(session);
    try {
      await this.countFailure(session);
    } finally {
      this.judging.delete(session);
      if (this.defender.refusal(ip) === "banned") this.closeAtPrompt(banKey(ip));
    }
  }

  /** Sessions whose failed login is being counted (their 530 is not sent yet). */
  private readonly judging = new WeakSet<Session>();

  private async countFailure(session: Session): Promise<void> {
    const ip = session.remoteIp;
    const state = this.ctx?.state;
    let ban: Ban | null = null;
    if (state?.banFailure) {
      const o = this.options;
      try {
        const v = await state.banFailure(banKey(ip), { banAfter: o.banAfter, windowMs: o.banWindowMs, banMs: o.banTimeMs, maxMs: o.banMaxMs });
        if (v.outcome === "counted") return this.defender.counted(ip, v.failures);
        // Already banned (this session was at the prompt before it began): in force here too, if not yet.
        if (v.outcome === "already") return void this.defender.impose(v.key, v.ms, v.repeat);
        this.defender.impose(v.key, v.ms, v.repeat);
        ban = { key: v.key, ms: v.ms, failures: v.failures, repeat: v.repeat };
      } catch {
        ban = this.defender.failed(ip);
      }
    } else {
      ban = this.defender.failed(ip);
    }
    if (!ban) return;
    this.metrics?.bans.inc();
    this.log.warn("ban", { ip: ban.key, seconds: Math.round(ban.ms / 1000), failures: ban.failures, repeat: ban.repeat });
  }

  /** A ban the shared store announced (taken here or by another process), or one in force at start. */
  private sharedBan(ban: SharedBan): void {
    if (this.defender.impose(ban.key, ban.ms, ban.repeat)) this.closeAtPrompt(canonicalBanKey(ban.key));
  }

  /** Sessions from a banned address still at the password prompt go too (after the 530 now being sent). */
  private closeAtPrompt(key: string): void {
    setTimeout(() => {
      for (const s of this.context.sessions) {
        if (!s.user && !s.closed && !this.judging.has(s) && banKey(s.remoteIp) === key && !this.defender.exempt(s.remoteIp)) {
          s.replyAndClose(421, "Too many failed logins from your address: try again later");
        }
      }
    }, 0);
  }

  private hook(fields: HookFields): void {
    if (this.hooks?.has(fields.event)) this.hooks.post(fields);
  }

  private who(s: Session): Pick<HookFields, "user" | "clientIp"> {
    return { user: s.userName, clientIp: s.remoteIp };
  }

  private where(s: Session, vpath: string): Pick<HookFields, "path" | "realPath"> {
    let realPath: string | undefined;
    try {
      const r = resolvePath(s.mounts, "/", vpath);
      realPath = joinReal(r.mount.location, r.key);
    } catch {
      /* not inside any mount: no real path */
    }
    return { path: vpath, realPath };
  }

  /** /readyz: accepting connections, users file loaded, storage reachable (a few homes stat'ed). */
  async readiness(): Promise<ReadyCheck[]> {
    const ctx = this.context;
    const checks: ReadyCheck[] = [{ name: "accepting", ok: this.accepting() && !ctx.shuttingDown }];
    const health = ctx.auth.health?.();
    // A file broken or gone since the last good load: still ready (those users log in), but said, as the log said it once.
    const users = (h: NonNullable<typeof health>) =>
      !h.loaded ? "users file not loaded" : h.stale ? `${h.users} users of the last good users file: the file on disk is broken or gone (see the log)` : `${h.users} users`;
    checks.push(health ? { name: "users", ok: health.loaded, detail: users(health) } : { name: "users", ok: true });
    // A node cut off from the shared store (--state, --workers) refuses every newcomer with 421: not ready.
    if (ctx.state.reachable) {
      const ok = ctx.state.reachable();
      checks.push({ name: "state", ok, detail: ok ? "shared state reachable" : "shared state unreachable: new connections get 421" });
    }
    const dirs = new Set<string>();
    for (const s of ctx.sessions) for (const m of s.mounts) if (dirs.size < READY_STORAGE_CHECKS) dirs.add(m.location);
    for (const d of health?.homes ?? []) if (dirs.size < READY_STORAGE_CHECKS) dirs.add(d);
    let failed = 0;
    await Promise.all(
      [...dirs].map(async (d) => {
        const ok = await Promise.race([this.checkPlace(d), Bun.sleep(2000).then(() => false)]);
        if (!ok) failed++;
      }),
    );
    // Most of them, not all: one home missing from the users file (a typo every node shares) made every
    // node unready at the balancer, a whole outage for one user's problem. Half or more down is the
    // node's storage (a mount gone, the object store unreachable).
    checks.push({ name: "storage", ok: failed * 2 < dirs.size || dirs.size === 0, detail: `${dirs.size - failed}/${dirs.size} homes reachable` });
    return checks;
  }

  /** Storage checks of /readyz by place: the one running, or the last for READY_CHECK_REUSE_MS. */
  private readonly placeChecks = new Map<string, { started: number; done: boolean; ok: Promise<boolean> }>();

  /**
   * Is this home or mount reachable? Probes share a check: each /readyz listed every place again
   * (an object store: one LIST each), so a probe in a loop or 32 at once cost the store 8 requests a
   * probe, and a hung mount one more stuck stat a probe. Now a place has one check running at most
   * (a stuck one is waited on, not repeated) and its answer serves for a second.
   */
  private checkPlace(place: string): Promise<boolean> {
    const now = performance.now();
    const last = this.placeChecks.get(place);
    if (last && (!last.done || now - last.started < READY_CHECK_REUSE_MS)) return last.ok;
    if (this.placeChecks.size >= 64) {
      for (const [p, c] of this.placeChecks) if (c.done && now - c.started >= READY_CHECK_REUSE_MS) this.placeChecks.delete(p);
    }
    // s3:// homes are checked on their object store (a listing), others on disk.
    const check = { started: now, done: false, ok: storageAt(place, { s3Endpoint: this.context.options.s3Endpoint }).stat("").then((st) => st.type === "dir", () => false) };
    void check.ok.then(() => (check.done = true));
    this.placeChecks.set(place, check);
    return check.ok;
  }

  /** SIGHUP: reopen the xferlog (log rotation). */
  reload(): void {
    try {
      this.xferlog?.reopen();
    } catch (err) {
      this.log.error("xferlog not reopened", { reason: (err as Error).message });
    }
  }

  async close(graceMs: number): Promise<void> {
    this.http?.stop();
    this.http = null;
    await this.hooks?.close(Math.min(graceMs, this.options.hookTimeoutMs));
    this.xferlog?.close();
  }
}

function joinReal(location: string, key: string): string {
  return key === "" ? location : `${location.replace(/\/+$/, "")}/${key}`;
}

/** The server's logger, with every error-level event counted by kind for ftpkit_errors_total. */
function countingLogger(log: Logger, metrics: Metrics): Logger {
  return {
    info: (e, f) => log.info(e, f),
    warn: (e, f) => log.warn(e, f),
    error: (e: string, f?: LogFields) => {
      metrics.errors.inc([e]);
      log.error(e, f);
    },
    flush: () => log.flush?.(),
    ...(log.line ? { line: (text: string) => log.line!(text) } : {}),
  };
}
