import type { FtpReply } from "../protocol/reply.ts";

/**
 * An expected client failure (refused login, missing file, changed remote file, digest mismatch…).
 * The CLI prints its message as one line and exits 1; `code` is the FTP reply code when there is one.
 */
export class ClientError extends Error {
  override name = "ClientError";
  readonly code?: number;
  /** True when reconnecting and continuing may help (a dropped connection, a 4xx reply). */
  readonly retryable: boolean;

  constructor(message: string, opts: { code?: number; retryable?: boolean } = {}) {
    super(message);
    if (opts.code !== undefined) this.code = opts.code;
    this.retryable = opts.retryable ?? false;
  }
}

/** "550 No such file" → "No such file (550)". */
export function describe(r: FtpReply): string {
  return `${r.lines.map((l) => l.trim()).filter(Boolean).join(" ")} (${r.code})`;
}

/** A ClientError for an unexpected reply; 4yz replies are transient (worth a retry). */
export function replyError(what: string, r: FtpReply): ClientError {
  return new ClientError(`${what}: ${describe(r)}`, { code: r.code, retryable: r.code >= 400 && r.code < 500 });
}
