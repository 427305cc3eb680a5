// The server's digest of a big download, asked on a second connection while the data comes. A
// server that hashes on demand (ProFTPD's mod_digest) reads the whole file for a HASH that follows
// the transfer, so a verified download took the transfer's time plus the hash's; asked alongside,
// the two overlap. ftpkit hashes while it sends and answers a HASH of a file it is sending with that
// send's digest, so it reads nothing twice either way.
import type { DigestAlgorithm } from "./remote-hash.ts";
import type { Session } from "./session.ts";

/** Downloads with at least this much still to come ask on the side (a login costs less than hashing this much). */
export const SIDE_DIGEST_MIN_BYTES = 64 << 20;

/**
 * One HASH on its own connection, owned by the download that asked: `result` is the digest, or null
 * when there is none to be had there (a second connection refused, as by a per-IP limit; a login or
 * HASH that failed): the download then asks on its own connection, after the data, as without it.
 */
export class SideDigest implements Disposable {
  private readonly cancel = new AbortController();
  private session: Session | null = null;
  readonly result: Promise<{ hex: string; via: string } | null>;

  constructor(open: (signal: AbortSignal) => Promise<Session>, path: string, algo: DigestAlgorithm) {
    this.result = this.ask(open, path, algo).catch(() => null);
  }

  private async ask(open: (signal: AbortSignal) => Promise<Session>, path: string, algo: DigestAlgorithm): Promise<{ hex: string; via: string } | null> {
    const session = await open(this.cancel.signal);
    if (this.cancel.signal.aborted) {
      session.destroy();
      return null;
    }
    this.session = session;
    try {
      return session.client.mayGiveDigest(algo) ? await session.client.remoteDigest(path, algo) : null;
    } finally {
      this.session = null;
      void session.close(); // QUIT; nothing waits for its reply
    }
  }

  /** The download ended without needing the digest (it failed): drop the connection now. */
  [Symbol.dispose](): void {
    this.cancel.abort();
    this.session?.destroy();
  }
}
