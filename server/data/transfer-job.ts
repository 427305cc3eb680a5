import { FtpError } from "../../protocol/errors.ts";
import { replyForError, storageTrouble } from "../commands/errors.ts";
import type { Session } from "../session.ts";
import { QuotaExceeded } from "../vfs/upload.ts";
import { ClientTlsFailed, ClosedDuringSetup, type DataConnection } from "./connection.ts";
import { blockModeConnection } from "./block-conn.ts";
import { kernelSendQueue } from "./send-queue.ts";
import { KeptEndpoint } from "./kept.ts";

export interface TransferOutcome {
  code: number;
  text: string;
  result: "ok" | "aborted" | "quota" | "error";
  /** For the log line: why it failed, when that is the server's to look into (see storageTrouble). */
  error?: string;
}

export type AbortReason = "abor" | "closed" | "stalled" | "shutdown";

/**
 * One data transfer (RETR, STOR, APPE, LIST, NLST, MLSD), owned by this object from the command that
 * starts it to its final reply.
 *
 * The ownership rule (issue 8): whatever a transfer acquires — the data endpoint, the data
 * connection, the open file or upload (with its quota reservation), the hasher's work — is put on
 * the transfer's `resources` stack the moment it is acquired. The stack is disposed exactly once
 * when the transfer ends, on every path (no data connection, refused or reset connection, ABOR,
 * session close, stall, quota, disk full, shutdown), and before the final reply goes out. A verb
 * never closes, removes or refunds anything by hand: it commits what succeeded, and disposal ends
 * the rest.
 */
export class Transfer {
  bytes = 0;
  readonly startedAt = performance.now();
  conn: DataConnection | null = null;
  /** Settles after the final reply has been sent. */
  done: Promise<void> = Promise.resolve();
  reason: AbortReason | null = null;
  /** SHA-256 of the whole file when it was computed while streaming (for event hooks). */
  sha256?: string;
  /**
   * An upload: the bytes its storage took (PumpOptions.onStored), which the transfer log and the
   * xferlog report. `bytes` counts them as they arrive: a failed write leaves some never stored.
   */
  stored?: number;
  /**
   * A MODE B upload: what arrives includes framing that moves no file byte (empty blocks, restart
   * markers, one a second kept an upload and its slot past the stall timeout for ever), so only the
   * data the decoder hands on (progress) counts, not the connection's inbound activity.
   */
  framedInbound = false;
  private readonly controller = new AbortController();
  private lastBytesAt = performance.now();

  constructor(
    readonly verb: string,
    readonly vpath: string,
    readonly size?: number,
  ) {}

  /** Pumps check `signal.aborted` at every chunk. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get aborted(): boolean {
    return this.controller.signal.aborted;
  }

  /** ABOR, session close, stall or shutdown: cut the data connection and stop every wait at once. */
  abort(reason: AbortReason): void {
    if (this.aborted) return;
    this.reason = reason;
    this.controller.abort(reason);
    this.conn?.abort();
  }

  /** Bytes moved (or a throttle pause waited out, n = 0): the transfer is alive. */
  progress(n: number): void {
    this.bytes += n;
    this.lastBytesAt = performance.now();
  }

  /** The kernel's queue for the peer when this idle spell was half over (`from`: its lastProgress). */
  private queueMark: { from: number; bytes: number | null } | null = null;

  /**
   * The stall timer's second look, for a transfer idle by our own measure (lastProgress): did the
   * peer take bytes from the kernel's queue since the spell was half over (`half`: mark it now)? A
   * slow reader of a download is not stalled; the one that reads nothing still is.
   */
  peerReadSince(half: boolean): boolean {
    const from = this.lastProgress;
    const queued = () => (this.conn ? kernelSendQueue(this.conn.socket.localPort, this.conn.socket.remotePort) : null);
    if (half) {
      if (this.queueMark?.from !== from) this.queueMark = { from, bytes: queued() };
      return false;
    }
    const mark = this.queueMark;
    if (mark?.from !== from || mark.bytes === null) return false;
    const now = queued();
    if (now === null || now >= mark.bytes) return false;
    this.progress(0);
    return true;
  }

  /** When bytes last moved on the data connection: the stall timer's measure. */
  get lastProgress(): number {
    // A finishing connection is still delivering what the kernel holds; finish() bounds that wait.
    if (this.conn?.finishing) return performance.now();
    if (this.framedInbound) return this.lastBytesAt;
    return Math.max(this.lastBytesAt, this.conn?.lastActivity ?? 0);
  }

