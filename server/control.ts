import type { Socket, SocketHandler } from "bun";
import { addressKey, canonicalIp } from "../protocol/address.ts";
import { anyContains, type Cidr } from "../protocol/cidr.ts";
import { parseProxyHeader } from "../protocol/proxy.ts";
import { LineSplitter, parseCommandLine, type ParsedLine } from "../protocol/command.ts";
import { replyForError, storageTrouble } from "./commands/errors.ts";
import { tickets, type ConnectionGate } from "./connection-gate.ts";
import type { ServerContext } from "./context.ts";
import { Session, type ControlSocketState } from "./session.ts";
import { releaseMounts } from "./vfs/mounts.ts";
import type { Admission } from "./state/types.ts";

/** Pipelined commands waiting to run: at this many the session stops reading its socket. */
const PAUSE_AT_QUEUED = 64;
/** More than this many from one read (the pause came too late): the client is flooding us. */
const MAX_QUEUED_COMMANDS = 4096;

/**
 * The control connection: CRLF framing with a hard cap (over-long lines are refused without being
 * buffered), one command at a time in order. Only ABOR, STAT, QUIT and (with nothing queued before
 * it) NOOP may run while a data transfer is in progress, and never more than one of each at a time.
 * Input is bounded both ways: the socket stops being read while commands queue up or replies wait
 * unsent (MAX_UNSENT_REPLY_BYTES), and resumes when both have drained.
 */
export class CommandLoop {
  private splitter = new LineSplitter();
  private queue: ParsedLine[] = [];
  private running = false;
  private paused = false;
  /** Verbs running beside a transfer (at most one of each). */
  private jumping = new Set<string>();
  /** The commands run beside the transfer, chained: each starts once the one before it ended. */
  private besideTransfer: Promise<void> = Promise.resolve();

  constructor(private readonly session: Session) {
    session.input = {
      // AUTH TLS: whatever arrived in clear after it must not run inside the protected session.
      discard: () => {
        this.queue = [];
        this.splitter = new LineSplitter();
      },
      resume: () => this.maybeResume(),
    };
  }

  feed(chunk: Uint8Array): void {
    const session = this.session;
    announceSession(session.server, session);
    const { lines } = this.splitter.push(chunk);
    // Only complete commands count as activity: a trickle of bytes does not keep a session alive.
    if (lines.length) session.noteActivity();
    for (const line of lines) {
      // Nothing after QUIT runs (quitting implies it); the QUIT itself, queued, still must: returning
      // here skipped the pump, and "QUIT\r\nNOOP\r\n" in one packet got no 221 and no close.
      if (session.closed || session.quitReceived) break;
      // Parsed once, here: the verb decides whether it may run beside a transfer.
      const parsed: ParsedLine = line === null ? { ok: false, reason: "Command line too long" } : parseCommandLine(line);
      const verb = parsed.ok ? parsed.command.verb : "";
      if (verb === "QUIT") session.quitReceived = true;
      if (this.jumpBesideTransfer(parsed, this.queue.length === 0)) continue;
      if (this.queue.length >= MAX_QUEUED_COMMANDS) {
        session.replyAndClose(421, "Too many pipelined commands");
        return;
      }
      this.queue.push(parsed);
    }
    if (this.queue.length >= PAUSE_AT_QUEUED || session.congested) this.pause();
    void this.pump();
  }

  /**
   * Run `parsed` now beside the running transfer when it may (ABOR, STAT; NOOP and QUIT only with
   * nothing queued before them), at most one of each verb at a time; false when it must wait its turn.
   * Those beside the transfer run one after the other, so their replies keep their order: "ABOR,
   * NOOP" got NOOP's 200 before ABOR's 426 and 226 (vsftpd and ProFTPD answer in order).
   */
  private jumpBesideTransfer(parsed: ParsedLine, nothingBefore: boolean): boolean {
    const session = this.session;
    if (!parsed.ok || !session.transfer) return false;
    const spec = session.server.commandTable().get(parsed.command.verb);
    const jumps = spec?.duringTransfer === true || (spec?.duringTransfer === "in-turn" && nothingBefore);
    if (!jumps || this.jumping.has(spec!.verbs[0]!)) return false;
    const key = spec!.verbs[0]!;
    this.jumping.add(key);
    this.besideTransfer = this.besideTransfer
      .then(() => this.execute(parsed))
      .catch(() => {}) // execute answers its own errors; the chain must not break for the next one
      .finally(() => this.jumping.delete(key));
    return true;
  }

