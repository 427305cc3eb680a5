// What a control connection is opened with (ClientOptions), what its transfers return, and the
// bounds every wait on the server takes: shared by FtpClient (client.ts) and the modules it uses.
import type { FtpReply } from "../protocol/reply.ts";
import type { Connection, TlsSettings } from "./connection.ts";
import type { OptionWords } from "./option-words.ts";

export interface ClientOptions {
  host: string;
  port: number;
  /** Active mode: the server connects to us (EPRT, falling back to PORT). */
  active?: boolean;
  /** Overrides `stallMs` for replies, TLS handshakes and connects (programs that want their own bound; the CLI leaves it unset). */
  timeoutMs?: number;
  /**
   * --stall-timeout: how long the server may stay silent while we wait on it. Bounds every reply (to
   * any command: the greeting, USER, a transfer command's 1yz, HASH…), the TLS handshakes (at most
   * 30 s) and connects (at most 15 s), and a listing's data connection that moves no byte (transfers
   * take theirs from PumpOptions). Default 60 s; 0: replies are waited for as long as it takes.
   */
  stallMs?: number;
  /** Called with every line sent and received (passwords masked), for --verbose style logs. */
  trace?: (line: string) => void;
  /**
   * FTPS (RFC 4217): `explicit` sends AUTH TLS after the greeting, `implicit` speaks TLS from the
   * first byte. Either way PBSZ 0 + PROT P follow, so data connections are encrypted too, before
   * any USER/PASS. Never falls back to clear text.
   */
  tls?: { mode: "explicit" | "implicit"; settings: TlsSettings };
  /** How its errors name the options to use (default: the CLI's flags; the package API: its options). */
  words?: OptionWords;
}

/** How a data connection is opened: passive (EPSV, PASV) or active (EPRT, PORT); undefined = the usual fallbacks. */
export type DataMode = "epsv" | "pasv" | "eprt" | "port";

/** What the server offered in FEAT: upper-case keyword → its parameters (may be ""). */
export type Features = Map<string, string>;

/** An open data connection whose transfer command was accepted (1yz received or pending). */
export interface DataTransfer {
  conn: Connection;
  /** Resolves with the final reply of the transfer command (226/250 or an error reply). */
  done: Promise<FtpReply>;
  /**
   * Resolves with a second 1yz, should one follow the first. Pure-FTPd ends a RETR whose data
   * connection the client closed that way ("150 0.072 seconds (measured here), …") and sends
   * nothing after it: `done` would wait for ever.
   */
  further?: Promise<FtpReply>;
}

/** How long the server may stay silent when the options say nothing (--stall-timeout's default). */
export const DEFAULT_REPLY_TIMEOUT_MS = 60_000;

/** The longest a TLS handshake is waited for, whatever the stall bound: none takes that long. */
export const MAX_HANDSHAKE_MS = 30_000;

/** `limit`, or `waitMs` when it is a bound (not 0) and shorter. */
export function shorter(waitMs: number, limit: number): number {
  return waitMs > 0 && waitMs < limit ? waitMs : limit;
}

/** 1yz replies one command may get before its final one (150, 125, "120 ready in n minutes"…). */
export const MAX_PRELIMINARY_REPLIES = 32;

/** ClientOptions' bound on a silent server (see FtpClient.waitMs). */
export function waitBound(opts: ClientOptions): number {
  return opts.timeoutMs ?? opts.stallMs ?? DEFAULT_REPLY_TIMEOUT_MS;
}
