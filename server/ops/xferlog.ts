// `--xferlog FILE`: the classic wu-ftpd transfer log (xferlog(5)), one line per file transfer, for the
// log analyzers that read it. An operator's log file, like the users file: not FTP-session storage.
import { closeSync, openSync, writeSync } from "node:fs";
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
export function formatXferlog(r: XferRecord): string {
  const seconds = Math.max(1, Math.round(r.ms / 1000));
  const name = r.path.replace(/[\s\u0000-\u001f\u007f-\u009f]/g, "_");
  const user = r.user.replace(/[\s\u0000-\u001f\u007f-\u009f]/g, "_") || "*";
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

/** Appends lines to the file, batched per event-loop turn; `reopen()` after logrotate (SIGHUP). */
export class XferLog {
  private fd: number;
  private pending = "";
  private scheduled = false;
  /** A write failed part way (a full disk): the file may end inside a line, and the next write starts a new one. */
  private midLine = false;

  constructor(
    readonly file: string,
    private readonly onError: (message: string) => void = () => {},
  ) {
    this.fd = XferLog.open(file);
  }

  private static open(file: string): number {
    try {
      return openSync(file, "a", 0o640);
    } catch (err) {
      // In the words of ls and cp, not Node's ("ENOENT: no such file or directory, open '…'").
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === "EACCES" ? "permission denied" : code === "ENOENT" ? `no such directory ${dirname(file)}` : code === "EISDIR" ? "is a directory (give a file name)" : code === "ENOTDIR" ? `${dirname(file)} is not a directory` : (err as Error).message;
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
    if (!this.pending || this.fd < 0) return;
    // After a line cut short, a newline first: else the next record is glued to the piece, and an
    // analyzer loses both (measured: a 26-field line after a full disk was freed).
    const buf = Buffer.from(this.midLine ? "\n" + this.pending : this.pending);
    this.pending = "";
    let off = 0;
    try {
      while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off);
      this.midLine = false;
    } catch (err) {
      if (off > 0) this.midLine = true;
      this.onError(`--xferlog ${this.file}: ${(err as Error).message}`); // a full disk must not stop the server
    }
  }

  /** Close and open the file again by name (a rotated log gets a fresh file). */
  reopen(): void {
    this.flush();
    const fd = XferLog.open(this.file);
    closeSync(this.fd);
    this.fd = fd;
    this.midLine = false;
  }

  close(): void {
    this.flush();
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}
