// FTPS runtime (RFC 4217): the certificate store, the control-connection upgrade, the PROT P data adopter and the TLS policy hooks.
import type { Socket, SocketHandler, TCPSocketListener } from "bun";
import { canonicalIp } from "../../protocol/address.ts";
import { FtpError } from "../../protocol/errors.ts";
import type { ConnectionGate } from "../connection-gate.ts";
import { ANONYMOUS, ANONYMOUS_ALIAS } from "../auth/ini-store.ts";
import type { ServerContext } from "../context.ts";
import type { ControlState } from "../control-lifecycle.ts";
import { DataConnection, type DataSocketState } from "../data/connection.ts";
import type { Session } from "../session.ts";
import { TLS_FLAG_NAMES, TlsCertStore, TlsConfigError, tlsRefusal, type TlsMaterial, type TlsOptionNames } from "./config.ts";
import { upgradeDataSocket, type SessionReusePolicy, type UploadEofPolicy } from "./data.ts";
import { DataRefusalLog } from "./refusal-log.ts";
import { listenPermissionHint } from "../privileged-port.ts";

/** FTPS settings (`ftpkit serve --tls-cert … --tls-key …`). */
export interface FtpsOptions {
  certFile: string;
  keyFile: string;
  /** Also listen for implicit TLS (ftps://) on this port (0 = any free port). */
  implicitPort?: number;
  /** Refuse logins and data transfers that are not encrypted (for every user). */
  requireTls?: boolean;
  /** PROT P data connections: `required` refuses those that do not resume the control session (vsftpd's require_ssl_reuse). */
  sessionReuse?: SessionReusePolicy;
  /** PROT P uploads: `strict` (default) completes one only on the client's close_notify; `lenient` also on a bare FIN (vsftpd's default). */
  uploadEof?: UploadEofPolicy;
  /** Certificate files are polled for changes this often (ms). */
  certPollMs?: number;
  /** How errors name the certificate, key and implicit port (default: ftpkit serve's flags; the package API passes its option names). */
  names?: TlsOptionNames;
}

const REFUSE_LOGIN = "TLS required: secure the connection with AUTH TLS before logging in";
const REFUSE_LOGIN_NO_TLS = "This account requires TLS, which this server does not offer";
const REFUSE_DATA = "Data connections must be encrypted: use PBSZ 0 and PROT P";

/** Bun's upgradeTLS, whose `isServer` option is missing from the type definitions (BUN-NOTES). */
type Upgradable<T> = { upgradeTLS(o: { isServer: true; tls: SessionTls; socket: SocketHandler<T>; data: T }): [Socket<T>, Socket<T>] };

/**
 * The TLS options of one control session and its data connections. Bun keeps one TLS context per
 * distinct set of options, and a TLS session (ticket or ID) resumes only within its context: with
 * the same options for every session, a data connection resuming *another* control connection's
 * session counted as "reused", so `--tls-session-reuse required` let a client at the same address
 * take a data connection with any session of its own (vsftpd's require_ssl_reuse checks it is the
 * control connection's). A `passphrase` unique to the session (ignored: keys are unencrypted,
 * loadTlsMaterial checks) gives each session its own context; measured: 3,000 of them kept RSS flat.
 */
export interface SessionTls {
  cert: string;
  key: string;
  passphrase: string;
}

function sessionTls(material: TlsMaterial): SessionTls {
  return { cert: material.cert, key: material.key, passphrase: `ftpkit-session-${crypto.randomUUID()}` };
}

/** Everything FTPS adds to one server; lives in `ServerContext.tls`. */
export class FtpsRuntime {
  store: TlsCertStore | null = null;
  /** The pair each session's control connection was upgraded with: its data connections use the same one, so resumption works. */
  private readonly sessionMaterial = new WeakMap<Session, SessionTls>();
  private implicitListener: TCPSocketListener<ImplicitState> | null = null;
  /** PROT P data connections that resumed the control session / that did not (STAT, tests). */
  readonly counters = { dataReused: 0, dataNew: 0, controlUpgrades: 0 };
  /** Refused data connections, logged at a rate the client does not set. */
  private readonly refusals: DataRefusalLog;
  /**
   * AUTH TLS's upgraded control handlers, counting the handshake when it completes: counted at the
   * upgrade, an AUTH TLS followed by no TLS at all showed in ftpkit_tls_handshakes_total.
   */
  private readonly explicitControlHandlers: SocketHandler<ControlState>;

