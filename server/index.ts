import type { TCPSocketListener } from "bun";
import { Authenticator } from "./auth/authenticator.ts";
import type { OwnFile } from "./auth/served-files.ts";
import { resolve as resolvePath } from "node:path";
import { buildCommandTable, featureLines } from "./commands/index.ts";
import type { CommandSpec } from "./commands/types.ts";
import type { LoginService, ServerContext } from "./context.ts";
import { ConnectionGate } from "./connection-gate.ts";
import { FDS_PER_SESSION, openDescriptors, sessionsWithin } from "./fd-budget.ts";
import { announceSession } from "./control.ts";
import { controlHandlers, type ControlState } from "./control-lifecycle.ts";
import { HashCache } from "./data/hash-cache.ts";
import { RateLimiter } from "./data/rate.ts";
import { UserLimits } from "./user-limits.ts";
import { createLogger, type Logger } from "./log.ts";
import { DEFAULT_OPTIONS, type ServerOptions } from "./options.ts";
import { parseCidrList, type Cidr } from "../protocol/cidr.ts";
import { LocalState } from "./state/local.ts";
import { RedisState, type StoreClient } from "./state/redis.ts";
import type { SharedState } from "./state/types.ts";
import { QuotaRegistry } from "./vfs/quota.ts";
import { mountPlans } from "./vfs/mounts.ts";
import { NameListBudget } from "./storage/name-budget.ts";
import { checkJailSupport, raiseDescriptorLimit } from "./storage/local-jail.ts";
import { TLS_COMMANDS } from "./tls/commands.ts";
import { dataTlsRefusal, FtpsRuntime, loginTlsRefusal, type FtpsOptions } from "./tls/ftps.ts";
import { Operations, type OpsOptions } from "./ops/index.ts";
import { within } from "./timers.ts";

export type { ServerOptions } from "./options.ts";

export interface CreateServerOptions extends Partial<ServerOptions> {
  /** Replace the users-file authenticator (tests, embedding). */
  auth?: LoginService;
  logger?: Logger;
  /** Extra command rows (FTPS adds AUTH/PBSZ/PROT/CCC). */
  extraCommands?: readonly CommandSpec[];
  /** Explicit FTPS (AUTH TLS), and implicit TLS on another port (issue #4). */
  tls?: FtpsOptions;
  /** Metrics endpoint, event hooks, defender settings, xferlog (issue #14); the defender is on by default. */
  ops?: Partial<OpsOptions>;
  /** Reach the shared store another way than redis:// (--workers: the primary's memory store over IPC). */
  stateClient?: () => StoreClient;
}

/** An ftpkit server: `listen()`, then `address`, then `close()`. */
export class FtpServer {
  readonly options: ServerOptions;
  readonly context: ServerContext;
  /** Metrics, hooks, defender, xferlog. */
  readonly ops: Operations;
  private listener: TCPSocketListener<ControlState> | null = null;
  private sweeper: ReturnType<typeof setInterval> | null = null;
  /** Admission of control connections, counted from accept (plain and implicit TLS alike). */
  readonly gate: ConnectionGate;
  private table: Map<string, CommandSpec>;

  /** Parsed --proxy-from (the listener then expects a PROXY header on every connection). */
  private proxyFrom: Cidr[] | undefined;

