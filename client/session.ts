// Sessions for every client job: options, credentials (URL, saved, $FTPKIT_PASSWORD, ~/.netrc, a
// prompt), connect + TLS + login + PWD + FEAT + TYPE I, and reconnecting with backoff.
import type { ConsolaInstance } from "consola";
import { formatFtpUrl, parseFtpUrl, type FtpUrl, type FtpUrlOptions } from "../protocol/url.ts";
import { printableMessage } from "../protocol/printable.ts";
import { breaksCommandLine } from "../protocol/command.ts";
import { ClientError, FtpClient, type DigestAlgorithm } from "./client.ts";
import { failureKind } from "./errors.ts";
import { lookupNetrc, netrcExposedMode } from "./netrc.ts";
import type { Progress } from "./progress.ts";
import { settleWithin, type TokenBucket } from "./transfer.ts";
import { NoAnswer, promptHidden } from "./prompt.ts";
import { endAsInterrupted } from "./on-interrupt.ts";

export interface TransferOptions {
  verify: boolean;
  hash: DigestAlgorithm;
  /** Bytes per second, 0 = unlimited. */
  rate: number;
  /** --limit-rate was given: its value, 0 too, replaces the rate a pending job began with. */
  rateGiven?: boolean;
  /**
   * The job's one rate limiter (see jobLimiter): every file, connection and segment of a tree job or
   * a segmented download draws from it, so --limit-rate limits the job, not each connection.
   */
  limiter?: TokenBucket;
  /** Reconnect attempts after a dropped connection. */
  retries: number;
  quiet: boolean;
  active: boolean;
  /** Ignore (and discard) a pending record for the same target. */
  restart?: boolean;
  /** Base delay of the exponential backoff in ms (tests shorten it). */
  backoffMs?: number;
  /** Where the journal lives (default ./.ftpkit/transfers). */
  journal?: string;
  /** A data connection that moves no byte this long is given up (and retried); default 60 s. */
  stallMs?: number;
  /** --hash was given: compute the digest even against a server that has none to compare it with (localDigest). */
  alwaysDigest?: boolean;
  /** Flush each downloaded file to disk before its rename (survives a power loss, not only kill -9). */
  fsync?: boolean;
  /** `get --segments N`: download one file over N ranged connections. */
  segments?: number;
  /** TLS flags (--tls, --ca, --insecure); see SecurityOptions. */
  tls?: boolean;
  ca?: string[];
  insecure?: boolean;
}

/** Options for programs (the package API, tests): verified, quiet, no retries, passive. */
export function quietTransferOptions(journal: string, over: Partial<TransferOptions> = {}): TransferOptions {
  return { verify: true, hash: "sha256", rate: 0, retries: 0, quiet: true, active: false, journal, ...over };
}

/** --tls (explicit FTPS on an ftp:// URL), --ca (extra trusted PEM certificates), --insecure. */
export interface SecurityOptions {
  tls?: boolean;
  ca?: string[];
  insecure?: boolean;
}

let messages: ConsolaInstance | null = null;

/**
 * The client's messages, on stderr always (stdout carries data only). Loaded at the first message:
 * consola (with node:tty) takes ~30 ms to load, and a quiet transfer prints nothing.
 */
export function consola(): ConsolaInstance {
  if (messages) return messages;
  // The fancy layout (colour, blank lines around errors) only on a terminal: a log or a pipe gets one
  // line per message. (`fancy` is read by consola's node entry; the types tsc picks lack it.)
  const options = { level: 3, fancy: process.stderr.isTTY === true, stdout: process.stderr, stderr: process.stderr };
  const c = (require("consola") as typeof import("consola")).createConsola(options);
  // Messages carry names and reply text a server chose: no control character reaches the terminal.
  for (const type of ["info", "warn", "error", "success", "log"] as const) {
    const print = c[type].bind(c);
    c[type] = ((first: unknown, ...rest: unknown[]) => print(typeof first === "string" ? printableMessage(first) : first, ...rest)) as typeof print;
  }
  messages = c;
  return c;
}

