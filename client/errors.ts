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