  /**
   * A transfer has just started: the commands queued right behind its command (pipelined with it,
   * or sent before its 150) are judged as if they arrived now, so an ABOR sent with the RETR aborts
   * that RETR instead of waiting for the whole download. Only from the head of the queue: a command
   * waiting behind another keeps its turn (the replies of "RETR, PWD, QUIT" stay in that order).
   */
  private jumpQueuedBesideTransfer(): void {
    let n = 0;
    while (n < this.queue.length && this.jumpBesideTransfer(this.queue[n]!, true)) n++;
    if (n === 0) return;
    this.queue.splice(0, n);
    this.maybeResume();
  }

  private pause(): void {
    if (this.paused || this.session.closed) return;
    this.paused = true;
    this.session.socket.pause();
  }

  private maybeResume(): void {
    if (!this.paused || this.session.closed) return;
    if (this.queue.length >= PAUSE_AT_QUEUED / 2 || this.session.congested) return;
    this.paused = false;
    this.session.socket.resume();
  }

  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      // Shared state: nothing runs before the connection slot is granted (refused: the session closes).
      if (this.session.admission && !(await this.session.admission)) return;
      while (this.queue.length && !this.session.closed && !this.session.quitting) {
        // Commands other than ABOR/STAT/QUIT wait for the running transfer (RFC 959 §5.4), and
        // none runs while the client leaves our replies unread.
        if (this.session.transfer) {
          this.jumpQueuedBesideTransfer();
          await this.session.transfer.done;
        }
        // After the replies of those that ran beside it (ABOR's 226 before the next command's); none
        // running (each link leaves `jumping` last): no wait, not a microtask per command of the loop.
        if (this.jumping.size > 0) await this.besideTransfer;
        await this.session.writable();
        // Either wait can end with the session: a command queued behind a transfer must not run
        // after the teardown (a PASV then opened a listener nothing would ever close).
        if (this.session.closed || this.session.quitting) break;
        const next = this.queue.shift();
        if (!next) break;
        await this.execute(next);
        this.maybeResume();
      }
    } finally {
      this.running = false;
    }
  }

  private async execute(parsed: ParsedLine): Promise<void> {
    const session = this.session;
    if (!parsed.ok) {
      session.reply(parsed.code ?? 500, parsed.reason);
      return;
    }
    const { verb, arg } = parsed.command;
    const spec = session.server.commandTable().get(verb);
    if (!spec) {
      session.reply(500, `Unknown command ${verb.slice(0, 8)}`);
      return;
    }
    if (spec.auth && !session.user) {
      session.reply(530, "Please login with USER and PASS");
      return;
    }
    if (spec.arg === "required" && arg.trim() === "") {
      session.reply(501, `${verb} needs an argument`);
      return;
    }
    // A command at work (a HASH of a big file, a slow store) is not idleness, and the idle time
    // counts from its end, as vsftpd's does from the last reply.
    session.commandsRunning++;
    try {
      await spec.handle({ session, verb, arg });
    } catch (err) {
      const r = replyForError(err);
      if (r.unexpected) session.server.log.error("command failed", { session: session.id, verb, error: String(err) });
      else logStorageTrouble(session, verb, arg, err);
      session.reply(r.code, r.text);
    } finally {
      session.commandsRunning--;
      session.noteActivity();
    }
  }
}

/** A MKD, DELE, RNTO… that failed for a reason on the server's side gets a log line saying which (see storageTrouble). */
function logStorageTrouble(session: Session, verb: string, arg: string, err: unknown): void {
  const error = storageTrouble(err);
  if (error) session.server.log.warn("storage error", { session: session.id, user: session.userName, verb, path: arg, error });
}

export interface ControlState extends ControlSocketState {
  loop: CommandLoop;
  /** Implicit TLS: the connection was admitted at accept, before its handshake (connection-gate.ts). */
  admitted?: import("./connection-gate.ts").Ticket;
  /** After AUTH TLS the original handler still sees the ciphertext: ignore it (BUN-NOTES). */
  ignorePlain?: boolean;
  /** --proxy-protocol: the session starts once the balancer's header has arrived. */
  proxyWait?: ProxyWait;
}

/** How long a balancer may take to send its PROXY header (it sends it at once, with the connect). */
export const PROXY_HEADER_TIMEOUT_MS = 3000;

/** Bytes of a PROXY header received so far (bounded by the parser's caps) and its deadline. */
interface ProxyWait {
  buf: Uint8Array;
  timer: ReturnType<typeof setTimeout>;
}

export interface ControlOptions {
  /** Expect a PROXY header (v1 or v2) first, and only from these addresses. */
  proxyFrom?: readonly Cidr[];
}

const REFUSALS = {
  "server-full": "Too many connections, try again later",
  "ip-full": "Too many connections from your address",
  unavailable: "Service not available (shared state unreachable), try again later",
} as const;

