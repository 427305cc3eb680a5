// What a client job was asked for: its transfer options (--verify, --limit-rate, --retries…), the
// security flags (--tls, --ca, --insecure) and the URL the user typed, checked and shown without its password.
import { formatFtpUrl, parseFtpUrl, type FtpUrl, type FtpUrlOptions } from "../protocol/url.ts";
import { ClientError } from "./errors.ts";
import type { DigestAlgorithm } from "./remote-hash.ts";
import type { TokenBucket } from "./transfer.ts";
import type { Trace } from "./trace.ts";
import { CLI_WORDS, type OptionWords } from "./option-words.ts";

/** The argument that names standard output (get) or standard input (put). */
export const STDIO = "-";

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
  /** false (--no-block-mode): a tree job's transfers stay in stream mode, one data connection per file. */
  blockMode?: boolean;
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
  words?: OptionWords;
  /** --verbose: where each command and reply of every connection goes (client/trace.ts). */
  trace?: Trace;
  /** false: a missing password fails at once instead of being asked on the terminal (programs). */
  prompt?: boolean;
  /** How an interrupted transfer's error says to continue it (default "run `ftpkit resume`"; the package API: call it again). */
  resumeHint?: string;
  /**
   * false: an interrupted job's password is not kept in the state directory for `ftpkit resume` (the
   * package API, whose caller resumes by calling again with the same URL, password and all).
   */
  keepPassword?: boolean;
}

/** How an interrupted transfer's error says to continue it, unless TransferOptions.resumeHint says otherwise. */
export const RESUME_HINT = "run `ftpkit resume`";

/** Options for programs (the package API, tests): verified, quiet, no retries, passive, no password prompt. */
export function quietTransferOptions(journal: string, over: Partial<TransferOptions> = {}): TransferOptions {
  return { verify: true, hash: "sha256", rate: 0, retries: 0, quiet: true, active: false, journal, prompt: false, ...over };
}

/** --tls (explicit FTPS on an ftp:// URL), --ca (extra trusted PEM certificates), --insecure. */
export interface SecurityOptions {
  tls?: boolean;
  /** Certificates to trust besides the system's, as PEM text (the package API also takes file names). */
  ca?: string[];
  /** How TLS errors name these options (default: the CLI's flags). */
  words?: OptionWords;
  insecure?: boolean;
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
  const words = opts.words ?? CLI_WORDS;
  const flag = opts.insecure ? words.insecure : opts.ca?.length ? words.ca : null;
  if (flag) throw new ClientError(`${flag} needs TLS: add ${words.tls} (explicit FTPS) or use an ftps:// URL`, { kind: "usage" });
}

export function displayUrl(url: FtpUrl): string {
  const { password: _pw, ...rest } = url;
  return formatFtpUrl(rest);
}
