import type { Socket } from "bun";
import { maskUnsafeNameChars } from "../protocol/printable.ts";
import { formatReply } from "../protocol/reply.ts";
import type { HashAlgorithm } from "../protocol/hash.ts";
import { MLSX_FACTS } from "../protocol/listing.ts";
import type { UserRecord } from "./auth/types.ts";
import { ActiveConnector } from "./data/active.ts";
import type { DataEndpoint } from "./data/passive.ts";
import type { Transfer } from "./data/transfer-job.ts";
import { VirtualFs } from "./vfs/vfs.ts";
import type { RateLimiter } from "./data/rate.ts";
import type { Mount } from "./vfs/mounts.ts";
import type { ServerContext } from "./context.ts";

export interface ControlSocketState {
  session: Session;
}

let nextSessionId = 1;

/**
 * The server process's umask (systemd's UMask=, the shell's), read once at start: process.umask()
 * sets it to read it. The kernel takes these bits from every file the server creates, so a session's
 * umask (SITE UMASK) always includes them: it can narrow what the admin allows, never widen it.
 */
export const PROCESS_UMASK = process.umask() & 0o777;

/**
 * Unsent reply bytes beyond which the session stops reading commands (issue 8): a client that
 * pipelines and never reads its replies fills its own TCP window, not our memory.
 */
export const MAX_UNSENT_REPLY_BYTES = 256 * 1024;

/** How the command loop lets the session steer input (AUTH TLS discards, backpressure pauses). */
export interface InputControl {
  /** Drop every command received but not yet run, and any partial line (AUTH TLS). */
  discard(): void;
  /** Output drained below the limit: input may flow again. */
  resume(): void;
}

/** Everything one control connection knows. Never touches process state (no chdir): cwd is virtual. */
export class Session {
  /**
   * Unique within the server: a plain count in one process; under `serve --workers` the worker's
   * index comes first ("1-17"), so the log lines of several workers that share one stdout can be
   * told apart (each worker counts from 1).
   */
  readonly id: number | string;
  /** performance.now() at connect, as lastActivity: durations only, never a date (a wall-clock step must not time sessions out). */
  readonly startedAt = performance.now();
  socket: Socket<ControlSocketState>;
  readonly remoteIp: string;
  readonly localIp: string;
  /** The address the client connected to: behind a balancer, the balancer's (the PROXY header's destination); else localIp. */
  readonly dialedIp: string;
  lastActivity = performance.now();
  /** Commands whose handler is at work (the idle timeout waits for them). */
  commandsRunning = 0;
  closed = false;
  /** Shared state (issue 12): resolves true once the connection slot is granted. */
  admission: Promise<boolean> | null = null;
  /** A connection slot is held in the shared state (given back when the session ends). */
  holdsSlot = false;
  /** Its "session start" line is written (at its first byte, or a line naming it): its end is logged too. */
  announced = false;
  /** Refused at admission (421, shared state full or away) and logged by the refusal log: not a silent close. */
  refusedAtAdmission = false;

  // login state
  pendingUser: string | null = null;
  /** PASS is opening the user's places (a store slow to answer, a quota measured by listing): the login deadline waits. */
  openingHome = false;
  user: UserRecord | null = null;
  /** What an anonymous login gave as its password (its e-mail, by custom): xferlog's user field, as vsftpd writes it. */
  anonymousIdent = "";
  mounts: Mount[] = [];
  /** Mounts whose root was found gone ("unavailable") and said so in the log: once per session (control.ts). */
  readonly goneRootsLogged = new WeakSet<Mount>();
  cwd = "/";
  /** Bits taken from the files and directories this session creates (SITE UMASK); never fewer than the process's. */
  umask = PROCESS_UMASK;