  constructor(
    readonly options: FtpsOptions,
    private readonly server: ServerContext,
    /** Control handlers for an upgraded socket (no `open`: the session exists already). */
    private readonly upgradedControlHandlers: SocketHandler<ControlState>,
    /** The control listener's handlers, for implicit TLS sessions (same sessions and per-IP limits). */
    private readonly controlOpen: NonNullable<SocketHandler<ControlState>["open"]>,
    /** Admission: implicit TLS connections count from accept, not from the end of their handshake. */
    private readonly gate: ConnectionGate,
  ) {
    this.refusals = new DataRefusalLog(() => server.log);
    this.explicitControlHandlers = {
      ...upgradedControlHandlers,
      handshake: (_tls, success, error) => {
        // As for implicit TLS: client certificates are not asked for, so only an error other than a verify one is a failure.
        if (!success && error && !/self.signed|unable to get|verify/i.test(error.message)) return;
        server.events.emit({ type: "tls-handshake", channel: "control", reused: false });
      },
    };
  }

  get sessionReuse(): SessionReusePolicy {
    return this.options.sessionReuse ?? "preferred";
  }

  /** Load and check the certificate (TlsConfigError on a problem), start watching it. */
  start(): void {
    // --workers: every worker watches the same files and would say each line once per worker; worker 0
    // (or a lone server) says them, as it does the users file's. Each worker's own `reloaded` line stays.
    const log = this.server.options.worker ? { info() {}, warn() {} } : this.server.log;
    this.store = new TlsCertStore({
      certFile: this.options.certFile,
      keyFile: this.options.keyFile,
      pollMs: this.options.certPollMs,
      names: this.options.names,
      onSwap: (m) => log.info("tls certificate reloaded", { fingerprint: m.fingerprint, notAfter: m.notAfter, chain: m.chain }),
      onError: (msg) => log.warn("tls certificate not reloaded", { reason: msg }),
      onOutOfDate: (msg) => log.warn("tls certificate out of date", { reason: msg }),
      onKeyExposed: (msg) => log.warn("tls key readable by everyone", { reason: msg }),
    });
    this.store.watch();
  }

  get material(): TlsMaterial {
    if (!this.store) throw new FtpError(431, "TLS is not available");
    this.store.check();
    return this.store.current;
  }

  /** Pairs the TLS stack was seen to take (the store adopts no other: this guards what it hands out). */
  private readonly usable = new WeakSet<TlsMaterial>();

  /**
   * AUTH TLS, before its 234: the options the control connection will be upgraded with, or 431
   * (RFC 2228: "Need some unavailable resource to process security") when the TLS stack would not
   * take the pair. Answering 234 and failing after it left the session going on in clear text.
   */
  prepareControl(): SessionTls {
    const m = this.material;
    if (!this.usable.has(m)) {
      const refused = tlsRefusal(m.cert, m.key);
      if (refused) {
        this.server.log.error("tls certificate unusable", { reason: refused.reason });
        throw new FtpError(431, "TLS is not available: the server's certificate cannot be used");
      }
      this.usable.add(m);
    }
    return sessionTls(m);
  }

  /** AUTH TLS after the 234 reply: switch the control connection to TLS in place. */
  upgradeControl(session: Session, material: SessionTls): void {
    const raw = session.socket as unknown as Socket<ControlState>;
    const old = raw.data;
    let tls: Socket<ControlState>;
    try {
      [, tls] = (raw as unknown as Upgradable<ControlState>).upgradeTLS({
        isServer: true,
        tls: material,
        socket: this.explicitControlHandlers,
        data: { session, loop: old.loop },
      });
    } catch (err) {
      // After 234 the client speaks TLS: no reply in clear, and no session going on unencrypted.
      this.server.log.error("tls upgrade failed", { session: session.id, error: String(err) });
      raw.terminate();
      return;
    }
    old.ignorePlain = true; // the plain handler still sees the ciphertext (BUN-NOTES)
    session.socket = tls as unknown as Session["socket"];
    session.tls.control = true;
    this.sessionMaterial.set(session, material);
    this.counters.controlUpgrades++;
  }