  constructor(opts: CreateServerOptions = {}) {
    const { auth, logger, extraCommands, tls, ops, stateClient, ...rest } = opts;
    this.options = { ...DEFAULT_OPTIONS, ...rest };
    if (this.options.proxyFrom !== undefined) this.proxyFrom = parseCidrList(this.options.proxyFrom);
    // The balancers are never banned. A client whose header names no address (v1 UNKNOWN, v2 UNSPEC:
    // a balancer listening on a unix socket) counts as the balancer itself, and a password guesser
    // there had the balancer banned: every client refused, its health checks failing. Such a client
    // still meets the per-connection attempt limit and the failed-login back-off.
    const opsOptions = this.proxyFrom ? { ...ops, allow: [...(ops?.allow ?? []), ...this.proxyFrom] } : (ops ?? {});
    this.ops = new Operations(opsOptions, logger ?? createLogger(this.options.logFormat, this.options.quiet));
    const log = this.ops.log;
    this.table = buildCommandTable(tls ? [...TLS_COMMANDS, ...(extraCommands ?? [])] : extraCommands);
    const state: SharedState = this.options.state
      ? new RedisState({ url: this.options.state, client: stateClient, nodeTtlMs: this.options.stateTtlMs, shareRates: this.options.maxUserRate > 0, log: (event, fields) => log.warn(event, fields) })
      : new LocalState();
    const userLimits = new UserLimits(this.options.maxUserRate, this.options.hashBytesPerSec, (user) => state.rateShare(user));
    const table = this.table;
    const options = this.options;
    this.gate = new ConnectionGate(options, log);
    this.context = {
      options,
      proxyFrom: this.proxyFrom,
      auth:
        auth ??
        new Authenticator({
          usersFile: options.usersFile,
          failDelayMs: options.failedLoginDelayMs,
          countFailure: state.noteLoginFailure?.bind(state),
          ownFiles: ownFilesOf(tls, ops?.xferlog),
          tlsAvailable: tls !== undefined,
          // --workers: every worker reads the same file and would say the same lines, once each;
          // worker 0 (or a lone server) says them, at start and at each reload.
          log: options.worker ? () => {} : (msg) => log.warn(msg),
        }),
      quotas: new QuotaRegistry((key, limit, measure) => state.createLedger(key, limit, measure)),
      plans: mountPlans(),
      state,
      log,
      events: this.ops,
      hashCache: new HashCache(),
      sessions: new Set(),
      shuttingDown: false,
      tempDirsMade: new Map(),
      endsAwaitingTransfer: new Set(),
      nameLists: new NameListBudget(options.maxListedNameBytes),
      startedAt: Date.now(),
      userLimits,
      limitersFor(user) {
        const limiters: RateLimiter[] = [];
        if (options.maxRate > 0) limiters.push(new RateLimiter(options.maxRate));
        const shared = userLimits.login(user);
        if (shared) limiters.push(shared);
        return limiters;
      },
      hashLimiter: (user) => userLimits.hash(user),
      featureLines: (session) => featureLines(table, session),
      commandTable: () => table,
      // require_tls in the users file is honoured even without a certificate (such users cannot log in).
      loginTlsRefusal,
      dataTlsRefusal,
    };
    this.ops.attach(this.context, () => this.listener !== null);
    if (tls) {
      const handlers = controlHandlers(this.context, this.gate);
      const { open, ...upgraded } = handlers;
      const ftps = new FtpsRuntime(tls, this.context, upgraded, open!, this.gate);
      this.context.tls = ftps;
      this.context.adoptDataSocket = (session, socket, ip) => ftps.adoptDataSocket(session, socket, ip);
    }
  }

  /** The FTPS runtime when TLS is configured (certificate, counters, implicit port). */
  get ftps(): FtpsRuntime | undefined {
    return this.context.tls instanceof FtpsRuntime ? this.context.tls : undefined;
  }

  /** The open-descriptor limits after start-up raised the soft one to the hard one (null: unknown). */
  descriptorLimit: { soft: number; hard: number } | null = null;


  /** The implicit-TLS (ftps://) port, when --implicit-tls-port was given. */
  implicitTlsPort: number | undefined;

  /** Load users and start accepting connections. Throws (e.g. corrupt users file, port in use) with a clear message. */
  async listen(): Promise<{ host: string; port: number }> {
    checkJailSupport(); // without openat2 the homes cannot be jailed: refuse to start (JailUnavailableError)
    // Every connection holds a descriptor: the soft limit is raised to the hard one (`ftpkit serve` logs it).
    this.descriptorLimit = raiseDescriptorLimit();
    this.ftps?.start(); // a bad certificate is a start-up error (TlsConfigError), not a failure at the first AUTH
    await this.context.auth.start();
    await this.context.state.start();
    const control = controlHandlers(this.context, this.gate, { proxyFrom: this.proxyFrom });
    const events = this.context.events;
    this.listener = Bun.listen<ControlState>({
      hostname: this.options.host,
      port: this.options.port,
      // Accepted by Bun.listen (BUN-NOTES) but missing from its listen types.
      ...({ reusePort: this.options.reusePort === true } as object),
      socket: {
        ...control,
        // Counted here, not in control's open, which implicit-TLS sessions also pass through after their handshake.
        open(socket) {
          events.emit({ type: "connection", listener: "control" });
          return control.open!.call(this, socket);
        },
      },
    });
    const implicitPort = this.ftps?.options.implicitPort;
    if (implicitPort !== undefined) {
      try {
        this.implicitTlsPort = this.ftps!.listenImplicit(this.options.host, implicitPort, this.options.reusePort === true);
      } catch (err) {
        this.listener.stop(true);
        throw err;
      }
    }
    try {
      this.ops.start();
    } catch (err) {
      this.listener.stop(true);
      this.ftps?.stop(true);
      this.listener = null;
      throw err;
    }
    this.fitSessionsToDescriptors();
    const tick = Math.min(1000, Math.max(100, (Math.min(this.options.idleTimeoutSec, this.options.loginTimeoutSec) * 1000) / 4));
    this.sweeper = setInterval(() => this.sweepIdle(), tick);
    return this.address;
  }

