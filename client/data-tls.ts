// TLS on a data connection under PROT P (RFC 4217): started with the client as the TLS client,
// offering the control connection's session, and waited for (or for the server's refusal) before
// a byte moves. When it starts (after the transfer command's 1yz) is data-channel.ts's call, told
// at its top; this is the how, shared by passive and active mode (active-transfer.ts).
import type { FtpReply } from "../protocol/reply.ts";
import type { FtpClient } from "./client.ts";
import type { Connection } from "./connection.ts";
import { ClientError, describe, replyError } from "./errors.ts";

/**
 * PROT P: the data connection becomes TLS, we the TLS client, offering the control connection's
 * session (vsftpd's require_ssl_reuse refuses a data connection that does not resume it).
 */
export function startDataTls(client: FtpClient, conn: Connection): void {
  const tls = client.opts.tls;
  if (!tls) return;
  void conn.startTls(tls.settings, { session: client.offerTlsSession ? client.control.tlsSession() : null, data: true });
}

/**
 * A TLS data connection is usable after its handshake: wait for it, or for the server's refusal.
 * A 522 here is RFC 4217's "TLS failed on the data connection" (pyftpdlib's answer to a failed
 * handshake, often ahead of the failure itself): a TLS failure like ours, retried the same way.
 */
export async function dataReady(client: FtpClient, conn: Connection, done: Promise<FtpReply>, verb: string, arg?: string): Promise<void> {
  const tls = client.opts.tls;
  if (!tls) return;
  const failed = `TLS handshake on the data connection with ${tls.settings.host}`;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      conn.ready,
      done.then((r) => {
        const what = `${verb}${arg ? ` ${arg}` : ""}`;
        // No `code`: callers read a 5yz code as a lasting refusal (a tree's root "not found").
        if (r.code === 522) throw new ClientError(`${failed} failed: ${what}: ${describe(r)}`, { kind: "tls", retryable: true });
        if (r.code >= 300) throw replyError(what, r);
        return conn.ready;
      }),
      new Promise<never>((_, reject) => {
        const ms = client.handshakeMs;
        timer = setTimeout(() => reject(new ClientError(`${failed} timed out (${ms / 1000} s)`, { retryable: true, kind: "tls" })), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
