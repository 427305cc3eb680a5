// A single-file or tree job's journal record: what it began with (so `resume` needs no flags again),
// persisting it with its password before the first byte, and the file context a recorded job runs in.
import type { FtpUrl } from "../protocol/url.ts";
import { saveRecord, type TransferRecord } from "./journal.ts";
import { savePassword } from "./state.ts";
import { displayUrl, parseUrlArg, tlsMode, type TransferOptions } from "./options.ts";
import type { Notifier } from "./messages.ts";
import type { Credentials } from "./credentials.ts";
import type { Progress } from "./progress.ts";
import type { FileContext } from "./file-transfer.ts";
import { forgetJob } from "./job-end.ts";

/**
 * What a job began with, kept in its record so `resume` needs no flags again: the TLS trust, the
 * rate limit, active mode and --fsync.
 */
export function recordSettings(url: FtpUrl, opts: TransferOptions): Pick<TransferRecord, "tls" | "insecure" | "ca" | "rate" | "active" | "fsync"> {
  const mode = tlsMode(url, opts);
  return {
    ...(mode === "explicit" ? { tls: "explicit" as const } : {}),
    ...(mode && opts.insecure ? { insecure: true } : {}),
    ...(mode && opts.ca?.length ? { ca: opts.ca } : {}),
    ...(opts.rate > 0 ? { rate: opts.rate } : {}),
    ...(opts.active ? { active: true as const } : {}),
    ...(opts.fsync ? { fsync: true as const } : {}),
  };
}

/**
 * The options a resumed job runs with: a transfer that began over TLS continues over TLS with the
 * same trust (never silently in clear text); its rate limit, active mode and --fsync stay unless
 * the resuming command gives its own.
 */
export function withRecordSettings(opts: TransferOptions, rec: TransferRecord): TransferOptions {
  // The digest the job began with: its session announces that one (OPTS HASH), not --hash's.
  const out = { ...opts, hash: rec.hash };
  if (rec.tls === "explicit") out.tls = true;
  if (rec.insecure) out.insecure = true;
  if (rec.ca?.length) out.ca = [...(opts.ca ?? []), ...rec.ca.filter((c) => !opts.ca?.includes(c))];
  if (!opts.rateGiven && rec.rate) out.rate = rec.rate; // `--limit-rate 0` lifts it
  if (rec.active) out.active = true;
  if (rec.fsync) out.fsync = true;
  return out;
}

/**
 * Persist a job before its first byte: the record in the journal (flushed with --fsync), the password
 * in the user's state dir unless `keepPassword` is false (the package API: its caller gives it again).
 */
export function persistJob(rec: TransferRecord, creds: Credentials, dir: string, durable: boolean, keepPassword = true): void {
  // A login name that came from ~/.netrc goes into the record's URL: a resume logs in as that user,
  // with the password kept for it, also once the netrc is gone (it logged in as anonymous).
  const url = parseUrlArg(rec.url);
  if (url.user === undefined && !creds.anonymous) rec.url = displayUrl({ ...url, user: creds.user });
  saveRecord(rec, dir, durable);
  const pw = creds.known();
  if (pw !== undefined && keepPassword) savePassword(rec.id, pw, parseUrlArg(rec.url), dir);
}

export function fileContext(
  rec: TransferRecord,
  opts: TransferOptions,
  progress: Progress,
  note: Notifier,
  dir: string,
  creds: Credentials,
  /** --restart: discard what was pending, once the file's lock is held. */
  replacing: (() => void) | undefined,
  onRemote: (r: { size: number | null; mtime: string | null }) => void,
): FileContext {
  return {
    opts,
    algo: rec.hash,
    verify: opts.verify && rec.verify !== false,
    alwaysDigest: opts.alwaysDigest === true || rec.alwaysDigest === true,
    note,
    progress,
    beforeFirstByte(remote) {
      onRemote(remote);
      persistJob(rec, creds, dir, opts.fsync === true, opts.keepPassword !== false);
    },
    discard() {
      forgetJob(rec.id, dir);
    },
    ...(replacing ? { locked: replacing } : {}),
  };
}