  /** Once everything is open: lower the session cap if the open-file limit cannot hold every session's peak. */
  private fitSessionsToDescriptors(): void {
    const soft = this.descriptorLimit?.soft;
    const open = openDescriptors();
    if (soft === undefined || !Number.isFinite(soft) || open === null) return;
    const held = this.ops.descriptorsHeld;
    const fit = sessionsWithin(soft, open, held);
    if (fit >= this.options.maxConnections) return;
    this.gate.capByDescriptors(fit);
    this.context.log.warn("max-connections lowered to fit the open-file limit", {
      max_connections: this.options.maxConnections,
      allowed: fit,
      open_file_limit: soft,
      per_session: FDS_PER_SESSION,
      ...(held > 0 ? { metrics_connections: held } : {}),
      hint: "raise it (ulimit -n, systemd LimitNOFILE=) to allow more",
    });
  }

  get address(): { host: string; port: number } {
    if (!this.listener) throw new Error("server is not listening");
    return { host: this.options.host, port: this.listener.port };
  }

  /**
   * Idle timeout: 421 and close a session that sent no complete command for the limit — but never
   * while it has a transfer or a command at work (counted from the command's end). A transfer whose data connection moved nothing for the stall timeout
   * (not the idle one: the kernel's socket buffers hide progress for seconds on a slow link) has
   * stalled: it is aborted (426); the session then idles like any other. A transfer still waiting
   * for its data connection is bounded by the accept timeout instead. Login deadline: a connection
   * not logged in within --login-timeout of connecting is closed too.
   */
  private sweepIdle(): void {
    const limit = this.options.idleTimeoutSec * 1000;
    const loginLimit = this.options.loginTimeoutSec * 1000;
    // Durations on the monotonic clock: a wall clock stepped forward (NTP, a VM resumed) closed every
    // session and aborted every transfer at once; stepped back, nothing timed out until it caught up.
    const now = performance.now();
    for (const s of this.context.sessions) {
      // Not while PASS opens the home (a store slow to answer, a quota measured by listing a big S3
      // prefix): the client did its part, and "Login timeout" blamed it for the server's wait.
      if (!s.user && !s.closed && s.lastActivity !== Infinity && !s.openingHome && now - s.startedAt > loginLimit) {
        announceSession(this.context, s);
        this.context.log.info("login timeout", { session: s.id, ip: s.remoteIp });
        s.replyAndClose(421, `Login timeout (${this.options.loginTimeoutSec} s): closing control connection`);
        setTimeout(() => s.socket.terminate(), 2000).unref?.();
        s.lastActivity = Infinity; // once
        continue;
      }
      const t = s.transfer;
      if (t) {
        // Once: an aborted transfer may take a while to end (an upload aborting on a slow store).
        const idle = now - t.lastProgress;
        const stallMs = this.options.stallTimeoutMs;
        // Half-way through an idle spell, the kernel's queue for the peer is noted; at its end, a
        // queue that shrank since is a slow reader, not a stall (send-queue.ts).
        if (t.conn && !t.aborted && idle > stallMs / 2 && idle <= stallMs) t.peerReadSince(true);
        if (t.conn && !t.aborted && idle > stallMs && !t.peerReadSince(false)) {
          this.context.log.info("transfer stalled", { session: s.id, user: s.userName });
          t.abort("stalled");
        }
        continue;
      }
      // A command waiting for the client to read its reply (a big STAT) is idle all the same.
      if ((s.commandsRunning === 0 || s.congested) && now - s.lastActivity > limit) {
        announceSession(this.context, s);
        this.context.log.info("idle timeout", { session: s.id, user: s.userName });
        s.replyAndClose(421, `Idle timeout (${this.options.idleTimeoutSec} s): closing control connection`);
        setTimeout(() => s.socket.terminate(), 2000).unref?.();
        s.lastActivity = Infinity; // once
      }
    }
  }