  /** Wait for `p`, unless the transfer is aborted first (then reject at once). */
  until<T>(p: Promise<T>): Promise<T> {
    if (this.aborted) {
      // `p` is not waited for, but its end must be handled: a data connection's wait, failed when the
      // transfer's endpoint is closed just after, was an unhandled rejection (a client that aborts
      // or hangs up as its RETR begins).
      p.catch(() => {});
      return Promise.reject(new FtpError(426, "Transfer aborted"));
    }
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(new FtpError(426, "Transfer aborted"));
      this.signal.addEventListener("abort", onAbort, { once: true });
      p.then(
        (v) => {
          this.signal.removeEventListener("abort", onAbort);
          resolve(v);
        },
        (e) => {
          this.signal.removeEventListener("abort", onAbort);
          reject(e);
        },
      );
    });
  }
}

export interface TransferSpec {
  verb: string;
  vpath: string;
  /** Text of the 150 reply. */
  opening: string;
  size?: number;
  /** One log line per transfer (file transfers; listings are not logged). */
  log?: boolean;
  /** The client sends the data (STOR, APPE); on any other transfer what it sends is dropped. */
  upload?: boolean;
  /**
   * Acquired before the 150 (an upload's claim on its target, RETR's file open for reading): owned
   * by the transfer from the call on, disposed with its other resources on every path, or at once
   * if the transfer cannot start.
   */
  held?: Disposable | null;
}

const PROT_CHANGED = "Can't open data connection: it was opened before PROT changed; open a new one";

/** Check, before anything is opened, that a transfer could start at all. */
export function requireDataEndpoint(session: Session): void {
  // A MODE B connection kept from the last transfer that the client has closed since, or that PROT
  // no longer fits (startTransfer's check below, but before any 150): closed, and 425 alone.
  const kept = session.dataEndpoint instanceof KeptEndpoint ? session.dataEndpoint : null;
  if (kept && (kept.gone || kept.conn.rawBytes === session.tls.protP)) {
    session.setDataEndpoint(null);
    if (!kept.gone) throw new FtpError(425, PROT_CHANGED);
  }
  if (!session.dataEndpoint) throw new FtpError(425, "Use PORT, PASV or EPSV first");
  const tlsRefusal = session.server.dataTlsRefusal?.(session);
  if (tlsRefusal) throw tlsRefusal;
}

/**
 * Start a transfer off the command loop (ftpserverlib's model: ABOR, STAT and QUIT stay live): reply
 * 150, wait for the data connection, run `body`, dispose everything the transfer acquired, then
 * reply with the outcome and log one line. `body` runs only once the data connection is up, so
 * nothing is created or truncated for a transfer that never gets one (`held`, taken before, is
 * locks or a file open for reading: it is let go when the wait for the data connection ends
 * without one, at the latest after the data-connection timeout).
 */
