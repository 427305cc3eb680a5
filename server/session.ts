import type { Socket } from "bun";
import { formatReply } from "../protocol/reply.ts";
import type { HashAlgorithm } from "../protocol/hash.ts";
import { MLSX_FACTS } from "../protocol/listing.ts";
import type { UserRecord } from "./auth/types.ts";
import type { DataEndpoint } from "./data/passive.ts";
import type { DataConnection } from "./data/connection.ts";
import type { RateLimiter } from "./data/rate.ts";
import type { Mount } from "./vfs/mounts.ts";
import type { ServerContext } from "./context.ts";

/** A transfer running off the command loop (ftpserverlib's model): ABOR, STAT and QUIT stay live. */
export interface ActiveTransfer {
  verb: string;
  vpath: string;
  bytes: number;
  size?: number;
  startedAt: number;
  signal: { aborted: boolean };
  conn: DataConnection | null;
  done: Promise<void>;
}

export interface ControlSocketState {
  session: Session;
}

let nextSessionId = 1;

/** Everything one control connection knows. Never touches process state (no chdir): cwd is virtual. */
export class Session {
  readonly id = nextSessionId++;
  readonly startedAt = Date.now();
  socket: Socket<ControlSocketState>;
  readonly remoteIp: string;
  readonly localIp: string;
  lastActivity = Date.now();
  closed = false;

  // login state
  pendingUser: string | null = null;
  user: UserRecord | null = null;
  mounts: Mount[] = [];
  cwd = "/";

  // transfer parameters
  /** Binary until the client says TYPE A: clients that never send TYPE get their bytes unchanged. */
  type: "A" | "I" = "I";
  restOffset = 0;
  rangeEnd: number | null = null;
  renameFrom: string | null = null;
  dataEndpoint: DataEndpoint | null = null;
  epsvAll = false;
  hashAlgorithm: HashAlgorithm = "SHA-256";
  /** The client chose an algorithm with OPTS HASH: hash its transfers while they stream. */
  hashWhileStreaming = false;
  /** OPTS MLST (RFC 3659 §7.9): the facts MLSD/MLST send. */
  mlstFacts: ReadonlySet<string> = new Set(MLSX_FACTS);
  limiters: RateLimiter[] = [];
  transfer: ActiveTransfer | null = null;
  /** Set by the TLS layer (FTPS). */
  tls: { control: boolean; protP: boolean; pbsz: boolean } = { control: false, protP: false, pbsz: false };

  /** After QUIT: nothing more is read. */
  quitting = false;
  private quitTimer: ReturnType<typeof setTimeout> | null = null;
  private pending: Buffer[] = [];
  private closeAfterFlush = false;

  constructor(
    readonly server: ServerContext,
    socket: Socket<ControlSocketState>,
    remoteIp: string,
    localIp: string,
  ) {
    this.socket = socket;
    this.remoteIp = remoteIp;
    this.localIp = localIp;
  }

  get userName(): string | undefined {
    return this.user?.name;
  }

  /** Send a reply. Bun's write may take only part of it; the rest waits for `drain`. */
  reply(code: number, text: string | readonly string[]): void {
    this.send(formatReply(code, text));
  }

  send(text: string): void {
    if (this.closed) return;
    const buf = Buffer.from(text, "utf8");
    if (this.pending.length) {
      this.pending.push(buf);
      return;
    }
    const n = this.socket.write(buf);
    if (n < 0) return;
    if (n < buf.length) this.pending.push(buf.subarray(n));
  }

  /** Called from the control socket's drain handler. */
  flush(): void {
    while (this.pending.length && !this.closed) {
      const buf = this.pending[0]!;
      const n = this.socket.write(buf);
      if (n < 0) return;
      if (n < buf.length) {
        this.pending[0] = buf.subarray(n);
        return;
      }
      this.pending.shift();
    }
    if (!this.pending.length && this.closeAfterFlush) this.socket.end();
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
    this.dataEndpoint = e;
  }

  /** Tear down everything this session holds (data endpoints, transfer, quota references). */
  cleanup(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.quitTimer) clearTimeout(this.quitTimer);
    this.dataEndpoint?.close();
    this.dataEndpoint = null;
    if (this.transfer) {
      this.transfer.signal.aborted = true;
      this.transfer.conn?.abort();
    }
  }
}
