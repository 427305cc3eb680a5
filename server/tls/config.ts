// FTPS certificate loading and hot swap (RFC 4217). Start-up/config code: the one TLS file that reads files.
import { createPrivateKey, X509Certificate } from "node:crypto";
import { statSync } from "node:fs";
import { createSecureContext } from "node:tls";
import { NotRegularFile, readRegularFile } from "../read-regular.ts";
import { resolve } from "node:path";

/** A clear, one-line start-up problem with the certificate or key (missing, unreadable, mismatched). */
export class TlsConfigError extends Error {
  override name = "TlsConfigError";
}

/** One loaded certificate/key pair, exactly as handed to Bun's TLS options. */
export interface TlsMaterial {
  cert: string;
  key: string;
  /** SHA-256 fingerprint of the leaf certificate ("AB:CD:…"), for logs and tests. */
  fingerprint: string;
  notAfter: string;
  /** When the certificate starts to be valid (X509Certificate.validFrom's text). */
  notBefore: string;
  /** How many certificates the file holds (the leaf and its chain), for the reload log. */
  chain: number;
}

/**
 * What the caller calls the certificate, key and implicit port in its errors: `ftpkit serve`'s flags
 * (the default), or the package API's option names (cli/api.ts), so neither reads the other's.
 */
export interface TlsOptionNames {
  cert: string;
  key: string;
  implicitPort: string;
  /**
   * How to name a file the caller did not give as one (the API writes PEM text to a temp file):
   * its absolute path to the words shown instead. A path not here is shown as it is.
   */
  shown?: Readonly<Record<string, string>>;
}

export const TLS_FLAG_NAMES: TlsOptionNames = { cert: "--tls-cert", key: "--tls-key", implicitPort: "--implicit-tls-port" };

/** Read and check a certificate/key pair: both readable PEM, the key matches the certificate. */
export function loadTlsMaterial(certFile: string, keyFile: string, names: TlsOptionNames = TLS_FLAG_NAMES): TlsMaterial {
  const show = (file: string) => names.shown?.[file] ?? file;
  const cert = readPem(certFile, names.cert, "certificate", show);
  const key = readPem(keyFile, names.key, "private key", show);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch {
    throw new TlsConfigError(`${names.cert} ${show(certFile)}: not a PEM certificate`);
  }
  let pkey;
  try {
    pkey = createPrivateKey(key);
  } catch {
    throw new TlsConfigError(`${names.key} ${show(keyFile)}: not an unencrypted PEM private key`);
  }
  if (!x509.checkPrivateKey(pkey)) {
    const certIs = names.shown?.[certFile] === undefined ? `in ${certFile}` : `given as ${names.cert}`;
    throw new TlsConfigError(`${names.key} ${show(keyFile)} does not match the certificate ${certIs}`);
  }
  // X509Certificate reads the first block only: an intermediate cut in the middle passed, and then
  // every AUTH TLS failed after its 234. The TLS stack parses the whole file, as each handshake will.
  const refused = tlsRefusal(cert, key);
  if (refused?.file === "cert") throw new TlsConfigError(`${names.cert} ${show(certFile)}: the TLS library cannot use it (${refused.reason}): a certificate after the first (its chain) is damaged or cut`);
  if (refused) throw new TlsConfigError(`${names.key} ${show(keyFile)}: the TLS library cannot use it with the certificate (${refused.reason})`);
  const chain = cert.match(/-----BEGIN CERTIFICATE-----/g)?.length ?? 1;
  return { cert, key, fingerprint: x509.fingerprint256, notAfter: x509.validTo, notBefore: x509.validFrom, chain };
}

/**
 * Why the TLS stack would not take this pair, and which file it stumbled on (null = it would): the
 * parse Bun's upgradeTLS does (measured: it throws on exactly the files createSecureContext throws
 * on; 0.03-0.13 ms a pair).
 */
export function tlsRefusal(cert: string, key: string): { file: "cert" | "key"; reason: string } | null {
  const reason = (options: { cert: string; key?: string }) => {
    try {
      createSecureContext(options);
      return "";
    } catch (err) {
      // "error:09000066:PEM routines:OPENSSL_internal:BAD_END_LINE" → "PEM routines: BAD_END_LINE"
      return (err as Error).message.replace(/^error:[0-9a-f]+:/i, "").replace(/:OPENSSL_internal:/, ": ").slice(0, 120) || "unusable";
    }
  };
  const certAlone = reason({ cert });
  if (certAlone) return { file: "cert", reason: certAlone };
  const pair = reason({ cert, key });
  return pair ? { file: "key", reason: pair } : null;
}

/**
 * A replacement that every client would refuse (a renewal that copied an old file, a clock far off
 * when it was issued) is not swapped in for one that works: refused like a mismatched pair.
 */
function outOfDate(m: TlsMaterial, certFile: string, names: TlsOptionNames = TLS_FLAG_NAMES): void {
  const now = Date.now();
  const shown = names.shown?.[certFile] ?? certFile;
  if (Date.parse(m.notAfter) <= now) throw new TlsConfigError(`${names.cert} ${shown}: the certificate expired on ${m.notAfter}`);
  if (Date.parse(m.notBefore) > now) throw new TlsConfigError(`${names.cert} ${shown}: the certificate is not valid before ${m.notBefore}`);
}

/** A PEM file's cap: a long chain is a few tens of KiB. */
const PEM_MAX_BYTES = 1024 * 1024;