export function startTransfer(
  session: Session,
  spec: TransferSpec,
  body: (t: Transfer, conn: DataConnection, resources: AsyncDisposableStack) => Promise<TransferOutcome>,
): Transfer {
  const endpoint = session.takeDataEndpoint();
  if (!endpoint) {
    spec.held?.[Symbol.dispose]();
    throw new FtpError(425, "Use PORT, PASV or EPSV first");
  }
  const t = new Transfer(spec.verb, spec.vpath, spec.size);
  session.transfer = t;
  session.server.events.emit({ type: "transfer-start", session, transfer: t });
  session.reply(150, spec.opening);
  // MODE B (RFC 959 §3.4.2): framed in blocks, and kept open for the next transfer if this one completes.
  const blockMode = session.mode === "B";
  t.framedInbound = blockMode && spec.upload === true;
  t.done = (async () => {
    let outcome: TransferOutcome;
    /** Set once a MODE B transfer completed: its connection goes back to the session, not closed. */
    let keep = false;
    try {
      await using resources = new AsyncDisposableStack();
      if (spec.held) resources.use(spec.held);
      resources.defer(() => (keep ? endpoint.release() : endpoint.close()));
      const conn = await t.until(endpoint.connect());
      t.conn = conn;
      // PROT in force now decides (RFC 4217 §9; vsftpd accepts the data connection here): one the
      // client opened before PROT changed would carry PROT P data in clear, past --require-tls.
      if (conn.rawBytes === session.tls.protP) throw new FtpError(425, PROT_CHANGED);
      if (!spec.upload) conn.discardInbound();
      // After a clean finish this is a no-op; on every other exit it cuts the connection. A MODE B
      // connection whose transfer completed is the session's from here (one owner at a time).
      resources.defer(() => (keep ? session.keepDataConnection(new KeptEndpoint(conn)) : conn.abort()));
      if (t.aborted) conn.abort();
      if (conn.ready) await t.until(conn.ready);
      // An upload whose client resets the data connection is over, whatever the body waits on
      // (an object store copying what APPE keeps went on copying until the session ended).
      const unwatch = spec.upload ? conn.watchPeerReset(() => t.abort("closed")) : null;
      try {
        outcome = await body(t, blockMode ? resources.use(blockModeConnection(conn)) : conn, resources);
        keep = blockMode && outcome.code === 226 && !conn.closed && !t.aborted && !session.closed;
      } finally {
        unwatch?.();
      }
    } catch (err) {
      outcome = outcomeOf(err, t, session);
    }
    if (session.transfer === t) session.transfer = null;
    session.noteActivity();
    outcome = { ...outcome, code: afterPreliminary(outcome.code, spec.upload === true) };
    session.reply(outcome.code, outcome.text);
    if (spec.log !== false) {
      // A failure on the server's side (out of space, a read-only or failing disk: `error` names it)
      // is a WARN, as the same failure of MKD or DELE is ("storage error"); it was an INFO line.
      const level = outcome.result === "error" && outcome.error ? "warn" : "info";
      session.server.log[level]("transfer", {
        session: session.id,
        user: session.userName,
        verb: spec.verb,
        path: spec.vpath,
        bytes: t.stored ?? t.bytes,
        // A failed upload: what arrived beyond what was stored (in flight to a write that failed).
        received: t.stored !== undefined && t.stored !== t.bytes ? t.bytes : undefined,
        ms: Math.round(performance.now() - t.startedAt),
        result: outcome.result,
        error: outcome.error,
        tls: session.tls.protP && t.conn ? (t.conn.sessionReused ? "reused" : "new") : undefined,
      });
    }
    session.server.events.emit({ type: "transfer", session, verb: spec.verb, vpath: spec.vpath, bytes: t.bytes, stored: t.stored, ms: Math.round(performance.now() - t.startedAt), result: outcome.result, sha256: t.sha256 });
  })();
  return t;
}

/**
 * The code a transfer may end with once its 150 is out (RFC 959 §5.4: for RETR and listings 226,
 * 250, 425, 426, 451; for uploads also 551 and 552; 421 at any time; RFC 4217's 522). A storage failure's own code is
 * a first reply: a store away (450) or any other failure mid-transfer is "451 aborted: local error",
 * out of space (452) is 552 ("exceeded storage allocation"), as a quota is. vsftpd ends a failed
 * write with 451, a broken network stream with 426.
 */
function afterPreliminary(code: number, upload: boolean): number {
  // 522: RFC 4217's refusal of the data connection's TLS (vsftpd's "SSL connection failed").
  if (code < 400 || code === 421 || code === 425 || code === 426 || code === 451 || code === 522) return code;
  if (upload && (code === 552 || code === 551)) return code;
  if (upload && code === 452) return 552;
  return 451;
}

/** The reply for a transfer that ended by an error or an abort. */
function outcomeOf(err: unknown, t: Transfer, session: Session): TransferOutcome {
  if (err instanceof QuotaExceeded) return { code: 552, text: err.message, result: "quota" };
  if (t.aborted) {
    const text = t.reason === "stalled" ? "Data connection stalled; transfer aborted" : "Connection closed; transfer aborted";
    return { code: 426, text, result: "aborted" };
  }
  const r = replyForError(err);
  if (r.unexpected) session.server.log.error("transfer error", { session: session.id, error: String(err) });
  // The client's hang-up or failed TLS on the data connection is its own doing: aborted, not error (README, metrics).
  const clients = r.code === 426 || err instanceof ClosedDuringSetup || err instanceof ClientTlsFailed;
  return { code: r.code, text: r.text, result: clients ? "aborted" : "error", error: storageTrouble(err) };
}
