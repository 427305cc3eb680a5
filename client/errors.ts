import type { FtpReply } from "../protocol/reply.ts";

/**
 * What kind of failure ended a command: the CLI's exit status says it (see `EXIT_STATUS`), so a
 * script can tell a refused password from a dropped network or a corrupt download.
 */
export type FailureKind = "usage" | "local" | "network" | "tls" | "auth" | "protocol" | "server" | "verify";

/**
 * Exit statuses, after wget's (2–8 mean what they mean there; 9 is ours): 0 success, 1 any other
 * failure (a conflict with a pending job, a changed file, a lock held by another run), 130 and up a
 * signal. When a tree job's files fail in different ways, the lowest status of 2–9 wins, as in wget.
 */
export const EXIT_STATUS: Record<FailureKind, number> = {
  usage: 2, // a bad flag, URL or argument
  local: 3, // a local file or directory cannot be read or written
  network: 4, // connection refused, unknown host, timeout, connection lost
  tls: 5, // certificate not trusted, handshake failed, server without TLS
  auth: 6, // login refused, no password
  protocol: 7, // the server broke the protocol (malformed or unending replies)
  server: 8, // the server answered with an error (no such file, permission denied, over quota…)
  verify: 9, // the bytes arrived but their digest or size does not match the server's
};

export interface ClientErrorOptions {
  /** The FTP reply code behind the failure, if any. */
  code?: number;
  /** The command the server refused outright (its first reply a final error, before any 1yz): "STOR", "APPE", "REST"… */
  refused?: string;
  retryable?: boolean;
  kind?: FailureKind;
}

/**
 * An expected client failure (refused login, missing file, changed remote file, digest mismatch…).
 * The CLI prints its message as one line and exits with the status of its `kind`.
 */
export class ClientError extends Error {
  override name = "ClientError";
  readonly code?: number;
  /**
   * The command the reply `code` refused outright, when the failure is that refusal: what a caller
   * decides on, with the code, instead of the reply's text (which a server may translate).
   */
  readonly refused?: string;
  /** True when reconnecting and continuing may help (a dropped connection, a 4xx reply). */
  readonly retryable: boolean;
  private readonly givenKind?: FailureKind;

  constructor(message: string, opts: ClientErrorOptions = {}) {
    super(message);
    if (opts.code !== undefined) this.code = opts.code;
    if (opts.refused !== undefined) this.refused = opts.refused;
    this.retryable = opts.retryable ?? false;
    if (opts.kind !== undefined) this.givenKind = opts.kind;
  }

  /**
   * The kind given where the error was raised, else what its reply says (a refused login is
   * "auth", any other reply "server"), else a retryable failure without a reply is the network's.
   */
  get kind(): FailureKind | null {
    if (this.givenKind) return this.givenKind;
    if (this.code === 530 || this.code === 332) return "auth";
    // 426 "Connection closed; transfer aborted": the data connection was lost, the network's failure
    // (4) however it comes; a RETR or STOR ended so (TransferInterrupted) was 4, a listing 8.
    if (this.code === 426) return "network";
    if (this.code !== undefined) return "server";
    return this.retryable ? "network" : null;
  }
}

/**
 * REST refused as a command the server lacks (500 not recognised, 502 not implemented, 504 not for
 * that parameter): continuing at a byte cannot work on this server, so a download starts over, a
 * segmented one runs as one stream, an upload appends or is sent whole. Other refusals (550, 4yz)
 * are ordinary ClientErrors.
 */
export class RestUnsupported extends ClientError {
  // Named "ClientError" as every expected failure is (the CLI prints those as one line, by name, so
  // it need not load this module): as "RestUnsupported" it reached the user with a stack trace.
  // A string: REST answered 350 and not honoured (the data came from byte 0 all the same), which a
  // segmented download finds out by its last range running past the file's end.
  constructor(r: FtpReply | string) {
    if (typeof r === "string") super(r);
    else super(`the server does not support REST (${describe(r)})`, { code: r.code });
  }
}

/**
 * The server sent more of a file than the size it reported: the file grew while it was sent (vsftpd
 * sends what is there at each read), else a broken server (exit 7). A download tells the two apart
 * by the size the server gives now (RemoteChanged).
 */
export class SentMoreThanReported extends ClientError {
  constructor(message: string) {
    super(message, { kind: "protocol" });
  }
}