function readPem(file: string, flag: string, what: string, show: (file: string) => string): string {
  let text: string;
  try {
    text = readRegularFile(file, PEM_MAX_BYTES);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "not found" : code === "EACCES" ? "permission denied" : code === "EISDIR" ? "is a directory" : err instanceof NotRegularFile ? err.message : "cannot be read";
    throw new TlsConfigError(`${flag} ${show(file)}: ${why}`);
  }
  if (!text.includes("-----BEGIN")) throw new TlsConfigError(`${flag} ${show(file)}: no PEM ${what} in it`);
  // A byte order mark a Windows editor saved before the first line: the PEM parsers took the file for
  // no certificate, said as "the key does not match the certificate". openssl and nginx skip it.
  return text.startsWith("\uFEFF") ? text.slice(1) : text;
}

export interface TlsStoreOptions {
  certFile: string;
  keyFile: string;
  /** How often the files' stat signature is checked (ms, default 2000). */
  pollMs?: number;
  onSwap?: (m: TlsMaterial) => void;
  onError?: (message: string) => void;
  /** The certificate in use has expired or is not valid yet (said once per certificate, at start or when it happens). */
  onOutOfDate?: (message: string) => void;
  /** How errors name the files (default: ftpkit serve's flags). */
  names?: TlsOptionNames;
  /** The key file can be read by every local user (said at start and when a new pair is adopted). */
  onKeyExposed?: (message: string) => void;
}

/**
 * The server's current certificate. Loaded (and validated) once at start-up, then re-read when
 * the files change, without a restart: new connections get the new pair, running ones keep theirs.
 * A half-replaced pair (new cert, old key) is not adopted until both files match again.
 */
export class TlsCertStore {
  readonly certFile: string;
  readonly keyFile: string;
  private material: TlsMaterial;
  private signature: string;
  private timer: ReturnType<typeof setInterval> | null = null;
  private lastErrorText = "";
  /** The fingerprint whose dates were last said to be out of date ("" = none). */
  private outOfDateSaid = "";

  constructor(private readonly opts: TlsStoreOptions) {
    this.certFile = resolve(opts.certFile);
    this.keyFile = resolve(opts.keyFile);
    this.signature = this.stat();
    this.material = loadTlsMaterial(this.certFile, this.keyFile, this.opts.names);
  }

  get current(): TlsMaterial {
    return this.material;
  }

  /** Start polling the files (mtime/size/inode: survives editors and atomic renames, unlike fs.watch). */
  watch(): void {
    if (this.timer) return;
    this.checkDates();
    this.checkKeyMode();
    this.timer = setInterval(() => {
      this.check();
      this.checkDates();
    }, this.opts.pollMs ?? 2000);
    this.timer.unref?.();
  }

  /** Why the last re-read was refused ("" = the current files are in use). */
  get lastError(): string {
    return this.lastErrorText;
  }

  /** Re-read now if the files changed (or always, with `force`: SIGHUP); true when a new pair was adopted. */
  check(force = false): boolean {
    const sig = this.stat();
    if (sig === this.signature && !force) return false;
    try {
      const m = loadTlsMaterial(this.certFile, this.keyFile, this.opts.names);
      outOfDate(m, this.certFile, this.opts.names);
      this.signature = sig;
      this.lastErrorText = "";
      // The whole file, not the leaf's fingerprint: an admin who adds a forgotten intermediate
      // changes only the chain, and the server must start sending it.
      if (m.cert === this.material.cert && m.key === this.material.key) return false;
      this.material = m;
      this.opts.onSwap?.(m);
      this.checkKeyMode();
      return true;
    } catch (err) {
      const msg = `${(err as Error).message}; keeping the previous certificate`;
      if (msg !== this.lastErrorText || force) this.opts.onError?.(msg);
      this.lastErrorText = msg;
      return false;
    }
  }

  /** Say once if the certificate in use has expired (a renewal that has been failing) or is not valid yet. */
  private checkDates(): void {
    if (this.outOfDateSaid === this.material.fingerprint) return;
    try {
      outOfDate(this.material, this.certFile, this.opts.names);
    } catch (err) {
      this.outOfDateSaid = this.material.fingerprint;
      this.opts.onOutOfDate?.(`${(err as Error).message}: clients that check certificates refuse it until it is replaced`);
    }
  }

  /**
   * A private key every local account can read (a copy made with the default umask) is the server's
   * identity given away on a shared machine: said, not refused (sshd refuses such keys; a server
   * that stops serving at a renewal is worse here). Group-readable is Debian's ssl-cert way: fine.
   * Files the API wrote for its caller are its own business.
   */
  private checkKeyMode(): void {
    if (this.opts.names?.shown?.[this.keyFile] !== undefined) return;
    try {
      const mode = statSync(this.keyFile).mode & 0o777;
      if (!(mode & 0o004)) return;
      const key = this.opts.names?.key ?? TLS_FLAG_NAMES.key;
      this.opts.onKeyExposed?.(`${key} ${this.keyFile} can be read by every local user (mode ${mode.toString(8).padStart(4, "0")}): \`chmod 600\` it, or 640 with a group only the server's account is in`);
    } catch {
      /* unreadable now: the next load says so */
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private stat(): string {
    const one = (f: string) => {
      try {
        const s = statSync(f);
        return `${s.ino}:${s.size}:${s.mtimeMs}`;
      } catch {
        return "-";
      }
    };
    return `${one(this.certFile)}|${one(this.keyFile)}`;
  }
}
