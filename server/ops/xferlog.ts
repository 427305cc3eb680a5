// `--xferlog FILE`: the classic wu-ftpd transfer log (xferlog(5)), one line per file transfer, for the
// log analyzers that read it. An operator's log file, like the users file: not FTP-session storage.
import { closeSync, constants, fstatSync, openSync, writeSync } from "node:fs";
import { dirname } from "node:path";

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

export interface XferRecord {
  /** When the transfer ended. */
  end: Date;
  ms: number;
  remoteHost: string;
  bytes: number;
  /** The virtual path, as the client named it (every user is jailed, as under vsftpd's chroot). */
  path: string;
  type: "A" | "I";
  direction: "i" | "o";
  anonymous: boolean;
  user: string;
  complete: boolean;
}

/** ctime(3) in local time, as wu-ftpd writes it: "Wed Dec  2 01:44:20 2026". */
export function ctime(d: Date): string {
  const p2 = (n: number) => String(n).padStart(2, "0");
  return `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, " ")} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())} ${d.getFullYear()}`;
}

/**
 * One xferlog line: current-time transfer-time remote-host file-size filename transfer-type
 * special-action-flag direction access-mode username service-name authentication-method
 * authenticated-user-id completion-status. Fields are separated by single spaces, so whitespace and
 * control characters in a file name become "_" (as ProFTPD does): a name can never add a field,
 * nor drive the terminal of an admin reading the log (C1 controls such as U+009B, CSI, too).
 */