  /** ServerContext.adoptDataSocket: TLS under PROT P, plain otherwise. */
  adoptDataSocket(session: Session, socket: Socket<DataSocketState>, peerIp: string): DataConnection {
    if (!session.tls.protP) return new DataConnection(socket, peerIp);
    const material = this.sessionMaterial.get(session) ?? sessionTls(this.material);
    const policy = { reuse: this.sessionReuse, uploadEof: this.options.uploadEof ?? "strict" };
    const conn = upgradeDataSocket(socket, peerIp, material, policy, this.server.options.dataTimeoutMs);
    const counted = () => {
      if (conn.sessionReused) this.counters.dataReused++;
      else this.counters.dataNew++;
      this.server.events.emit({ type: "tls-handshake", channel: "data", reused: conn.sessionReused });
    };
    conn.ready!.then(counted, (err: Error) => {
      // A handshake that completed and was then refused for not resuming the session is still one
      // (ftpkit_tls_handshakes_total counts handshakes): a client resuming no session shows as reused="false".
      if (conn.handshaken) counted();
      // A client that got a 550 (RETR of a missing file…) drops the data connection it had
      // opened before TLS started (ftplib does): nothing was refused, so nothing to warn about.
      if (conn.closedDuringSetup && !session.transfer) return;
      this.refusals.refused(session, peerIp, err.message);
    });
    return conn;
  }

  /** Implicit FTPS (ftps://, port 990 style): a plain listener that upgrades at once, so resumption and hot swap work as for AUTH TLS. */
  listenImplicit(host: string, port: number, reusePort = false): number {
    const runtime = this;
    try {
      this.implicitListener = this.bindImplicit(host, port, runtime, reusePort);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const name = (this.options.names ?? TLS_FLAG_NAMES).implicitPort;
      // The system's error is the cause: startServer tells a busy port (runtime) from a bad certificate (option) by it.
      if (code === "EADDRINUSE") throw new TlsConfigError(`${name} ${port} is already in use`, { cause: err });
      if (code === "EACCES") throw new TlsConfigError(`${name} ${port}: no permission to listen${listenPermissionHint(port)}`, { cause: err });
      throw err;
    }
    return this.implicitListener.port;
  }

  private bindImplicit(host: string, port: number, runtime: FtpsRuntime, reusePort: boolean): TCPSocketListener<ImplicitState> {
    return Bun.listen<ImplicitState>({
      hostname: host,
      port,
      // --workers: every worker listens on the same port (accepted by Bun.listen, missing from its types).
      ...({ reusePort } as object),
      socket: {
        open(raw) {
          // Reset in the accept queue before we saw it (no peer address left): nothing to admit.
          runtime.server.events.emit({ type: "connection", listener: "implicit-tls" });
          if (!raw.remoteAddress) return void raw.terminate();
          const ip = canonicalIp(raw.remoteAddress);
          const gate = runtime.gate;
          // Counted from accept: a socket that never sends a ClientHello holds a slot only until
          // the handshake deadline, and no more than --max-per-ip of them per address.
          const ticket = runtime.server.shuttingDown ? { refused: "Server shutting down" } : gate.admit(ip);
          if ("refused" in ticket) {
            gate.refusals.refused(ip, ticket.refused);
            raw.terminate(); // no plaintext 421 on a TLS port
            return;
          }
          let handshaken = false;
          let closeBoth = () => raw.terminate();
          const deadline = setTimeout(() => {
            if (handshaken) return;
            ticket.release();
            closeBoth();
          }, runtime.server.options.tlsHandshakeTimeoutMs);
          (deadline as { unref?: () => void }).unref?.();
          ticket.evict = () => {
            clearTimeout(deadline);
            closeBoth();
          };
          const material = sessionTls(runtime.material);
          const state: ImplicitState = { ignorePlain: true };
          raw.data = state;
          const upgraded = runtime.upgradedControlHandlers;
          const handlers: SocketHandler<ControlState> = {
            ...upgraded,
            close(tls, err) {
              if (!tls.data?.session) ticket.release();
              return upgraded.close?.call(upgraded, tls, err as never);
            },
            error(tls, err) {
              if (!tls.data?.session) ticket.release();
              return upgraded.error?.call(upgraded, tls, err);
            },
            handshake(tls, success, error) {
              handshaken = true;
              clearTimeout(deadline);
              if (!success && error && !/self.signed|unable to get|verify/i.test(error.message)) {
                ticket.release();
                return void tls.end();
              }
              // The session starts once TLS is up, so the 220 greeting goes out encrypted; it
              // takes over the ticket admitted above.
              tls.data = { admitted: ticket } as unknown as ControlState;
              runtime.controlOpen.call(runtime.upgradedControlHandlers, tls);
              const session = tls.data?.session;
              if (!session) return;
              session.tls.control = true;
              runtime.sessionMaterial.set(session, material);
              runtime.server.events.emit({ type: "tls-handshake", channel: "control", reused: false });
            },
          };
          let tlsSocket: { terminate(): void };
          try {
            [, tlsSocket] = (raw as unknown as Upgradable<ControlState>).upgradeTLS({
              isServer: true,
              tls: material,
              socket: handlers,
              data: undefined as unknown as ControlState,
            });
          } catch (err) {
            // The socket went away under us: its admission ends here, not at the handshake deadline.
            clearTimeout(deadline);
            ticket.release();
            throw err;
          }
          // Closing the raw socket alone leaves the upgraded one open: close both.
          closeBoth = () => {
            // Each on its own: one that throws (already closed) must not keep the other open.
            try {
              tlsSocket.terminate();
            } catch {}
            try {
              raw.terminate();
            } catch {}
          };
        },
        data() {},
        // A handler that threw: that connection is dropped, never the server (without this handler
        // Bun treats the exception as uncaught and the process exits).
        error(raw, err) {
          runtime.server.log.error("implicit TLS connection failed", { error: String(err) });
          try {
            raw.terminate();
          } catch {}
        },
      },
    });
  }

