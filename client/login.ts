// Logging in (RFC 959 §4.1.1 USER, PASS): the wait a refused password may take, and what kind of
// failure a refusal is.
import type { FtpClient } from "./client.ts";
import { ClientError, describe, outOfStep, tooManyClients, wantsTls } from "./errors.ts";
import { DEFAULT_REPLY_TIMEOUT_MS } from "./client-options.ts";
import { CLI_WORDS } from "./option-words.ts";

/**
 * USER/PASS on `client`. `password` is only asked for when the server wants one (331). A refusal
 * says which kind it is, as the exit status and the retries go by it: a wrong password (auth, never
 * retried), a full server (retried), or one that wants TLS first.
 */
export async function loginAs(client: FtpClient, user: string, password: () => Promise<string> | string): Promise<void> {
  let r = await client.command("USER", user);
  let verb = "USER";
  if (r.code === 331) {
    verb = "PASS";
    // A wrong password is often answered late on purpose (vsftpd's delay_failed_login, ProFTPD's
    // mod_delay, our server's back-off): that reply waits at least 60 s, not a short
    // --stall-timeout, so a refused password ends as a refusal (exit 6), never as a network
    // failure a script would retry with the same password.
    const ms = client.opts.timeoutMs ?? (client.waitMs === 0 ? 0 : Math.max(client.waitMs, DEFAULT_REPLY_TIMEOUT_MS));
    r = await client.untilFinal(await client.request("PASS", await password(), ms), ms);
  }
  if (r.code === 332) throw new ClientError(`login failed: the server wants an account (ACCT), which ftpkit does not support`, { code: r.code, kind: "auth" });
  if (r.code !== 230 && r.code !== 202) {
    // A positive reply that does not answer it (a second 220, a reply sent unasked before it): the
    // server is out of step, a protocol error (exit 7), not a refused login (exit 6: never retried).
    if (r.code < 400) throw outOfStep(verb, r);
    // Not a full server, nor a wrong password: no retry would fare better, --tls would.
    if (!client.secured && wantsTls(r)) {
      throw new ClientError(`login failed for user "${user}": ${describe(r)}; the server wants an encrypted session: use ${(client.opts.words ?? CLI_WORDS).tls} (or an ftps:// URL)`, { code: r.code, kind: "auth" });
    }
    // Every server tried refuses an empty name (ftpkit and pyftpdlib 501, ProFTPD 500, vsftpd 503 to the PASS after it).
    if (user === "") throw new ClientError(`login failed: the server refused the empty user name the URL gives (ftp://:@host/…): ${describe(r)}; name a user (ftp://USER@host/…), or none for anonymous`, { code: r.code, kind: "auth" });
    // A full server (421, or ProFTPD's 530 "maximum number of clients") has not judged the password.
    const full = tooManyClients(r);
    throw new ClientError(`login failed for user "${user}": ${describe(r)}`, { code: r.code, retryable: full, kind: full ? "server" : "auth" });
  }
}