  /**
   * SIGHUP: read the users file and the certificate again and reopen the xferlog, without touching
   * running sessions (they keep their login and TLS state); banners are set by the caller beforehand
   * (options.welcome/goodbye). Bans are not part of the users file and stay in force.
   */
  async reload(): Promise<ReloadReport> {
    const users = await this.context.auth.reload?.();
    const report: ReloadReport = users ? { users: users.users, usersOk: users.ok } : {};
    const store = this.ftps?.store;
    if (store) {
      report.certificateOk = store.check(true) || store.lastError === "";
      report.certificate = store.current.fingerprint;
    }
    this.ops.reload();
    this.context.log.info("reloaded", { users: report.users, usersOk: report.usersOk, certificate: report.certificate, certificateOk: report.certificateOk });
    return report;
  }

  /**
   * Graceful shutdown: stop accepting; idle sessions get 421 now; running transfers may finish
   * within `graceMs`; whatever is left is then closed.
   */
  async close(graceMs = this.options.shutdownGraceSec * 1000): Promise<void> {
    const ctx = this.context;
    ctx.shuttingDown = true;
    this.listener?.stop();
    this.ftps?.stop();
    if (this.sweeper) clearInterval(this.sweeper);
    const deadline = performance.now() + graceMs;
    for (;;) {
      for (const s of ctx.sessions) {
        if (!s.transfer && !s.closed) s.replyAndClose(421, "Server shutting down");
      }
      const busy = [...ctx.sessions].filter((s) => s.transfer);
      if (!busy.length || performance.now() >= deadline) break;
      await within(Promise.all(busy.map((s) => s.transfer?.done)), Math.max(0, deadline - performance.now()));
    }
    // Transfers still running are aborted, and their uploads end (temp files removed) before we go.
    const left = [...ctx.sessions].flatMap((s) => (s.transfer ? [s.transfer] : []));
    for (const t of left) t.abort("shutdown");
    await within(Promise.all(left.map((t) => t.done)), 2000);
    // The 421s a moment to leave before the sockets are cut; with no session left, nothing to wait
    // for (a test suite's throwaway servers paid these 50 ms at every close).
    if (ctx.sessions.size > 0) await Bun.sleep(50);
    for (const s of ctx.sessions) {
      s.cleanup();
      s.socket.terminate();
    }
    // Its uploads have ended: a temp directory it made in a caller's root (startServer) goes if empty.
    for (const remove of ctx.tempDirsMade.values()) remove();
    ctx.tempDirsMade.clear();
    this.listener?.stop(true);
    this.ftps?.stop(true);
    await this.ops.close(Math.max(graceMs, 5000));
    ctx.auth.close();
    ctx.quotas.close();
    ctx.plans.clear();
    await ctx.state.close();
    this.gate.refusals.close();
    this.gate.silent.close();
    for (const say of [...ctx.endsAwaitingTransfer]) say();
    ctx.log.flush?.();
  }
}

/** What a reload (SIGHUP) did. */
export interface ReloadReport {
  /** Users loaded (absent for accounts that do not come from a users file, e.g. serve --root). */
  users?: number;
  usersOk?: boolean;
  certificate?: string;
  certificateOk?: boolean;
}

export function createServer(opts: CreateServerOptions = {}): FtpServer {
  return new FtpServer(opts);
}

/** The TLS key and the xferlog: a home or mount holding one is warned about at each users-file load. */
function ownFilesOf(tls: FtpsOptions | undefined, xferlog: string | undefined): OwnFile[] {
  const files: OwnFile[] = [];
  if (tls) files.push({ path: resolvePath(tls.keyFile), what: `the TLS private key ${resolvePath(tls.keyFile)}`, risk: "download it and pose as this server" });
  if (xferlog) files.push({ path: resolvePath(xferlog), what: `the xferlog ${resolvePath(xferlog)}`, risk: "read every account's transfers" });
  return files;
}