  // transfer parameters
  /** Binary until the client says TYPE A: clients that never send TYPE get their bytes unchanged. */
  type: "A" | "I" = "I";
  /** MODE (RFC 959 §3.4): S closes the data connection after each transfer; B frames it in blocks and keeps it (data/kept.ts). */
  mode: "S" | "B" = "S";
  restOffset = 0;
  rangeEnd: number | null = null;
  renameFrom: string | null = null;
  dataEndpoint: DataEndpoint | null = null;
  /** PORT/EPRT: at most one connect in flight, even after its transfer gave up on it (data/active.ts). */
  readonly activeConnects = new ActiveConnector();
  epsvAll = false;
  hashAlgorithm: HashAlgorithm = "SHA-256";
  /** The client chose an algorithm with OPTS HASH: hash its transfers while they stream. */
  hashWhileStreaming = false;
  /** OPTS MLST (RFC 3659 §7.9): the facts MLSD/MLST send. */
  mlstFacts: ReadonlySet<string> = new Set(MLSX_FACTS);
  limiters: RateLimiter[] = [];
  transfer: Transfer | null = null;
  /** The one door to storage for this session's commands. */
  readonly fs: VirtualFs;
  input: InputControl | null = null;
  /** Set by the TLS layer (FTPS). */
  /** `impliedP`: PROT P came with AUTH SSL / TLS-P (old drafts), not from a PROT P the client sent. */
  tls: { control: boolean; protP: boolean; pbsz: boolean; impliedP?: boolean } = { control: false, protP: false, pbsz: false };

  /** After QUIT's reply: nothing more is read. */
  quitting = false;
  /**
   * The client sent QUIT (it may still be waiting for a transfer). A control connection that closes
   * after it is an orderly hang-up, not a death: a killed client says no QUIT.
   */
  quitReceived = false;
  /** The control connection closed after QUIT while this transfer ran: the session ends after it. */
  endDeferredTo: Transfer | null = null;
  private quitTimer: ReturnType<typeof setTimeout> | null = null;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private drainWaiters: Array<() => void> = [];
  private closeWaiters: Array<() => void> = [];
  private closeAfterFlush = false;

  constructor(
    readonly server: ServerContext,
    socket: Socket<ControlSocketState>,
    remoteIp: string,
    localIp: string,
    dialedIp: string = localIp,
  ) {
    const n = nextSessionId++;
    this.id = server.options.worker === undefined ? n : `${server.options.worker}-${n}`;
    this.socket = socket;
    this.remoteIp = remoteIp;
    this.localIp = localIp;
    this.dialedIp = dialedIp;
    this.fs = new VirtualFs(this, server.startedAt);
  }

  /** A complete command arrived or a transfer ended: the session is not idle. */
  noteActivity(): void {
    if (this.lastActivity !== Infinity) this.lastActivity = performance.now();
  }

  /** Too many reply bytes wait for the client: stop running commands until it reads them. */
  get congested(): boolean {
    return this.pendingBytes > MAX_UNSENT_REPLY_BYTES;
  }

