// When a failure is worth another try (a reconnection now, `ftpkit resume` later), and the backoff
// between tries.
import type { FtpClient } from "./client.ts";
import { ClientError, ConnectFailure, failureKind, NoClearGreeting } from "./errors.ts";
import { settleWithin } from "./transfer.ts";

export function isRetryable(err: unknown): boolean {
  return err instanceof ClientError && err.retryable;
}

/**
 * A failure that was tried again until --retries ran out says so in its message, as a job's first
 * connection does ("…; gave up after 3 attempts (--retries 2)"): a listing ended by 426 on every
 * try said only "listing: … (426)", like one never tried again. Changed in place: callers go on
 * deciding by its class, code and kind.
 */
export function countAttempts(err: unknown, attempts: number, retries: number, worth = isRetryable(err)): void {
  if (retries > 0 && attempts > retries && worth && err instanceof Error) err.message += `; gave up after ${attempts} attempts (--retries ${retries})`;
}

/**
 * Whether opening a session (connect, TLS, greeting, login, PWD/FEAT/TYPE) failed for a reason a
 * moment may cure, so that a job's first connection (Session.open) and a reconnection
 * (Session.replaceClient) back off and try again within --retries: a connect or a reply that timed
 * out (a server frozen, a load balancer with no backend yet), a connection dropped or reset before
 * the session settled, a full server (421, ProFTPD's "maximum number of clients" 530), any other 4yz.
 * Never an unknown host, a certificate not trusted, a refused login (530), a server without AUTH TLS.
 *
 * Two failures only on a reconnection, where the server answered this job a moment ago: a refused
 * connection (it is restarting) and no clear-text greeting under --tls. On a job's first connection
 * they mean a wrong port (an implicit TLS port for the second, which its message says), which fails
 * at once, as curl and wget do unless told (--retry-connrefused).
 */
export function transientOpenFailure(err: unknown, reconnecting: boolean): boolean {
  if (err instanceof ConnectFailure) return err.reason === "timed out" || err.reason === "reset" || (reconnecting && err.reason === "refused");
  if (err instanceof NoClearGreeting) return reconnecting;
  if (err instanceof ClientError) return err.retryable;
  // A reset that reached us as the socket's own error, not described yet.
  const code = (err as { code?: unknown })?.code;
  return code === "ECONNRESET" || code === "ECONNABORTED" || code === "EPIPE";
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

/**
 * A check asked after a transfer's 226 (SIZE after an upload, MDTM after a download) was refused
 * (5yz): it counts as the server's answer only when the session goes on (a later reply, or a NOOP's:
 * FtpClient.goesOn); else it is a lost connection, retried as one. vsftpd whose session lost its
 * privileged process finishes the transfer, answers 226, then "500 OOPS: priv_sock_send_cmd" unasked,
 * and hangs up: that 500 was read as the check's reply before the close was seen, and an upload
 * passed as "not verified (no size either)", exit 0, as a file cut short would have. Only for a verb
 * the server lists in FEAT: one without it refuses every file, and a tree job paid a NOOP each.
 */
export async function refusalStands(client: FtpClient, verb: string): Promise<void> {
  if (!client.features.has(verb) && !client.control.isClosed) return;
  if (await client.goesOn()) return;
  throw new ClientError(`the server ended the session after the transfer (its reply to ${verb} was a refusal, then it hung up)`, { retryable: true, kind: "network" });
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