/** Informational messages (suppressed by --quiet), printed without breaking a progress display. */
export class Notifier {
  progress: { clear(): void } | Progress | null = null;
  private said = new Set<string>();
  constructor(private readonly quiet: boolean) {}
  /** Each distinct message once per job ("server offers no hash" is news once, not per file of a tree). */
  info(msg: string): void {
    if (this.quiet || this.said.has(msg)) return;
    this.said.add(msg);
    this.progress?.clear();
    consola().info(msg);
  }
  warn(msg: string): void {
    if (this.quiet) return;
    this.progress?.clear();
    consola().warn(msg);
  }
  /**
   * A failure the job goes on after (one file of a tree): shown with --quiet too, which keeps errors,
   * so the job's last line ("2 of 1010 items failed") is not all a script's log learns.
   */
  error(msg: string): void {
    this.progress?.clear();
    consola().error(msg);
  }
}

/** Parse a URL argument (ftp:// or ftps://, implicit TLS). */
export function parseUrlArg(text: string, opts: FtpUrlOptions = {}): FtpUrl {
  try {
    return parseFtpUrl(text, opts);
  } catch (err) {
    // A URL the user typed (or a journal record kept): bad usage, exit status 2.
    if ((err as Error)?.name === "ParseError") throw new ClientError((err as Error).message, { kind: "usage" });
    throw err;
  }
}

/** How a session to `url` is secured: ftps:// is implicit TLS; --tls asks for AUTH TLS; else clear text. */
export function tlsMode(url: FtpUrl, opts: SecurityOptions): "explicit" | "implicit" | undefined {
  if (url.secure === "implicit") return "implicit";
  return opts.tls ? "explicit" : undefined;
}

/** --ca/--insecure only make sense with TLS: say so rather than ignore them. */
export function checkTlsFlags(url: FtpUrl, opts: SecurityOptions): void {
  if (tlsMode(url, opts)) return;
  const flag = opts.insecure ? "--insecure" : opts.ca?.length ? "--ca" : null;
  if (flag) throw new ClientError(`${flag} needs TLS: add --tls (explicit FTPS) or use an ftps:// URL`, { kind: "usage" });
}

export function displayUrl(url: FtpUrl): string {
  const { password: _pw, ...rest } = url;
  return formatFtpUrl(rest);
}

/**
 * A user and a password asked for at most once per job (every parallel session shares it): the URL,
 * then the password saved when an interrupted transfer began, $FTPKIT_PASSWORD, ~/.netrc, a hidden
 * prompt on a TTY; anonymous without a user.
 */
export class Credentials {
  readonly user: string;
  private value: Promise<string> | null = null;
  private readonly netrc;

  constructor(
    private readonly url: FtpUrl,
    private readonly saved?: string,
  ) {
    this.netrc = lookupNetrc(url.host, url.user);
    const netrcLogin = this.netrc?.login;
    this.user = url.user ?? (netrcLogin !== undefined ? usable(netrcLogin, "the login in ~/.netrc") : "anonymous");
  }

  get anonymous(): boolean {
    return this.user === "anonymous" || this.user === "ftp";
  }

  private resolved: string | undefined;
  /** The saved password was refused (changed since the transfer began): the other sources are asked. */
  private savedRefused = false;

  password(): Promise<string> {
    this.value ??= this.find().then((pw) => (this.resolved = pw));
    return this.value;
  }

  /**
   * The server refused the password: true (ask again) if it was the one kept for `resume`, which
   * the URL, $FTPKIT_PASSWORD, ~/.netrc or the prompt may now replace (it is saved again on success).
   */
  refusedSaved(): boolean {
    if (this.saved === undefined || this.savedRefused || this.url.password !== undefined || this.resolved !== this.saved) return false;
    this.savedRefused = true;
    this.value = null;
    return true;
  }

  private fromNetrc = false;
  /**
   * Once per job: the password came from a ~/.netrc others may read (used all the same, as curl
   * does; ftp(1) refuses it), so the user learns the secret is not one.
   */
  netrcWarning(): string | null {
    if (!this.fromNetrc) return null;
    this.fromNetrc = false;
    const mode = netrcExposedMode();
    return mode === null ? null : `~/.netrc may be read or changed by other users (mode ${mode.toString(8).padStart(4, "0")}), and it holds the password for ${this.user}@${this.url.host}: chmod 600 ~/.netrc`;
  }

