// Sessions for every client job: connect + TLS + login + PWD + FEAT + TYPE I (openSession), and the
// Session a job works through, which reconnects with backoff within --retries.
import type { FtpUrl } from "../protocol/url.ts";
import { ClientError, FtpClient, type DigestAlgorithm } from "./client.ts";
import { failureKind } from "./errors.ts";
import { Credentials } from "./credentials.ts";
import { tlsMode, type SecurityOptions } from "./options.ts";
import { backoff, countAttempts, transientOpenFailure, worthRetrying } from "./retries.ts";
import { connectionTrace, type Trace } from "./trace.ts";
import { CLI_WORDS } from "./option-words.ts";

export type SessionOptions = {
  /** A tree job's connections: offer MODE B after login (never a single get, put or ls: one transfer per connection gains nothing). */
  offerModeB?: boolean;
  active?: boolean;
  timeoutMs?: number;
  stallMs?: number;
  verify?: boolean;
  hash?: DigestAlgorithm;
  trace?: Trace;
} & SecurityOptions;

/**
 * Connect (securing the connection first under TLS), log in, learn the login directory, read FEAT, switch to binary.
 * The connect, the TLS handshake and each reply, then and later, wait no longer than --stall-timeout
 * (stallMs; FtpClient.waitMs): a server frozen before its greeting, during the login or at any later
 * command (stopped, hung) is given up in seconds, on a job's first connection as on a reconnection.
 * A password prompt is not bounded (it waits between replies); stallMs 0 waits for replies as long as it takes.
 */
export async function openSession(url: FtpUrl, opts: SessionOptions, creds: Credentials = new Credentials(url), signal?: AbortSignal): Promise<FtpClient> {
  const mode = tlsMode(url, opts);
  const tls = mode ? { mode, settings: { host: url.host, ca: opts.ca, insecure: opts.insecure, words: opts.words } } : undefined;
  const client = await FtpClient.connect({ host: url.host, port: url.port, active: opts.active, timeoutMs: opts.timeoutMs, stallMs: opts.stallMs, tls, trace: connectionTrace(opts.trace), words: opts.words });
  // A job that no longer needs this connection drops it at once, not after the server's answers.
  const drop = () => client.destroy();
  if (signal?.aborted) drop();
  signal?.addEventListener("abort", drop, { once: true });
  try {
    try {
      await client.login(creds.user, () => creds.password());
    } catch (err) {
      // A refused password (not a full server's 530): the one kept for `resume` may be out of date.
      if (!(err instanceof ClientError && err.code === 530 && !err.retryable && creds.refusedSaved())) throw err;
      await client.login(creds.user, () => creds.password());
    }
    // URL paths are relative to where the login put us (RFC 1738 §3.2.2): remember it once. The
    // three go out in one packet (replies come in command order): two round trips fewer per
    // connection, which a tree job opens up to --parallel times.
    // A tree job's connections offer MODE B with them (passive only): one data connection per
    // connection instead of one per file; a server without it (504, 500) leaves stream mode.
    const [home] = await Promise.all([client.pwd(), client.feat(), client.binary(), opts.offerModeB && !opts.active ? client.offerBlockMode() : null]);
    client.home = home;
    if (opts.verify && opts.hash) await client.announceHash(opts.hash);
    if (signal?.aborted) throw new ClientError("no longer needed");
    return client;
  } catch (err) {
    client.destroy();
    throw err;
  } finally {
    signal?.removeEventListener("abort", drop);
  }
}

/**
 * One logged-in control connection a job works through; `reconnect` replaces a dropped one (with
 * backoff, counting every try against --retries).
 */
export class Session {
  private constructor(
    public client: FtpClient,
    readonly url: FtpUrl,
    readonly opts: SessionOptions & { retries: number; backoffMs?: number },
    readonly creds: Credentials,
  ) {}