export function controlHandlers(server: ServerContext, gate: ConnectionGate, control: ControlOptions = {}): SocketHandler<ControlState> {
  const { log } = server;
  /**
   * Caps, then the session and its greeting. `remoteIp` is the real client's (after a PROXY header).
   * This process counts its connections in the gate from accept (IPv6 by /64; when full, a
   * connection not logged in may be evicted for this one: connection-gate.ts). With a shared store
   * (Redis, workers) every node's connections are counted there too: the session exists at once (so
   * TLS and the socket have an owner) but says nothing and runs nothing until its slot is granted.
   */
  const startSession = (socket: Socket<ControlState>, remoteIp: string, localIp: string, healthCheck = false, dialedIp = localIp): Session | null => {
    const { options } = server;
    const admitted = (socket.data as ControlState | undefined)?.admitted;
    const refuse = (text: string) => {
      admitted?.release();
      socket.write(`421 ${text}\r\n`);
      socket.end();
      gate.refusals.refused(remoteIp, text);
      return null;
    };
    if (server.shuttingDown) return refuse("Server shutting down");
    const banned = server.events.refusal(remoteIp); // --deny, defender bans: before any password is read
    if (banned) return refuse(banned);
    const ticket = admitted ?? gate.admit(remoteIp, !healthCheck);
    if ("refused" in ticket) return refuse(ticket.refused);
    const shared = server.state.kind !== "local";
    const slotKey = addressKey(remoteIp);
    const limits = { maxConnections: options.maxConnections, maxPerIp: options.maxPerIp };
    // Every slot of the cluster taken: evict one of this node's connections not logged in, as the
    // gate does when this process alone is full (a crowd that never logs in churns itself), and ask again.
    const retry = (a: Admission) => {
      const freed = a === "server-full" && !healthCheck ? gate.evictFor(ticket) : null;
      return freed ? freed.then(() => server.state.openConnection(slotKey, limits)) : a;
    };
    const first = shared ? server.state.openConnection(slotKey, limits) : "ok";
    const admission = typeof first === "string" ? retry(first) : first.then(retry);
    if (typeof admission === "string" && admission !== "ok") {
      ticket.release();
      return refuse(REFUSALS[admission]);
    }
    const session = new Session(server, socket as unknown as Socket<ControlSocketState>, remoteIp, localIp, dialedIp);
    tickets.set(session, ticket);
    ticket.evict = () => {
      announceSession(server, session);
      log.info("connection evicted: not logged in, slots full", { session: session.id, ip: remoteIp });
      // Its shared slot is given back now, before the newcomer asks the store for one.
      let freed: Promise<void> | void = undefined;
      if (session.holdsSlot) {
        session.holdsSlot = false;
        freed = server.state.closeConnection(slotKey);
      }
      session.replyAndClose(421, "Too many connections not logged in; closing the oldest");
      setTimeout(() => session.socket.terminate(), 1000).unref?.();
      return freed;
    };
    socket.data = { session, loop: new CommandLoop(session) };
    server.sessions.add(session);
    // "session start" waits for the client's first byte (announceSession): a health check says nothing.
    const greet = (): Promise<void> | void => {
      server.events.emit({ type: "session-open", session, healthCheck });
      if (!healthCheck) return session.reply(220, options.welcome);
      // A health check gets the greeting a client would (421 when full), once it holds no slot: it
      // never takes a client's place, not even while the store counts its close.
      ticket.release();
      const freed = session.holdsSlot ? server.state.closeConnection(slotKey) : undefined;
      session.holdsSlot = false;
      if (!freed) return session.reply(220, options.welcome);
      return freed.then(() => {
        if (!session.closed) session.reply(220, options.welcome);
      });
    };
    if (admission === "ok") {
      session.holdsSlot = shared;
      greet();
      return session;
    }
    session.admission = admission.then((a) => {
      if (a !== "ok") {
        // Through the refusal log as the other refusals: a balancer's health checks during a store
        // outage (one per second per node) wrote one WARN line each.
        gate.refusals.refused(remoteIp, REFUSALS[a]);
        session.replyAndClose(421, REFUSALS[a]);
        return false;
      }
      if (session.closed) {
        server.state.closeConnection(slotKey);
        return false;
      }
      session.holdsSlot = true;
      const greeted = greet();
      return greeted ? greeted.then(() => true) : true;
    });
    return session;
  };
  const proxyRefuse = (socket: Socket<ControlState>, ip: string, reason: string) => {
    gate.refusals.refused(ip, reason);
    server.events.emit({ type: "connection-refused", reason: "proxy" });
    socket.terminate();
  };
  return {
    open(socket) {
      // Reset in the accept queue before we saw it (no peer address left): nobody to greet.
      if (!socket.remoteAddress) return void socket.terminate();
      const remoteIp = canonicalIp(socket.remoteAddress);
      const localIp = canonicalIp((socket as unknown as { localAddress?: string }).localAddress ?? "127.0.0.1");
      if (!control.proxyFrom) return void startSession(socket, remoteIp, localIp);
      if (!anyContains(control.proxyFrom, remoteIp)) return proxyRefuse(socket, remoteIp, "PROXY header not accepted from this address (--proxy-from)");
      const timer = setTimeout(() => proxyRefuse(socket, remoteIp, "no PROXY header"), PROXY_HEADER_TIMEOUT_MS);
      socket.data = { proxyWait: { buf: new Uint8Array(0), timer } } as ControlState;
    },
    data(socket, chunk) {
      const state = socket.data;
      if (!state || state.ignorePlain) return;
      const wait = state.proxyWait;
      // No loop: refused after its PROXY header (421 sent, closing); ignore what else arrives.
      if (!wait) return state.loop?.feed(chunk);
      const buf = new Uint8Array(wait.buf.length + chunk.length);
      buf.set(wait.buf);
      buf.set(chunk, wait.buf.length);
      wait.buf = buf;
      const parsed = parseProxyHeader(buf);
      if (parsed.status === "incomplete") return;
      clearTimeout(wait.timer);
      state.proxyWait = undefined;
      const peer = canonicalIp(socket.remoteAddress);
      if (parsed.status === "invalid") return proxyRefuse(socket, peer, parsed.reason);
      const { header } = parsed;
      // LOCAL: the balancer's own connection (a health check): it is the client.
      const remoteIp = header.local || !header.source ? peer : canonicalIp(header.source.ip);
      const localIp = canonicalIp((socket as unknown as { localAddress?: string }).localAddress ?? "127.0.0.1");
      // v2 LOCAL is how HAProxy's check-send-proxy marks a check; v1 UNKNOWN may relay a real client.
      const dialedIp = header.local || !header.destination ? localIp : canonicalIp(header.destination.ip);
      const session = startSession(socket, remoteIp, localIp, header.local && header.version === 2, dialedIp);
      if (session && parsed.length < buf.length) socket.data.loop.feed(buf.subarray(parsed.length));
    },
    drain(socket) {
      socket.data?.session?.flush();
    },
    close(socket) {
      if (socket.data?.proxyWait) clearTimeout(socket.data.proxyWait.timer);
      endSession(server, socket.data, gate);
    },
    error(socket) {
      if (socket.data?.proxyWait) clearTimeout(socket.data.proxyWait.timer);
      endSession(server, socket.data, gate);
    },
  };
}

