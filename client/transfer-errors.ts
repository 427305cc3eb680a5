// The errors of a transfer, told apart by what the caller should do next: a local file that cannot
// be written (a full disk stops a tree job), a connection lost (continue from `moved`), a refusal
// after the 150 (not worth another session). Apart from transfer.ts's pumps, so that the many
// callers that only classify errors need not name the pumps.
import type { FtpReply } from "../protocol/reply.ts";
import { ClientError, replyError } from "./client.ts";
import { localCause } from "./errors.ts";

/** The local file could not be written; `errno` says why (ENOSPC: the disk is full). */
export class LocalWriteError extends ClientError {
  constructor(
    message: string,
    readonly errno: string | undefined,
  ) {
    super(message, { kind: "local" });
  }

  /** The disk itself refuses (full, over quota, read-only): no later file of a job would fare better. */
  get diskRefuses(): boolean {
    return this.errno === "ENOSPC" || this.errno === "EDQUOT" || this.errno === "EROFS";
  }
}

/**
 * A local file that could not be created or written, in one line that names it and the cause
 * ("cannot create /sys/x.ftpkit-part: permission denied"), not Node's ("EACCES: permission denied,
 * open '/sys/x.ftpkit-part'"). A LocalWriteError: a full or read-only disk stops a tree job's next files.
 */
export function localWriteError(action: "create" | "write", file: string, err: unknown): LocalWriteError {
  return new LocalWriteError(`cannot ${action} ${file}: ${localCause(err, action === "create")}`, (err as { code?: string } | null)?.code);
}

/**
 * The part file could not be opened: as localWriteError, and a symbolic link standing as its name
 * (opened with O_NOFOLLOW: ELOOP) is said to be one, since the download is never written through it.
 */
export function partFileError(part: string, err: unknown): LocalWriteError {
  if ((err as { code?: string } | null)?.code !== "ELOOP") return localWriteError("create", part, err);
  return new LocalWriteError(`cannot create ${part}: a symbolic link stands there, and a download is never written through one: remove it`, "ELOOP");
}

/** A reply by which the server refuses to store more: out of space (452) or over the quota (552). */
export function refusesStorage(code: number | undefined): boolean {
  return code === 452 || code === 552;
}

/** Thrown by a pump when the connection broke after `moved` bytes (so the caller can continue). */
export class TransferInterrupted extends ClientError {
  constructor(
    message: string,
    readonly moved: number,
    code?: number,
  ) {
    super(message, { code, retryable: true, kind: "network" });
  }
}

/**
 * A transfer the server ended with a 5yz after its 150 (RFC 959: a permanent refusal), on a session
 * that may go on: a server that opens a file only after its 150 (ftpkit's own did, until it opened
 * before it as vsftpd does) answers a file it may not read "150 …" then "550 Permission denied".
 * Not a lost connection: trying it again on a new session can
 * only be refused again (a server that hung up after it, vsftpd's "500 OOPS", is still retried:
 * worthRetrying sees the session gone). `moved`: the bytes that moved before the refusal.
 */
export class TransferRefused extends ClientError {
  constructor(
    message: string,
    readonly moved: number,
    code: number,
  ) {
    super(message, { code });
  }
}

/** The error of a transfer's final reply `reply` (not 2yz) after its 150: a 4yz is a drop, a 5yz a refusal. */
export function endedBy(what: string, reply: FtpReply, moved: number): ClientError {
  const e = replyError(what, reply);
  return reply.code >= 500 ? new TransferRefused(e.message, moved, reply.code) : new TransferInterrupted(e.message, moved, reply.code);
}
