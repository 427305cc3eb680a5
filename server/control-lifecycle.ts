// A control connection from accept to close: the handlers of the control listener's sockets. At
// accept, the caps and bans (connection-gate.ts, --deny, the defender), the PROXY header when
// --proxy-from expects one and a slot in the shared store come before the session and its greeting;
// at close, the ticket, the slot, the mounts and the user's limits are given back. Apart from
// control.ts, whose CommandLoop runs a session's commands once the session exists.
import type { Socket, SocketHandler } from "bun";
import { addressKey, canonicalIp } from "../protocol/address.ts";
import { anyContains, type Cidr } from "../protocol/cidr.ts";
import { parseProxyHeader } from "../protocol/proxy.ts";
import { tickets, type ConnectionGate } from "./connection-gate.ts";
import type { ServerContext } from "./context.ts";
import { announceSession, CommandLoop } from "./control.ts";
import { Session, type ControlSocketState } from "./session.ts";
import { releaseMounts } from "./vfs/mounts.ts";
import type { Admission } from "./state/types.ts";

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
    // A crowd spread over the nodes is weighed by its cluster-wide counts: one more round trip, on this path only.
    const retry = (a: Admission): Admission | Promise<Admission> => {
      if (a !== "server-full" || healthCheck) return a;
      const again = (freed: Promise<void> | null) => (freed ? freed.then(() => server.state.openConnection(slotKey, limits)) : a);
      const { state } = server;
      if (!state.connectionCounts) return again(gate.evictFor(ticket));
      const keys = gate.evictionKeys(ticket);
      if (!keys) return a;
      return state.connectionCounts(keys).then(
        (cluster) => again(gate.evictFor(ticket, cluster)),
        () => a,
      );
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
        session.refusedAtAdmission = true;
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
  // Nothing came from it (a balancer's health check): counted, not two lines each. One refused its
  // slot is in the refusal log's lines already (it was counted in both).
  if (!session.announced) return session.refusedAtAdmission ? undefined : gate.silent.closed(session.remoteIp);
  const end = { session: session.id, user: session.userName, seconds: Math.round((performance.now() - session.startedAt) / 1000) };
  // A transfer cut by the close (a hang-up, shutdown) writes its line once its resources are
  // disposed, later than this: its session's end is logged after it (log tools close a session's
  // record at its end). Only the line waits; everything above was given back now.
  const cut = session.transfer;
  if (!cut) return server.log.info("session end", end);
  const say = () => {
    if (server.endsAwaitingTransfer.delete(say)) server.log.info("session end", end);
  };
  server.endsAwaitingTransfer.add(say);
  void cut.done.catch(() => {}).then(say);
}