/**
 * The remote file changed while it was downloaded: what came is neither the old file nor the new one
 * for sure. A mismatch between what arrived and the server's file, as any other (exit 9), however it
 * shows (a digest that differs, a transfer that ends early, more bytes than reported).
 */
export class RemoteChanged extends ClientError {
  constructor(
    readonly change: string,
    kept?: string,
  ) {
    super(`the remote file changed during the download (${change})${kept ? `; ${kept}: get it again` : ""}`, { kind: "verify" });
  }
}

/** Why a connection could not be opened: the one thing that tells a wrong port from a server busy starting. */
export type ConnectFailureReason = "refused" | "unknown host" | "no interface" | "timed out" | "reset" | "other";

/** A TCP connection that could not be opened (connection.ts): the network's failure (exit 4), and why. */
export class ConnectFailure extends ClientError {
  constructor(
    message: string,
    readonly reason: ConnectFailureReason,
  ) {
    super(message, { kind: "network" });
  }
}

/**
 * No greeting in clear text under --tls (silence, or a close): most often an implicit TLS port
 * waiting for a ClientHello, a wrong URL rather than a moment's trouble, unless the server greeted
 * this job before (see transientOpenFailure). Retryable as the drop or timeout it also is.
 */
export class NoClearGreeting extends ClientError {
  constructor(message: string) {
    super(message, { retryable: true, kind: "tls" });
  }
}

/**
 * The server answered a TLS handshake with something that is not TLS (an FTP greeting, an HTTP page):
 * the wrong port or mode rather than a certificate or a lost packet. Typed, so the caller that knows
 * more (an explicit --tls session whose server said 234 first: control-tls.ts) can say so without
 * reading this message.
 */
export class NotTlsAnswer extends ClientError {
  constructor(message: string, opts: { retryable?: boolean } = {}) {
    super(message, { kind: "tls", retryable: opts.retryable ?? false });
  }
}

/**
 * A 530 that says the server is full, not that the login is wrong: ProFTPD answers its MaxClients*
 * limits this way ("Sorry, the maximum number of clients (5) from your host are already connected.",
 * "Sorry, the maximum number of allowed clients (5) are already connected."), where vsftpd and
 * pyftpdlib answer 421. The code cannot tell it from a refused password (530 too), nor can the
 * context: ProFTPD closes the connection after it, as a server allowing one login attempt does after
 * a wrong password, and retrying a wrong password is what gets an address banned. So the text is the
 * hint here, matched narrowly (the limit named and reached): ProFTPD does not translate these lines
 * (none of its NLS catalogs has them; checked against its fr, es, it, ru, bg, ja, ko, zh ones), and
 * an admin's own wording, in any language, reads as a refusal: not retried, the safe side.
 */
const TOO_MANY_CLIENTS = /\bmaximum number of (?:allowed )?(?:clients|users)\b.*\b(?:already connected|reached)\b/i;

/**
 * A login refused for want of TLS: RFC 4217's 534 (IIS: "534 Policy requires SSL."), or a refusal
 * that names it. Pure-FTPd (-Y 2, -Y 3) answers USER "421 Sorry, cleartext sessions and weak ciphers
 * are not accepted on this server. Please reconnect using TLS security mechanisms." (a 421, read as a
 * full server: retried --retries times, and never a word of --tls); vsftpd "530 Non-anonymous
 * sessions must use encryption."; ProFTPD and pyftpdlib "550 SSL/TLS required on the control
 * channel"; ftpkit "530 TLS required: …". Asked only of a session in clear text.
 */
const WANTS_TLS = /\b(?:TLS|SSL|encryption|encrypted|cleartext|clear-text)\b/i;

export function wantsTls(r: FtpReply): boolean {
  return r.code === 534 || (r.code >= 400 && WANTS_TLS.test(r.lines.join(" ")));
}

/**
 * A positive reply (1yz-3yz) that cannot answer `verb` (a 220 to USER, a 213 to EPSV): a reply sent
 * unasked has put the server's replies out of step with the commands. The server's protocol error
 * (exit 7), never read as a refusal (a wrong password, a mode not offered) that decides what happens next.
 */
export function outOfStep(verb: string, r: FtpReply): ClientError {
  return new ClientError(`the server answered ${verb} with ${describe(r)}, which is no reply to it (out of step)`, { code: r.code, kind: "protocol" });
}