  /** Resolves once unsent replies are below the limit (or the session closed). */
  writable(): Promise<void> {
    if (!this.congested || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  private goneController: AbortController | null = null;

  /** Aborted when the session ends: work done only for this client (a pre-upload hook) stops then. */
  get gone(): AbortSignal {
    this.goneController ??= new AbortController();
    if (this.closed) this.goneController.abort();
    return this.goneController.signal;
  }

  /** True if the control connection closes within `ms` (a client that died with its upload). */
  closesWithin(ms: number): Promise<boolean> {
    if (this.closed) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.closeWaiters = this.closeWaiters.filter((w) => w !== waiter);
        resolve(this.closed);
      }, ms);
      this.closeWaiters.push(waiter);
    });
  }

  get userName(): string | undefined {
    return this.user?.name;
  }

  /** Send a reply. Bun's write may take only part of it; the rest waits for `drain`. */
  reply(code: number, text: string | readonly string[]): void {
    // Names echoed in replies (PWD, 257, MLST…) reach the user's terminal: control characters masked.
    const lines = typeof text === "string" ? text.split(/\r?\n/) : text;
    this.send(formatReply(code, lines.map(maskUnsafeNameChars)));
  }

  send(text: string): void {
    if (this.closed) return;
    const buf = Buffer.from(text, "utf8");
    if (this.pending.length) {
      this.pending.push(buf);
      this.pendingBytes += buf.length;
      return;
    }
    const n = this.socket.write(buf);
    if (n < 0) return this.lost();
    if (n < buf.length) {
      this.pending.push(buf.subarray(n));
      this.pendingBytes += buf.length - n;
    }
  }

  /** Called from the control socket's drain handler. */
  flush(): void {
    while (this.pending.length && !this.closed) {
      const buf = this.pending[0]!;
      const n = this.socket.write(buf);
      if (n < 0) return this.lost();
      this.pendingBytes -= Math.max(0, n);
      if (n < buf.length) {
        this.pending[0] = buf.subarray(n);
        break;
      }
      this.pending.shift();
    }
    if (!this.congested) {
      for (const w of this.drainWaiters.splice(0)) w();
      this.input?.resume();
    }
    if (!this.pending.length && this.closeAfterFlush) this.socket.end();
  }

  /**
   * A reply could not be written: the connection is gone (the client closed it, and its kernel
   * answered our next reply with a reset). Its close may never be heard: a control connection paused
   * behind 64 pipelined commands is not read, so a client that sent 300 EPSV+RETR and hung up kept
   * its session running them, 30 s each, for hours, holding a connection slot and passive ports.
   * Closing it here ends the session (the close handler runs), queued commands and all.
   */
  private lost(): void {
    if (this.closed) return;
    this.socket.terminate();
  }

  /** Send a last reply, then close once it has been written. */
  replyAndClose(code: number, text: string): void {
    this.reply(code, text);
    this.endWhenFlushed();
  }

  private endWhenFlushed(): void {
    this.closeAfterFlush = true;
    if (!this.pending.length) this.socket.end();
  }

  /**
   * QUIT: reply, then let the client close first (it does, on 221) so the TIME_WAIT state lands on
   * its side and we skip a close call per session; close ourselves only if it lingers.
   */
  replyAndAwaitClose(code: number, text: string, graceMs = 200): void {
    this.reply(code, text);
    this.quitting = true;
    const timer = setTimeout(() => this.endWhenFlushed(), graceMs);
    (timer as { unref?: () => void }).unref?.();
    this.quitTimer = timer;
  }

  /** Hand the next transfer its data endpoint (one PASV/PORT serves one transfer). */
  takeDataEndpoint(): DataEndpoint | null {
    const e = this.dataEndpoint;
    this.dataEndpoint = null;
    return e;
  }

  setDataEndpoint(e: DataEndpoint | null): void {
    this.dataEndpoint?.close();
    // After cleanup nothing would close it: a late one is closed at once.
    if (this.closed) {
      e?.close();
      this.dataEndpoint = null;
      return;
    }
    this.dataEndpoint = e;
  }

  /**
   * MODE B: a transfer completed and hands its data connection back (a KeptEndpoint) for the next.
   * Closed instead if the session ended or already has another endpoint.
   */
  keepDataConnection(e: DataEndpoint): void {
    if (this.closed || this.dataEndpoint) return e.close();
    this.dataEndpoint = e;
  }

  /** Tear down everything this session holds (data endpoints, transfer, quota references). */
  cleanup(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.quitTimer) clearTimeout(this.quitTimer);
    this.dataEndpoint?.close();
    this.dataEndpoint = null;
    this.transfer?.abort("closed");
    this.pending = [];
    this.pendingBytes = 0;
    for (const w of this.drainWaiters.splice(0)) w();
    for (const w of this.closeWaiters.splice(0)) w();
    this.goneController?.abort();
  }
}