/** Whitespace, C0 and C1 controls, and the bidi controls that reorder what a report shows (U+202A–E, U+2066–9), as the server log masks them. */
const XFERLOG_UNSAFE = /[\s\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

export function formatXferlog(r: XferRecord): string {
  const seconds = Math.max(1, Math.round(r.ms / 1000));
  const name = r.path.replace(XFERLOG_UNSAFE, "_");
  const user = r.user.replace(XFERLOG_UNSAFE, "_") || "*";
  return [
    ctime(r.end),
    seconds,
    r.remoteHost,
    r.bytes,
    name,
    r.type === "A" ? "a" : "b",
    "_",
    r.direction,
    r.anonymous ? "a" : "r",
    user,
    "ftp",
    "0",
    "*",
    r.complete ? "c" : "i",
  ].join(" ");
}

/** Bytes of records kept while the file takes no more (a full disk); beyond, the newest are dropped (counted). */
export const XFERLOG_BACKLOG_MAX = 1024 * 1024;
/** How often a kept backlog is tried again when no new record comes to carry it. */
const RETRY_MS = 5000;
/** A failure that lasts is said again at most this often. */
const ERROR_EVERY_MS = 60_000;

/**
 * Appends lines to the file, batched per event-loop turn; `reopen()` after logrotate (SIGHUP). What a
 * full disk refuses is kept (up to XFERLOG_BACKLOG_MAX) and written once there is room, the cut
 * record's rest first, so its line ends whole: records of a disk full for minutes were lost.
 */
export class XferLog {
  private fd: number;
  private pending = "";
  private scheduled = false;
  /** Bytes the file did not take yet: the rest of a cut record first, then whole records. */
  private backlog: Buffer | null = null;
  /** The backlog starts inside a record whose beginning is in the file. */
  private backlogMidLine = false;
  private retry: ReturnType<typeof setTimeout> | null = null;
  private failingSince = 0;
  private lastErrorAt = 0;
  private dropped = 0;

  constructor(
    readonly file: string,
    private readonly onError: (message: string) => void = () => {},
    private readonly onRecover: (fields: { keptBytes: number; droppedRecords: number }) => void = () => {},
  ) {
    this.fd = XferLog.open(file);
  }

  private static open(file: string): number {
    try {
      // O_NONBLOCK, and a regular file only: a FIFO put in its place (a log reader's pipe) blocked the
      // whole server at SIGHUP's reopen until some reader came.
      const { O_WRONLY, O_APPEND, O_CREAT, O_NONBLOCK } = constants;
      const fd = openSync(file, O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK, 0o640);
      if (fstatSync(fd).isFile()) return fd;
      closeSync(fd);
      throw Object.assign(new Error("not a regular file"), { code: "ENOTREG" });
    } catch (err) {
      // In the words of ls and cp, not Node's ("ENOENT: no such file or directory, open '…'").
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === "ENOTREG" || code === "ENXIO" ? "not a regular file (a pipe or a device)" : code === "EACCES" ? "permission denied" : code === "ENOENT" ? `no such directory ${dirname(file)}` : code === "EISDIR" ? "is a directory (give a file name)" : code === "ENOTDIR" ? `${dirname(file)} is not a directory` : (err as Error).message;
      throw new Error(`--xferlog ${file}: ${why}`);
    }
  }

  write(r: XferRecord): void {
    this.pending += formatXferlog(r) + "\n";
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    this.scheduled = false;
    if (this.fd < 0 || (!this.pending && !this.backlog)) return;
    const fresh = Buffer.from(this.pending);
    this.pending = "";
    const buf = this.backlog ? Buffer.concat([this.backlog, fresh]) : fresh;
    const keptBytes = this.backlog?.length ?? 0;
    const midLine = this.backlogMidLine;
    this.backlog = null;
    let off = 0;
    try {
      while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off);
    } catch (err) {
      this.keep(buf.subarray(off), off > 0 ? buf[off - 1] !== 10 : midLine, (err as Error).message);
      return;
    }
    if (this.failingSince) {
      this.failingSince = 0;
      if (this.retry) clearTimeout(this.retry);
      this.retry = null;
      this.onRecover({ keptBytes, droppedRecords: this.dropped });
      this.dropped = 0;
    }
  }

  /** What the file refused: kept for the next flush (the oldest bytes first, so a cut line is completed). */
  private keep(rest: Buffer, midLine: boolean, reason: string): void {
    let kept = rest;
    if (kept.length > XFERLOG_BACKLOG_MAX) {
      // The newest whole records go; the rest of a cut record, at the start, always stays.
      const end = kept.lastIndexOf(10, XFERLOG_BACKLOG_MAX - 1) + 1 || kept.indexOf(10) + 1;
      this.dropped += countLines(kept.subarray(end));
      kept = kept.subarray(0, end);
    }
    this.backlog = Buffer.from(kept);
    this.backlogMidLine = midLine;
    const now = performance.now();
    if (!this.failingSince || now - this.lastErrorAt >= ERROR_EVERY_MS) {
      this.failingSince ||= now;
      this.lastErrorAt = now;
      // A full disk must not stop the server; the records wait (said once, then once a minute).
      this.onError(`--xferlog ${this.file}: ${reason} (${this.backlog.length} bytes of records kept until it takes them)`);
    }
    if (!this.retry) {
      this.retry = setTimeout(() => {
        this.retry = null;
        this.flush();
      }, RETRY_MS);
      (this.retry as { unref?: () => void }).unref?.();
    }
  }

  /** Close and open the file again by name (a rotated log gets a fresh file). */
  reopen(): void {
    this.flush();
    const fd = XferLog.open(this.file);
    closeSync(this.fd);
    this.fd = fd;
    // The rest of a record cut in the old file would be a piece at the top of the new one.
    if (this.backlog && this.backlogMidLine) {
      const nl = this.backlog.indexOf(10);
      this.backlog = nl < 0 ? null : this.backlog.subarray(nl + 1);
      this.backlogMidLine = false;
    }
  }

  close(): void {
    this.flush();
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    if (this.backlog) this.onError(`--xferlog ${this.file}: ${countLines(this.backlog)} records not written at exit`);
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

function countLines(b: Uint8Array): number {
  let n = 0;
  for (const byte of b) if (byte === 10) n++;
  return n;
}