  /** The password a login used (to keep for `ftpkit resume`); undefined for anonymous or none asked yet. */
  known(): string | undefined {
    return this.anonymous ? undefined : this.resolved;
  }

  private async find(): Promise<string> {
    const { url, netrc, user } = this;
    if (url.password !== undefined) return url.password;
    if (this.saved !== undefined && !this.savedRefused) return usable(this.saved, "the password kept for this transfer");
    if (process.env.FTPKIT_PASSWORD !== undefined) return usable(process.env.FTPKIT_PASSWORD, "$FTPKIT_PASSWORD");
    if (netrc?.password !== undefined && (netrc.login === undefined || netrc.login === user)) {
      this.fromNetrc = true;
      return usable(netrc.password, "the password in ~/.netrc");
    }
    if (this.anonymous) return "anonymous@";
    let typed: string | null;
    try {
      typed = await promptHidden(`Password for ${user}@${url.host}: `);
    } catch (err) {
      if (!(err instanceof NoAnswer)) throw err;
      // Ctrl-C: an interruption (130), not a missing password (exit 6, "put it in the URL…").
      endAsInterrupted();
    }
    if (typed !== null) return usable(typed, "the password typed");
    // `ftpkit resume` takes no URL: after a refused saved password, say which sources are left.
    if (this.savedRefused) throw new ClientError(`the server refused the password kept for this transfer of ${user}@${url.host} (changed since?): give the new one in $FTPKIT_PASSWORD or ~/.netrc, or run resume at a terminal to be asked`, { kind: "auth" });
    throw new ClientError(`no password for ${user}@${url.host} (put it in the URL, $FTPKIT_PASSWORD or ~/.netrc)`, { kind: "auth" });
  }
}

/**
 * A user name or password from outside the URL (which parseFtpUrl checks): CR, LF or NUL would end
 * or cut the USER/PASS line, so it is bad usage (exit 2), said in one line that never shows it.
 */
function usable(value: string, source: string): string {
  if (breaksCommandLine(value)) throw new ClientError(`${source} contains control characters (CR, LF or NUL)`, { kind: "usage" });
  return value;
}

export type SessionOptions = { active?: boolean; timeoutMs?: number; stallMs?: number; verify?: boolean; hash?: DigestAlgorithm } & SecurityOptions;

/**
 * Connect (securing the connection first under TLS), log in, learn the login directory, read FEAT, switch to binary.
 * Until then the connect, the TLS handshake and each reply wait no longer than --stall-timeout (stallMs)
 * when it is the shorter bound: a server frozen before its greeting or during the login (stopped, hung)
 * is given up in seconds, on a job's first connection as on a reconnection, not after the 60 s reply
 * timeout. A password prompt is not bounded (it waits between replies); stallMs 0 keeps the usual bounds.
 */
export async function openSession(url: FtpUrl, opts: SessionOptions, creds: Credentials = new Credentials(url), signal?: AbortSignal): Promise<FtpClient> {
  const mode = tlsMode(url, opts);
  const tls = mode ? { mode, settings: { host: url.host, ca: opts.ca, insecure: opts.insecure } } : undefined;
  const client = await FtpClient.connect({ host: url.host, port: url.port, active: opts.active, timeoutMs: opts.timeoutMs, setupTimeoutMs: opts.stallMs, stallMs: opts.stallMs, tls });
  // A job that no longer needs this connection drops it at once, not after the server's answers.
  const drop = () => client.destroy();
  if (signal?.aborted) drop();
  signal?.addEventListener("abort", drop, { once: true });
  try {
    try {
      await client.login(creds.user, () => creds.password());
    } catch (err) {
      if (!(err instanceof ClientError && err.code === 530 && creds.refusedSaved())) throw err;
      await client.login(creds.user, () => creds.password());
    }
    // URL paths are relative to where the login put us (RFC 1738 §3.2.2): remember it once. The
    // three go out in one packet (replies come in command order): two round trips fewer per
    // connection, which a tree job opens up to --parallel times.
    const [home] = await Promise.all([client.pwd(), client.feat(), client.binary()]);
    client.home = home;
    if (opts.verify && opts.hash) await client.announceHash(opts.hash);
    if (signal?.aborted) throw new ClientError("no longer needed");
    client.settled();
    return client;
  } catch (err) {
    client.destroy();
    throw err;
  } finally {
    signal?.removeEventListener("abort", drop);
  }
}