  stop(closeActive = false): void {
    this.implicitListener?.stop(closeActive);
    this.store?.close();
  }
}

interface ImplicitState {
  ignorePlain: true;
}

/** The FTPS runtime of a server, if TLS is configured. */
export function ftpsOf(server: ServerContext): FtpsRuntime | undefined {
  return server.tls instanceof FtpsRuntime ? server.tls : undefined;
}

/** Is this session bound to encrypt (the --require-tls flag, or its user's require_tls)? */
export function mustEncrypt(session: Session): boolean {
  const ftps = ftpsOf(session.server);
  return !!ftps?.options.requireTls || !!session.user?.requireTls;
}

/**
 * USER in the clear. With --require-tls everybody is refused. Per-user require_tls: refusing only
 * the names that exist with require_tls would tell a scanner which accounts exist, so once any
 * account requires TLS (on a server that offers it), every name but anonymous (when anonymous itself may log in in the clear)
 * gets the same 530 before a password is sent. The check runs again at PASS (a reload in between).
 * Both read the users file as it is now (auth.refresh: a stat, a parse only when it changed).
 */
export async function loginTlsRefusal(session: Session, name: string): Promise<Error | null> {
  if (session.tls.control) return null;
  const server = session.server;
  if (ftpsOf(server)?.options.requireTls) return new FtpError(530, REFUSE_LOGIN);
  const auth = server.auth;
  if (!auth.lookup) return null;
  // The users file as a login would see it now: require_tls turned off (or on) by an edit applies
  // to the next USER, not only after some PASS happened to reload the file.
  await auth.refresh?.();
  const lower = name.toLowerCase();
  // Without TLS nobody can secure a connection: "one account requires it, so every clear USER gets
  // 530" (which keeps the others from learning which one) would lock every user out. Only the
  // account that requires it is refused then, and told why (the log named it at load).
  const offered = ftpsOf(server) !== undefined;
  const refusal = () => new FtpError(530, offered ? REFUSE_LOGIN : REFUSE_LOGIN_NO_TLS);
  if (lower === ANONYMOUS || lower === ANONYMOUS_ALIAS) return auth.lookup(ANONYMOUS)?.requireTls ? refusal() : null;
  if ((offered && auth.anyRequiresTls?.()) || auth.lookup(name)?.requireTls) return refusal();
  return null;
}

/** Before a data transfer: 521 when this session must encrypt but data would flow in the clear. */
export function dataTlsRefusal(session: Session): Error | null {
  if (session.tls.protP || !mustEncrypt(session)) return null;
  return new FtpError(521, REFUSE_DATA);
}

export const TLS_REFUSALS = { login: REFUSE_LOGIN, data: REFUSE_DATA };
