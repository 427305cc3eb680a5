import { FtpError, ParseError } from "../../protocol/errors.ts";
import { StorageError, type StorageErrorKind } from "../storage/backend.ts";
import { TransferAborted } from "../data/connection.ts";

/** The one table from storage failure kinds to replies (libunftp style). Texts never name real paths. */
const STORAGE_REPLIES: Record<StorageErrorKind, [number, string]> = {
  "not-found": [550, "No such file or directory"],
  exists: [550, "File exists"],
  "not-empty": [550, "Directory not empty"],
  "not-a-directory": [550, "Not a directory"],
  "is-a-directory": [550, "Is a directory"],
  denied: [550, "Permission denied"],
  // ProFTPD's words (strerror(ELOOP)); "Permission denied" sent users to check rights that were fine.
  loop: [550, "Too many levels of symbolic links"],
  // RFC 959 553 "File name not allowed": the name is the problem, not the user's rights.
  "name-too-long": [553, "File name too long"],
  "no-space": [452, "Insufficient storage space"],
  transient: [450, "File unavailable, try again later"],
  // EIO: a failing disk, which "try again later" sent clients to retry for nothing.
  io: [451, "I/O error on the server's storage"],
  // As missingRoot() says of a local home or mount whose directory is missing.
  unavailable: [550, "Directory not available"],
  unsupported: [550, "Operation not supported"],
};

/**
 * The storage failure behind `err` when it is the server's to look into, not the client's doing: a
 * read-only or full filesystem (EROFS, ENOSPC, EDQUOT), a home the service user may not write
 * (EACCES, EPERM: ftpkit writes as one user, where vsftpd wrote as each local user), an I/O error,
 * an object store that does not answer. Its words are for the log only: the client's reply stays
 * the kind's fixed text ("550 Permission denied" for EROFS too). Undefined for the rest (not found,
 * exists, not empty…), which the client caused and its reply explains.
 */
export function storageTrouble(err: unknown): string | undefined {
  if (!(err instanceof StorageError)) return undefined;
  return err.kind === "denied" || err.kind === "no-space" || err.kind === "transient" || err.kind === "io" || err.kind === "unavailable" ? err.message : undefined;
}

export function replyForError(err: unknown): { code: number; text: string; unexpected: boolean } {
  if (err instanceof FtpError) return { code: err.code, text: err.message, unexpected: false };
  if (err instanceof StorageError) {
    const [code, text] = STORAGE_REPLIES[err.kind];
    return { code, text: err.detail ? `${text}: ${err.detail}` : text, unexpected: false };
  }
  if (err instanceof ParseError) return { code: 501, text: err.message, unexpected: false };
  if (err instanceof TransferAborted) return { code: 426, text: "Connection closed; transfer aborted", unexpected: false };
  return { code: 451, text: "Local error in processing", unexpected: true };
}