export function isRetryable(err: unknown): boolean {
  return err instanceof ClientError && err.retryable;
}

/**
 * Whether `ftpkit resume` can go on after this failure: a dropped connection or a 4yz reply, and
 * also a server that could not be reached again once --retries ran out (connection refused).
 */
export function worthResuming(err: unknown): boolean {
  return isRetryable(err) || failureKind(err) === "network";
}

/** How long a refused data connection waits to see the control connection close too (worthRetrying). */
const CLOSE_AFTER_REFUSAL_MS = 1000;

/**
 * Whether a failed step of a transfer is worth a reconnection: a dropped connection or a 4yz reply,
 * and also a refusal after which the server ended the session. vsftpd answers "500 OOPS: …" and
 * hangs up when its privileged helper dies (seen in the benchmark: one file in ~1,000 of a tree job,
 * after earlier rows had left ~25,000 TIME_WAIT connections; most likely its passive port bind); the
 * same command on a new session succeeds. Costs a NOOP round trip, on failures only.
 */
export async function worthRetrying(client: FtpClient, err: unknown): Promise<boolean> {
  if (isRetryable(err)) return true;
  if (!(err instanceof ClientError)) return false;
  // No reply behind it: a data connection refused or reset. Worth it when the server went away
  // meanwhile (restarted between its EPSV reply and our connect: its control connection is gone
  // too); on a live session (a firewall) it would only fail again, and a NOOP would wait behind
  // the transfer command. The control connection's close can arrive a moment after the refusal
  // (CI saw it): waited for, briefly, before the session counts as live.
  if (err.code === undefined) {
    if (err.kind !== "network") return false;
    if (!client.control.isClosed) await settleWithin(client.control.closed, CLOSE_AFTER_REFUSAL_MS);
    return client.control.isClosed;
  }
  return !(await client.alive());
}

export function backoff(attempt: number, base: number, signal?: AbortSignal): Promise<void> {
  const ms = Math.min(base * 2 ** Math.max(0, attempt - 1), 10_000);
  if (!signal) return Bun.sleep(ms);
  // Ends early once the signal says the wait is for nothing.
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    if (signal.aborted) done();
    else signal.addEventListener("abort", done, { once: true });
  });
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
   * The first connection of a job (a single get, put or ls; a tree job's first). A server that
   * answers 421 at the greeting or at login (too many connections: vsftpd's max_clients, ftpkit's
   * --max-per-ip, pyftpdlib) may have room a moment later: back off and try again, --retries times,
   * one line per retry, then fail with one line that quotes the server and says so.
   */
  static async open(url: FtpUrl, opts: SessionOptions & { retries: number; backoffMs?: number }, creds: Credentials, note: { warn(msg: string): void }): Promise<Session> {
    for (let attempt = 1; ; attempt++) {
      try {
        const session = await Session.another(url, opts, creds);
        const exposed = creds.netrcWarning();
        if (exposed) note.warn(exposed);
        return session;
      } catch (err) {
        if (!(err instanceof ClientError) || err.code !== 421 || opts.retries === 0) throw err;
        if (attempt > opts.retries) {
          throw new ClientError(`${err.message}; gave up after ${attempt} attempts (--retries ${opts.retries})`, { code: 421, kind: err.kind ?? "server" });
        }
        note.warn(`${err.message}; retrying (attempt ${attempt} of ${opts.retries})`);
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
    if (attempt > this.opts.retries || !(await worthRetrying(failed, err))) return null;
    note.warn(`${(err as Error).message}; reconnecting (attempt ${attempt} of ${this.opts.retries})`);
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
        if (!isRetryable(e) && !/connection refused|timed out/.test((e as Error).message)) throw e;
        if (attempt > this.opts.retries) throw e;
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
