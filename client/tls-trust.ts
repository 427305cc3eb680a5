// Who the client trusts over TLS (RFC 4217): the system CAs plus --ca, or nothing checked with
// --insecure; and one clear line for every way a handshake or a certificate check can fail.
import { ClientError, NotTlsAnswer } from "./errors.ts";
import { withoutZone } from "../protocol/address.ts";
import { CLI_WORDS, type OptionWords } from "./option-words.ts";

/** How to verify and resume TLS for one server. */
export interface TlsSettings {
  /** The name the server's certificate must carry (the URL host). */
  host: string;
  /** Extra PEM certificates to trust besides the system CAs (--ca). */
  ca?: string[];
  /** Accept any certificate, unverified (--insecure). */
  insecure?: boolean;
  /** How the hints of its errors name the options (default: the CLI's flags). */
  words?: OptionWords;
}


let systemCas: string[] | null = null;

/** Bun's `tls` options for verifying `settings.host`: the system CAs plus --ca, or nothing checked with --insecure. */
export function tlsOptions(settings: TlsSettings): Record<string, unknown> {
  // A certificate names the address, never its zone id (fe80::1%eth0).
  const opts: Record<string, unknown> = { serverName: withoutZone(settings.host) };
  if (settings.insecure) return { ...opts, rejectUnauthorized: false };
  if (systemCas === null) {
    // Loaded here, not at start-up: node:tls costs ~25 ms to load, and plain FTP never needs it.
    const { getCACertificates } = require("node:tls") as typeof import("node:tls");
    try {
      systemCas = getCACertificates("system");
    } catch {
      systemCas = [];
    }
    // No system store readable: Bun's bundled Mozilla list is the next best thing.
    if (systemCas.length === 0) systemCas = [...getCACertificates("bundled")];
  }
  // `ca` replaces the trusted list, so the system CAs are passed along with the extra ones.
  return { ...opts, rejectUnauthorized: true, ca: [...systemCas, ...(settings.ca ?? [])] };
}

/** A certificate that did not verify (as opposed to a handshake that failed): --insecure accepts it. */
export function isVerifyError(err: Error | null | undefined): boolean {
  if (!err) return false;
  const text = `${(err as { code?: string }).code ?? ""} ${err.message}`;
  return /SELF_SIGNED|self.signed|CERT_|ALTNAME|altnames|ISSUER|UNABLE_TO_(GET|VERIFY)|unable to (get|verify)|EXPIRED|NOT_YET_VALID/i.test(text);
}

/** One line for a failed handshake or certificate check (never a stack trace). */
export function describeTlsError(err: Error | null | undefined, settings: TlsSettings): ClientError {
  const host = settings.host;
  const code = (err as { code?: string } | null)?.code ?? "";
  const msg = err?.message ?? "handshake failed";
  // With --ca given (or kept by a resumed job), "use --ca" read as if it had been lost: say it did not vouch.
  const w = settings.words ?? CLI_WORDS;
  // A server's own certificate issued by a CA is no anchor for OpenSSL without a partial chain
  // (curl and lftp accept it): said, since pinning it that way is common.
  const hint = settings.ca?.length ? `no ${w.ca} certificate vouches for it either (${w.ca} takes the root CA of its chain, or the server's own certificate only when self-signed; has the server's certificate changed?); use the right ${w.caFile} or ${w.insecure}` : `use ${w.caFile} or ${w.insecure}`;
  if (/SELF_SIGNED|self.signed/i.test(code + msg)) return new ClientError(`TLS: certificate for ${host} is not trusted (self-signed); ${hint}`, { kind: "tls" });
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID" || /altnames|does not match/i.test(msg)) {
    // "Host: x. is not in the cert's altnames: DNS:localhost, IP Address:127.0.0.1": the last list is the certificate's.
    // Without altnames: "…altnames: Host: x. is not cert's CN: y": the certificate's is the CN.
    // An IP address: "…altnames: IP: 10.0.0.1 is not in the cert's list: 127.0.0.1" (empty when it has none).
    const at = msg.lastIndexOf("altnames: ");
    const cn = /is not cert's CN: (.*)$/.exec(msg);
    const ips = /is not in the cert's list:(.*)$/.exec(msg);
    const names = cn ? `CN ${cn[1]!.trim()}` : ips ? (ips[1]!.trim() ? `IP ${ips[1]!.trim()}` : "") : at >= 0 ? msg.slice(at + "altnames: ".length).trim() : "";
    const why = names ? ` (it is for ${names})` : ips ? " (it names no IP address: a CN does not count for one)" : "";
    return new ClientError(`TLS: certificate does not match ${host}${why}; connect by a name it carries or use ${w.insecure}`, { kind: "tls" });
  }
  if (/EXPIRED|expired/.test(code + msg)) return new ClientError(`TLS: certificate for ${host} has expired; use ${w.insecure} to accept it anyway`, { kind: "tls" });
  if (/NOT_YET_VALID|not yet valid/i.test(code + msg)) return new ClientError(`TLS: certificate for ${host} is not yet valid; use ${w.insecure} to accept it anyway`, { kind: "tls" });
  if (/ISSUER|UNABLE_TO_VERIFY|unable to (get|verify)/i.test(code + msg)) {
    return new ClientError(`TLS: certificate for ${host} is not trusted (unknown issuer); ${hint}`, { kind: "tls" });
  }
  if (/WRONG_VERSION_NUMBER|wrong version number|packet length too long|http request/i.test(code + msg)) {
    return new NotTlsAnswer(`TLS handshake with ${host} failed: the server did not answer in TLS (for an ftp:// port use ${w.tls}, not ftps://)`);
  }
  return new ClientError(`TLS handshake with ${host} failed: ${msg}${code && !msg.includes(code) ? ` (${code})` : ""}`, { kind: "tls" });
}

/**
 * One line for a data connection's failed handshake (kind "tls", exit 5). It is retryable, like a
 * dropped data connection: the control connection's handshake worked, so a new try may well too. A
 * certificate we refuse is not: every new connection would present it again.
 */
export function describeDataTlsError(err: Error | null | undefined, settings: TlsSettings): ClientError {
  if (isVerifyError(err)) return describeTlsError(err, settings);
  const code = (err as { code?: string } | null)?.code ?? "";
  const msg = err?.message ?? "";
  const notTls = !!err && /WRONG_VERSION_NUMBER|wrong version number|packet length too long/i.test(code + msg);
  const why = !err
    ? "the server closed it during the handshake"
    : /ECONNRESET|reset by peer/i.test(code + msg)
      ? "the server reset it during the handshake"
      : notTls
        ? "the server did not answer in TLS"
        : msg || "handshake failed";
  const suffix = code && !why.includes(code) ? ` (${code})` : "";
  const line = `TLS handshake on the data connection with ${settings.host} failed: ${why}${suffix}`;
  return notTls ? new NotTlsAnswer(line, { retryable: true }) : new ClientError(line, { kind: "tls", retryable: true });
}