  /**
   * The first connection of a job (a single get, put or ls; a tree job's first). A failure a moment
   * may cure (transientOpenFailure: a full server's 421 at the greeting or at login, as vsftpd's
   * max_clients, ftpkit's --max-per-ip and pyftpdlib answer, or ProFTPD's 530; a connect or greeting
   * that timed out; a connection dropped before the login was done) is tried again with backoff,
   * --retries times, one line per retry, then ends in one line that quotes the last failure and
   * counts the attempts. A refused connection, an unknown host, an untrusted certificate or a refused
   * login fail at once.
   */
  static async open(url: FtpUrl, opts: SessionOptions & { retries: number; backoffMs?: number }, creds: Credentials, note: { warn(msg: string): void }): Promise<Session> {
    for (let attempt = 1; ; attempt++) {
      try {
        const session = await Session.another(url, opts, creds);
        const exposed = creds.netrcWarning();
        if (exposed) note.warn(exposed);
        return session;
      } catch (err) {
        if (opts.retries === 0 || !transientOpenFailure(err, false)) throw err;
        const message = (err as Error).message;
        if (attempt > opts.retries) {
          const code = err instanceof ClientError ? err.code : undefined;
          throw new ClientError(`${message}; gave up after ${attempt} attempts (${(opts.words ?? CLI_WORDS).retries} ${opts.retries})`, { ...(code === undefined ? {} : { code }), kind: failureKind(err) ?? "network" });
        }
        note.warn(`${message}; retrying (attempt ${attempt} of ${opts.retries})`);
        await backoff(attempt, opts.backoffMs ?? 500);
      }
    }
  }

  /**
   * One more connection of a job that has one already (a tree job's or --segments' extras): tried
   * once, since a 421 there only means the job goes on with fewer (tree-pool.ts, segmented.ts).
   */
  static async another(url: FtpUrl, opts: SessionOptions & { retries: number; backoffMs?: number }, creds: Credentials, signal?: AbortSignal): Promise<Session> {
    return new Session(await openSession(url, opts, creds, signal), url, opts, creds);
  }

  /** The server path for a URL path (relative ones start at the login directory). */
  resolve(urlPath: string): string {
    return this.client.resolve(urlPath);
  }

  private reconnecting: Promise<number> | null = null;

  /**
   * Replace a dropped connection. Two transfers pipelined on one connection see it drop together:
   * the second one joins the reconnection in flight, and one that comes after it (`failed` is no
   * longer the session's client) keeps the new connection instead of dropping it again.
   */
  reconnect(attempt: number, note: { warn(msg: string): void }, failed?: FtpClient, signal?: AbortSignal): Promise<number> {
    if (this.reconnecting) return this.reconnecting;
    if (failed && failed !== this.client) return Promise.resolve(attempt);
    this.reconnecting = this.replaceClient(attempt, note, signal).finally(() => (this.reconnecting = null));
    return this.reconnecting;
  }

  /**
   * A step on `failed` (this session's client) failed with `err` on its `attempt`th try: reconnect
   * when it is worth trying again (a drop or a 4yz, within --retries) and return the attempt the
   * reconnection reached (its own failed tries count against --retries too), else null.
   */
  async retryAfter(failed: FtpClient, err: unknown, attempt: number, note: { warn(msg: string): void }): Promise<number | null> {
    if (attempt > this.opts.retries) {
      if (this.opts.retries > 0) countAttempts(err, attempt, this.opts.retries, await worthRetrying(failed, err));
      return null;
    }
    if (!(await worthRetrying(failed, err))) return null;
    // Said once per drop: the other requests pipelined on the same connection (a level's MKDs, a
    // file's checks) failed with it, and join the reconnection in flight or take its new connection.
    if (!this.reconnecting && failed === this.client) note.warn(`${(err as Error).message}; reconnecting (attempt ${attempt} of ${this.opts.retries})`);
    return await this.reconnect(attempt, note, failed);
  }

  /** `signal`: the new connection is no longer needed (a tree job with nothing left for it). */
  private async replaceClient(attempt: number, note: { warn(msg: string): void }, signal?: AbortSignal): Promise<number> {
    this.client.destroy();
    for (;;) {
      await backoff(attempt, this.opts.backoffMs ?? 500, signal);
      if (signal?.aborted) throw new ClientError("no longer needed");
      try {
        this.client = await openSession(this.url, this.opts, this.creds, signal);
        return attempt;
      } catch (e) {
        attempt++;
        if (!transientOpenFailure(e, true)) throw e;
        if (attempt > this.opts.retries) {
          countAttempts(e, attempt, this.opts.retries, true);
          throw e;
        }
        note.warn(`${(e as Error).message}; retrying (attempt ${attempt} of ${this.opts.retries})`);
      }
    }
  }

  async close(): Promise<void> {
    await this.client.quit();
  }

  destroy(): void {
    this.client.destroy();
  }
}
