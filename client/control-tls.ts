// FTPS on the control connection (RFC 4217): the TLS handshake, bounded, and AUTH TLS → handshake →
// PBSZ 0 → PROT P, refusing to go on in clear text at any step.
import type { Connection } from "./connection.ts";
import { ClientError, describe, NotTlsAnswer } from "./errors.ts";
import type { FtpClient } from "./client.ts";

/** Wait for the control connection's TLS handshake, at most `ms` (0: no bound); `endpoint` names the server in the error. */
export async function controlHandshake(control: Connection, endpoint: string, ms: number): Promise<void> {
  if (ms <= 0) return control.ready;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      control.ready,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new ClientError(`TLS handshake with ${endpoint} timed out (${ms / 1000} s)`, { retryable: true, kind: "tls" })), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** AUTH TLS (explicit only) → handshake (at most `ms`) → PBSZ 0 → PROT P (RFC 4217 §§4, 8, 9). */
export async function secureControl(client: FtpClient, mode: "explicit" | "implicit", ms: number): Promise<void> {
  if (mode === "explicit") {
    const r = await client.command("AUTH", "TLS");
    if (r.code !== 234) {
      throw new ClientError(`server does not support AUTH TLS: ${describe(r)}; refusing to continue in clear text`, { code: r.code, kind: "tls" });
    }
    // Whatever came in clear behind the 234 (in its packet or before the upgrade) would be read as
    // the replies to PBSZ, PROT, USER… sent inside TLS: someone on the path answering for the server
    // (the STARTTLS injection class, as CVE-2011-0411 on the server side). Nothing may be there.
    if (client.holdsUnreadReplies) {
      client.control.destroy();
      throw new ClientError(`server ${client.endpoint()} sent more in clear text after its 234 reply to AUTH TLS (injected replies?); refusing to continue`, { kind: "tls" });
    }
    client.control.startTls(client.opts.tls!.settings);
    try {
      await controlHandshake(client.control, client.endpoint(), ms);
    } catch (err) {
      // describeTlsError's hint for a port that does not speak TLS ("use --tls, not ftps://") is
      // for implicit FTPS; here --tls is what was used, and the server said yes before it did not.
      if (err instanceof NotTlsAnswer) {
        throw new ClientError(`TLS handshake with ${client.opts.tls!.settings.host} failed: the server answered AUTH TLS with 234 but did not speak TLS after it`, { kind: "tls" });
      }
      throw err;
    }
  }
  const pbsz = await client.command("PBSZ", "0");
  if (pbsz.code !== 200) throw new ClientError(`server refused PBSZ 0 after TLS: ${describe(pbsz)}`, { code: pbsz.code, kind: "tls" });
  const prot = await client.command("PROT", "P");
  if (prot.code !== 200) throw new ClientError(`server refused PROT P (encrypted data connections): ${describe(prot)}`, { code: prot.code, kind: "tls" });
}