/** Write a session's "session start" line, once: at its first byte, or before a line that names it. */
export function announceSession(server: ServerContext, session: Session): void {
  if (session.announced) return;
  session.announced = true;
  server.log.info("session start", { session: session.id, ip: session.remoteIp });
}

export function endSession(server: ServerContext, state: ControlState | undefined, gate: ConnectionGate): void {
  const session = state?.session;
  if (!session || !server.sessions.has(session)) return;
  // QUIT, then a hang-up before the transfer's reply (RFC 959: QUIT waits for the transfer): the
  // client finished sending, so the transfer completes, and the session ends with it. Until then the
  // session keeps its slot, its mounts and the stall watchdog; a client that died said no QUIT.
  const running = session.transfer;
  if (running && session.quitReceived && !session.closed) {
    if (session.endDeferredTo !== running) {
      session.endDeferredTo = running;
      void running.done.catch(() => {}).then(() => endSession(server, state, gate)); // its outcome is the transfer's to report
    }
    return;
  }
  // An active connect Bun could not cancel still holds a descriptor (data/active.ts): the slot is
  // given back once it settles, so sessions ended and begun again cannot pile them up.
  const ticket = tickets.get(session);
  if (session.activeConnects.busy) void session.activeConnects.whenIdle().then(() => ticket?.release());
  else ticket?.release();
  session.cleanup();
  if (session.user) {
    releaseMounts(session.mounts, server.quotas);
    server.state.userRateShare(session.user.name, false);
    server.userLimits.logout(session.user.name);
  }
  server.sessions.delete(session);
  if (session.holdsSlot) server.state.closeConnection(addressKey(session.remoteIp));
  server.events.emit({ type: "session-close", session });
  // Nothing came from it (a balancer's health check): counted, not two lines each.
  if (!session.announced) return gate.silent.closed(session.remoteIp);
  server.log.info("session end", { session: session.id, user: session.userName, seconds: Math.round((performance.now() - session.startedAt) / 1000) });
}