/** Does `r` refuse a session because the server is full: a 421, or a 530 that says so (see TOO_MANY_CLIENTS)? */
export function tooManyClients(r: FtpReply): boolean {
  return r.code === 421 || (r.code === 530 && TOO_MANY_CLIENTS.test(r.lines.join(" ")));
}

/**
 * ProFTPD's refusal of REST+STOR and of APPE under its default `AllowStoreRestart off`: "451 /f.bin:
 * Append/Restart not permitted, try again", translated with its NLS ("451 f.bin : ajout/reprise non
 * permis, veuillez recommencer"). A 4yz, but lasting: every retry and every `ftpkit resume` got the
 * same answer. Decided by code and context, never by the text: a 451 by which the server refuses APPE,
 * or STOR after a REST to a byte past 0, outright (no 150 first: a transfer that failed once begun is
 * not this). Another server's transient 451 there costs a whole upload instead of a resumed one, once.
 */
export function restartNotPermitted(err: unknown, verb: "STOR" | "APPE", offset: number): boolean {
  return err instanceof ClientError && err.code === 451 && err.refused === verb && (verb === "APPE" || offset > 0);
}

/** Reply codes that mean the server has no REST at all (RFC 959 §4.2: 500, 502, 504). */
export const REST_UNSUPPORTED_CODES: readonly number[] = [500, 502, 504];

/** The kind of any error: a ClientError's own, a local system error's ("local"), else null (status 1). */
export function failureKind(err: unknown): FailureKind | null {
  if (err instanceof ClientError) return err.kind;
  const code = (err as { code?: unknown })?.code;
  if (typeof code === "string" && /^E[A-Z]+$/.test(code) && (err as { syscall?: unknown }).syscall !== undefined) {
    return /^(ECONN|ENOTFOUND|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EPIPE)/.test(code) ? "network" : "local";
  }
  return null;
}

// localCause moved to protocol/ (the server's `ftpkit user` code words its failures the same way).
export { localCause } from "../protocol/local-cause.ts";

const movedBeforeFailure = new WeakMap<object, number>();

/** Remember that a transfer moved `moved` bytes before it failed with `err` (its --json report says so). */
export function failedAfter<E>(err: E, moved: number): E {
  if (typeof err === "object" && err !== null && moved > 0) movedBeforeFailure.set(err, moved);
  return err;
}

/** The bytes a failed transfer had moved (0 when none, or when nothing recorded them). */
export function movedBefore(err: unknown): number {
  return (typeof err === "object" && err !== null && movedBeforeFailure.get(err)) || 0;
}

/** The kind a job with these failures reports: the one with the lowest exit status, as wget does. */
export function worstKind(kinds: Iterable<FailureKind | null>): FailureKind | null {
  let best: FailureKind | null = null;
  for (const k of kinds) if (k && (best === null || EXIT_STATUS[k] < EXIT_STATUS[best])) best = k;
  return best;
}

/** Parse what a server sent: a reply it got wrong is its protocol error, not a bad argument of ours. */
export function fromServer<T>(what: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if ((err as Error)?.name !== "ParseError") throw err;
    throw new ClientError(`protocol error from server: ${what}: ${(err as Error).message}`, { kind: "protocol" });
  }
}

/** "550 No such file" → "No such file (550)". */
export function describe(r: FtpReply): string {
  return `${r.lines.map((l) => l.trim()).filter(Boolean).join(" ")} (${r.code})`;
}

/**
 * A ClientError for an unexpected reply; 4yz replies are transient (worth a retry). `refused`: the
 * command this reply refused outright (see ClientError.refused).
 */
export function replyError(what: string, r: FtpReply, refused?: string): ClientError {
  return new ClientError(`${what}: ${describe(r)}`, { code: r.code, retryable: r.code >= 400 && r.code < 500, ...(refused ? { refused } : {}) });
}

/** The server refused passive or active mode for good (a 5yz to PASV or PORT, after EPSV or EPRT): no path was asked about. */
export function isDataModeRefusal(err: unknown): boolean {
  return err instanceof ClientError && (err.refused === "PASV" || err.refused === "PORT") && (err.code ?? 0) >= 500;
}

/**
 * No data connection was set up: the server refused EPSV, PASV, EPRT or PORT (for good or for now),
 * or the connection to the port it gave failed. No path was asked about.
 */
export function isDataSetupFailure(err: unknown): boolean {
  if (err instanceof ConnectFailure) return true;
  return err instanceof ClientError && ["EPSV", "PASV", "EPRT", "PORT"].includes(err.refused ?? "");
}
