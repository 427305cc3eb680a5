// get / put / resume / ls as operations: sessions, credentials, the resume journal, retries with
// backoff, and end-to-end verification. The CLI commands are thin wrappers around these.
import { accessSync, closeSync, constants, existsSync, fstatSync, fsyncSync, ftruncateSync, openSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { createConsola } from "consola";
import { formatFtpUrl, parseFtpUrl, type FtpUrl } from "../protocol/url.ts";
import type { FileInfo } from "../protocol/listing.ts";
import { ClientError, FtpClient, type DigestAlgorithm } from "./client.ts";
import { lookupNetrc } from "./netrc.ts";
import { Progress, progressMode } from "./progress.ts";
import { confirm, promptHidden } from "./prompt.ts";
import { loadRecord, removeRecord, saveRecord, transferId, journalDir, listRecords, type TransferRecord } from "./journal.ts";
import { download, hashFilePrefix, TokenBucket, TransferInterrupted, upload, type Hasher } from "./transfer.ts";

export interface TransferOptions {
  verify: boolean;
  hash: DigestAlgorithm;
  /** Bytes per second, 0 = unlimited. */
  rate: number;
  /** Reconnect attempts after a dropped connection. */
  retries: number;
  quiet: boolean;
  active: boolean;
  /** Ignore (and discard) a pending record for the same target. */
  restart?: boolean;
  /** Base delay of the exponential backoff in ms (tests shorten it). */
  backoffMs?: number;
  /** Where the journal lives (default ./.ftpkit/transfers). */
  journal?: string;
  /** TLS flags (--tls, --ca, --insecure); see SecurityOptions. */
  tls?: boolean;
  ca?: string[];
  insecure?: boolean;
}

/** --tls (explicit FTPS on an ftp:// URL), --ca (extra trusted PEM certificates), --insecure. */
export interface SecurityOptions {
  tls?: boolean;
  ca?: string[];
  insecure?: boolean;
}

export interface TransferResult {
  local: string;
  url: string;
  size: number;
  /** Bytes moved over the network by this run. */
  moved: number;
  digest: string;
  verifiedBy: string;
}

export const PART_SUFFIX = ".ftpkit-part";
export const CORRUPT_SUFFIX = ".ftpkit-corrupt";

/** Messages go to stderr, always: stdout carries data only. */
const consola = createConsola({ level: 3, stdout: process.stderr, stderr: process.stderr });

/** Informational messages (suppressed by --quiet), printed without breaking a progress bar. */
class Notifier {
  progress: Progress | null = null;
  constructor(private readonly quiet: boolean) {}
  info(msg: string): void {
    if (this.quiet) return;
    this.progress?.clear();
    consola.info(msg);
  }
  warn(msg: string): void {
    if (this.quiet) return;
    this.progress?.clear();
    consola.warn(msg);
  }
}

/** Parse a URL argument (ftp:// or ftps://, implicit TLS). */
export function parseUrlArg(text: string): FtpUrl {
  return parseFtpUrl(text);
}

/** How a session to `url` is secured: ftps:// is implicit TLS; --tls asks for AUTH TLS; else clear text. */
export function tlsMode(url: FtpUrl, opts: SecurityOptions): "explicit" | "implicit" | undefined {
  if (url.secure === "implicit") return "implicit";
  return opts.tls ? "explicit" : undefined;
}

/** --ca/--insecure only make sense with TLS: say so rather than ignore them. */
function checkTlsFlags(url: FtpUrl, opts: SecurityOptions): void {
  if (tlsMode(url, opts)) return;
  const flag = opts.insecure ? "--insecure" : opts.ca?.length ? "--ca" : null;
  if (flag) throw new ClientError(`${flag} needs TLS: add --tls (explicit FTPS) or use an ftps:// URL`);
}

function displayUrl(url: FtpUrl): string {
  const { password: _pw, ...rest } = url;
  return formatFtpUrl(rest);
}

/** user and a lazy password: URL, then $FTPKIT_PASSWORD, then ~/.netrc, then a hidden prompt; anonymous without a user. */
export function credentials(url: FtpUrl): { user: string; password: () => Promise<string> } {
  const netrc = lookupNetrc(url.host, url.user);
  const user = url.user ?? netrc?.login ?? "anonymous";
  const password = async () => {
    if (url.password !== undefined) return url.password;
    if (process.env.FTPKIT_PASSWORD !== undefined) return process.env.FTPKIT_PASSWORD;
    if (netrc?.password !== undefined && (netrc.login === undefined || netrc.login === user)) return netrc.password;
    if (user === "anonymous" || user === "ftp") return "anonymous@";
    const typed = await promptHidden(`Password for ${user}@${url.host}: `);
    if (typed !== null) return typed;
    throw new ClientError(`no password for ${user}@${url.host} (put it in the URL, $FTPKIT_PASSWORD or ~/.netrc)`);
  };
  return { user, password };
}

/** Connect (securing the connection first under TLS), log in, read FEAT, switch to binary. */
export async function openSession(
  url: FtpUrl,
  opts: { active?: boolean; timeoutMs?: number; verify?: boolean; hash?: DigestAlgorithm } & SecurityOptions,
): Promise<FtpClient> {
  const mode = tlsMode(url, opts);
  const tls = mode ? { mode, settings: { host: url.host, ca: opts.ca, insecure: opts.insecure } } : undefined;
  const client = await FtpClient.connect({ host: url.host, port: url.port, active: opts.active, timeoutMs: opts.timeoutMs, tls });
  try {
    const { user, password } = credentials(url);
    await client.login(user, password);
    await client.feat();
    await client.binary();
    if (opts.verify && opts.hash) await client.announceHash(opts.hash);
    return client;
  } catch (err) {
    client.destroy();
    throw err;
  }
}

/** Open a new session after a dropped connection, with backoff, counting each try against --retries. */
async function reconnect(
  url: FtpUrl,
  opts: Parameters<typeof openSession>[1] & { retries: number; backoffMs?: number },
  attempt: number,
  note: { warn(msg: string): void },
): Promise<{ client: FtpClient; attempt: number }> {
  for (;;) {
    await backoff(attempt, opts.backoffMs ?? 500);
    try {
      return { client: await openSession(url, opts), attempt };
    } catch (e) {
      attempt++;
      if (!isRetryable(e) && !/connection refused|timed out/.test((e as Error).message)) throw e;
      if (attempt > opts.retries) throw e;
      note.warn(`${(e as Error).message}; retrying (attempt ${attempt} of ${opts.retries})`);
    }
  }
}

function backoff(attempt: number, base: number): Promise<void> {
  return Bun.sleep(Math.min(base * 2 ** (attempt - 1), 10_000));
}

function isRetryable(err: unknown): boolean {
  return err instanceof ClientError && err.retryable;
}

/** Check the directory a download lands in before any network traffic. */
function checkWritableDir(dir: string): void {
  let st;
  try {
    st = statSync(dir);
  } catch {
    throw new ClientError(`cannot write to ${dir}: no such directory`);
  }
  if (!st.isDirectory()) throw new ClientError(`cannot write to ${dir}: not a directory`);
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new ClientError(`cannot write to ${dir}: permission denied`);
  }
}

/** LOCAL for `get URL [LOCAL]`: default the remote name in the cwd; a directory gets the remote name inside it. */
export function downloadTarget(url: FtpUrl, localArg?: string): string {
  const remoteName = basename(url.path);
  if (!remoteName || url.path.endsWith("/")) throw new ClientError(`the URL names a directory, not a file (${url.path}); use ftpkit ls`);
  if (localArg === undefined || localArg === "") return resolve(remoteName);
  const abs = resolve(localArg);
  if (localArg.endsWith("/") || (existsSync(abs) && statSync(abs).isDirectory())) return join(abs, remoteName);
  return abs;
}

function sameRecordTarget(rec: TransferRecord, url: FtpUrl): boolean {
  return rec.url === displayUrl(url);
}

/** Ask (TTY) or announce (non-TTY) resuming a pending record; returns true to resume. */
async function decideResume(rec: TransferRecord, opts: TransferOptions, note: Notifier): Promise<boolean> {
  if (opts.restart) return false;
  if (process.stdin.isTTY && process.stderr.isTTY) {
    return confirm(`An interrupted transfer of ${rec.local} is pending (started ${rec.startedAt}). Resume?`, true);
  }
  note.info(`resuming the interrupted transfer of ${rec.local} (use --restart to start over)`);
  return true;
}

/** `ftpkit get URL [LOCAL]`. */
export async function getFile(urlText: string, localArg: string | undefined, opts: TransferOptions): Promise<TransferResult> {
  const url = parseUrlArg(urlText);
  checkTlsFlags(url, opts);
  const local = downloadTarget(url, localArg);
  checkWritableDir(dirname(local));
  const dir = opts.journal ?? journalDir();
  const id = transferId("get", displayUrl(url), local);
  const note = new Notifier(opts.quiet);
  const pending = loadRecord(id, dir);
  if (pending) {
    if (await decideResume(pending, opts, note)) return runDownload(url, pending, withRecordTls(opts, pending), true);
    rmSync(pending.part ?? local + PART_SUFFIX, { force: true });
    removeRecord(id, dir);
  }
  const rec: TransferRecord = {
    id,
    direction: "get",
    url: displayUrl(url),
    local,
    part: local + PART_SUFFIX,
    remoteSize: null,
    remoteMtime: null,
    hash: opts.hash,
    verify: opts.verify,
    ...(tlsMode(url, opts) === "explicit" ? { tls: "explicit" as const } : {}),
    startedAt: new Date().toISOString(),
  };
  return runDownload(url, rec, opts, false);
}

/** Continue a recorded download (`resume`), or start one. */
export async function runDownload(url: FtpUrl, rec: TransferRecord, opts: TransferOptions, resuming: boolean): Promise<TransferResult> {
  const dir = opts.journal ?? journalDir();
  const note = new Notifier(opts.quiet);
  const algo = rec.hash;
  const path = url.path;
  const part = rec.part ?? rec.local + PART_SUFFIX;
  if (resuming) checkWritableDir(dirname(rec.local));
  let client = await openSession(url, opts);
  let fd = -1;
  let created = false;
  let offset = 0;
  let progress: Progress | null = null;
  try {
    const size = await client.size(path).catch((err) => {
      if (err instanceof ClientError && err.code === 550) throw new ClientError(`remote file not found or not a file: ${path} (${err.message.replace(`${path}: `, "")})`, { code: 550 });
      throw err;
    });
    const mtime = await client.mdtm(path);
    if (resuming) {
      const changes: string[] = [];
      if (rec.remoteSize !== null && size !== null && size !== rec.remoteSize) changes.push(`size ${rec.remoteSize} → ${size}`);
      if (rec.remoteMtime !== null && mtime !== null && mtime !== rec.remoteMtime) changes.push(`modified ${rec.remoteMtime} → ${mtime}`);
      if (changes.length) {
        throw new ClientError(
          `the remote file changed since the interrupted download (${changes.join(", ")}); ` +
            `nothing was written. Run \`ftpkit get --restart ${rec.url}${opts.restart ? "" : ` ${rec.local}`}\` to download it again`,
        );
      }
    } else {
      rec.remoteSize = size;
      rec.remoteMtime = mtime;
    }
    rec.part = part;
    saveRecord(rec, dir); // before any byte moves
    created = !resuming;
    fd = openSync(part, constants.O_RDWR | constants.O_CREAT, 0o644);
    let hasher: Hasher = new Bun.CryptoHasher(algo);
    if (resuming) {
      offset = fstatSync(fd).size;
      if (size !== null && offset > size) {
        note.warn(`the partial file is larger than the remote file; starting over`);
        offset = 0;
      }
      if (offset > 0) {
        hashFilePrefix(fd, offset, hasher);
        const remote = rec.verify !== false && opts.verify ? await client.remoteDigest(path, algo, { start: 0, end: offset }) : null;
        if (remote) {
          const localPrefix = hasher.copy().digest("hex");
          if (remote.hex !== localPrefix) {
            note.warn(`the partial file differs from the server's first ${offset} bytes; starting over`);
            offset = 0;
            hasher = new Bun.CryptoHasher(algo);
          } else note.info(`partial data verified (${offset} bytes, ${algo} via ranged HASH); resuming`);
        } else note.info(`cannot verify the partial data (the server offers no ranged hash); resuming at byte ${offset}`);
      }
    }
    ftruncateSync(fd, offset);
    const limiter = opts.rate > 0 ? new TokenBucket(opts.rate) : undefined;
    progress = new Progress(basename(rec.local), progressMode(opts.quiet), size);
    note.progress = progress;
    let attempt = 0;
    for (;;) {
      progress.start(offset, size);
      try {
        const n = await download(client, path, fd, offset, { hasher, limiter, onProgress: (m) => progress!.update(m) });
        offset += n;
        if (size !== null && offset < size) throw new TransferInterrupted(`the transfer ended early at ${offset} of ${size} bytes`, 0);
        break;
      } catch (err) {
        if (err instanceof TransferInterrupted) offset += err.moved;
        attempt++;
        if (!isRetryable(err) || attempt > opts.retries) throw err;
        note.warn(`${(err as Error).message}; reconnecting (attempt ${attempt} of ${opts.retries})`);
        client.destroy();
        ftruncateSync(fd, offset); // the file and the running hash stay in lockstep
        ({ client, attempt } = await reconnect(url, opts, attempt, note));
      }
    }
    fsyncSync(fd);
    closeSync(fd);
    fd = -1;
    const digest = hasher.digest("hex");
    const verifiedBy = await verifyDownload(client, path, algo, digest, offset, size, opts.verify && rec.verify !== false, note, () => {
      const aside = rec.local + CORRUPT_SUFFIX;
      renameSync(part, aside);
      removeRecord(rec.id, dir);
      return aside;
    });
    renameSync(part, rec.local);
    removeRecord(rec.id, dir);
    progress.finish(`${algo} ${digest} (${verifiedBy})`);
    await client.quit();
    return { local: rec.local, url: rec.url, size: offset, moved: progress.moved, digest, verifiedBy };
  } catch (err) {
    progress?.clear();
    client.destroy();
    if (fd >= 0) closeSync(fd);
    // Nothing useful landed in a brand-new transfer: leave no empty file and no record behind.
    if (created && offset === 0 && existsSync(part)) {
      rmSync(part, { force: true });
      removeRecord(rec.id, dir);
    } else if (created && offset === 0) removeRecord(rec.id, dir);
    if (err instanceof TransferInterrupted || (isRetryable(err) && existsSync(part))) {
      throw new ClientError(`${(err as Error).message}; ${offset} bytes kept, run \`ftpkit resume\` to continue`);
    }
    throw err;
  }
}


/** The server's digest to compare with ours — or, when there is none to get, the verdict to report. */
async function askDigest(
  client: FtpClient,
  path: string,
  algo: DigestAlgorithm,
  verify: boolean,
  remoteSize: number | null,
  note: { info(msg: string): void },
): Promise<{ hex: string; via: string } | string> {
  if (!verify) return remoteSize !== null ? "size verified, digest not requested" : "not verified";
  const remote = await client.remoteDigest(path, algo);
  if (remote) return remote;
  note.info("server offers no hash; verified size only");
  return remoteSize !== null ? "size verified only" : "not verified";
}
/** Compare sizes and the server's digest; on a mismatch `setAside()` moves the bad data away and we throw. */
async function verifyDownload(
  client: FtpClient,
  path: string,
  algo: DigestAlgorithm,
  digest: string,
  size: number,
  remoteSize: number | null,
  verify: boolean,
  note: Notifier,
  setAside: () => string,
): Promise<string> {
  if (remoteSize !== null && size !== remoteSize) {
    const aside = setAside();
    throw new ClientError(`size mismatch: received ${size} bytes, the server reports ${remoteSize}; the data is kept in ${aside}`);
  }
  const remote = await askDigest(client, path, algo, verify, remoteSize, note);
  if (typeof remote === "string") return remote;
  if (remote.hex !== digest) {
    const aside = setAside();
    throw new ClientError(`${algo} mismatch: received ${digest}, the server reports ${remote.hex}; the bad download is kept in ${aside}`);
  }
  return `verified by ${remote.via}`;
}

/** Remote path for `put LOCAL URL`: a URL ending in "/" gets the local file name. */
export function uploadTarget(url: FtpUrl, local: string): string {
  return url.path.endsWith("/") ? url.path + basename(local) : url.path;
}

/** `ftpkit put LOCAL URL`. */
export async function putFile(localArg: string, urlText: string, opts: TransferOptions): Promise<TransferResult> {
  const url0 = parseUrlArg(urlText);
  checkTlsFlags(url0, opts);
  const local = resolve(localArg);
  const st = localFile(local);
  const url: FtpUrl = { ...url0, path: uploadTarget(url0, local) };
  const dir = opts.journal ?? journalDir();
  const id = transferId("put", displayUrl(url), local);
  const note = new Notifier(opts.quiet);
  const pending = loadRecord(id, dir);
  if (pending) {
    if (await decideResume(pending, opts, note)) return runUpload(url, pending, withRecordTls(opts, pending), true);
    removeRecord(id, dir);
  }
  const rec: TransferRecord = {
    id,
    direction: "put",
    url: displayUrl(url),
    local,
    remoteSize: null,
    remoteMtime: null,
    localSize: st.size,
    localMtimeMs: st.mtimeMs,
    hash: opts.hash,
    verify: opts.verify,
    ...(tlsMode(url, opts) === "explicit" ? { tls: "explicit" as const } : {}),
    startedAt: new Date().toISOString(),
  };
  return runUpload(url, rec, opts, false);
}

function localFile(local: string) {
  let st;
  try {
    st = statSync(local);
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw new ClientError(`cannot read ${local}: ${code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : (err as Error).message}`);
  }
  if (!st.isFile()) throw new ClientError(`cannot upload ${local}: not a regular file`);
  try {
    accessSync(local, constants.R_OK);
  } catch {
    throw new ClientError(`cannot read ${local}: permission denied`);
  }
  return st;
}

/** Continue a recorded upload (`resume`), or start one. */
export async function runUpload(url: FtpUrl, rec: TransferRecord, opts: TransferOptions, resuming: boolean): Promise<TransferResult> {
  const dir = opts.journal ?? journalDir();
  const note = new Notifier(opts.quiet);
  const algo = rec.hash;
  const path = url.path;
  const st = localFile(rec.local);
  if (resuming && (st.size !== rec.localSize || Math.round(st.mtimeMs) !== Math.round(rec.localMtimeMs ?? -1))) {
    throw new ClientError(
      `the local file ${rec.local} changed since the interrupted upload; run \`ftpkit put --restart ${rec.local} ${rec.url}\` to upload it again`,
    );
  }
  const size = st.size;
  const fd = openSync(rec.local, "r");
  let client: FtpClient | null = null;
  let progress: Progress | null = null;
  let offset = 0;
  try {
    client = await openSession(url, opts);
    saveRecord(rec, dir); // before any byte moves
    const limiter = opts.rate > 0 ? new TokenBucket(opts.rate) : undefined;
    progress = new Progress(basename(rec.local), progressMode(opts.quiet), size);
    note.progress = progress;
    let appendOnly = false;
    let attempt = 0;
    let continuing = resuming;
    for (;;) {
      let hasher: Hasher = new Bun.CryptoHasher(algo);
      offset = 0;
      if (continuing) {
        const remoteSize = await client.size(path).catch(() => 0);
        if (remoteSize === null) note.warn("the server does not report sizes (SIZE); uploading from the start");
        else if (remoteSize > size) note.warn(`the remote file is larger (${remoteSize}) than the local one (${size}); uploading from the start`);
        else offset = remoteSize;
        if (offset > 0) {
          hashFilePrefix(fd, offset, hasher);
          const remote = opts.verify && rec.verify !== false ? await client.remoteDigest(path, algo, { start: 0, end: offset }).catch(() => null) : null;
          if (remote && remote.hex !== hasher.copy().digest("hex")) {
            note.warn(`the remote partial file differs from the first ${offset} local bytes; uploading from the start`);
            offset = 0;
            hasher = new Bun.CryptoHasher(algo);
          } else if (remote) note.info(`remote partial data verified (${offset} bytes, ${algo} via ranged HASH); resuming`);
          else if (attempt === 0) note.info(`cannot verify the partial data (the server offers no ranged hash); resuming at byte ${offset}`);
        }
      }
      progress.start(offset, size);
      try {
        const verb: "STOR" | "APPE" = offset > 0 && appendOnly ? "APPE" : "STOR";
        let n: number;
        try {
          n = await upload(client, path, fd, offset, size, verb, { hasher, limiter, onProgress: (m) => progress!.update(m) });
        } catch (err) {
          // REST+STOR refused (e.g. "REST: 502"): append instead, on the same connection.
          const refused = err instanceof ClientError && !(err instanceof TransferInterrupted) && (err.code ?? 0) >= 500;
          if (refused && verb === "STOR" && offset > 0) {
            appendOnly = true;
            note.info("the server refused REST before STOR; appending with APPE");
            continuing = true;
            continue;
          }
          throw err;
        }
        offset += n;
        const digest = hasher.digest("hex");
        const verifiedBy = await verifyUpload(client, path, algo, digest, size, opts.verify && rec.verify !== false, note).catch((err) => {
          removeRecord(rec.id, dir); // a finished upload that fails verification is not resumable
          throw err;
        });
        removeRecord(rec.id, dir);
        progress.finish(`${algo} ${digest} (${verifiedBy})`);
        await client.quit();
        return { local: rec.local, url: rec.url, size, moved: progress.moved, digest, verifiedBy };
      } catch (err) {
        if (err instanceof TransferInterrupted) offset += err.moved;
        attempt++;
        if (!isRetryable(err) || attempt > opts.retries) throw err;
        note.warn(`${(err as Error).message}; reconnecting (attempt ${attempt} of ${opts.retries})`);
        client.destroy();
        ({ client, attempt } = await reconnect(url, opts, attempt, note));
        continuing = true;
      }
    }
  } catch (err) {
    progress?.clear();
    client?.destroy();
    if (offset === 0 && !resuming && !(err instanceof TransferInterrupted)) removeRecord(rec.id, dir);
    if (err instanceof TransferInterrupted || isRetryable(err)) {
      throw new ClientError(`${(err as Error).message}; run \`ftpkit resume\` to continue the upload`);
    }
    throw err;
  } finally {
    closeSync(fd);
  }
}

async function verifyUpload(
  client: FtpClient,
  path: string,
  algo: DigestAlgorithm,
  digest: string,
  size: number,
  verify: boolean,
  note: Notifier,
): Promise<string> {
  const remoteSize = await client.size(path).catch(() => null);
  if (remoteSize !== null && remoteSize !== size) {
    throw new ClientError(`upload verification failed: the server has ${remoteSize} bytes, the local file has ${size}`);
  }
  const remote = await askDigest(client, path, algo, verify, remoteSize, note);
  if (typeof remote === "string") return remote;
  if (remote.hex !== digest) {
    throw new ClientError(`upload verification failed: sent ${algo} ${digest}, the server computed ${remote.hex}`);
  }
  return `verified by ${remote.via}`;
}

/** `ftpkit resume [LOCAL]`: continue every pending transfer recorded in this directory, or the one for LOCAL. */
export async function resumeTransfers(localArg: string | undefined, opts: TransferOptions): Promise<TransferResult[]> {
  const dir = opts.journal ?? journalDir();
  let recs = listRecords(dir);
  if (localArg !== undefined) {
    const abs = resolve(localArg);
    recs = recs.filter((r) => r.local === abs || r.part === abs);
    if (recs.length === 0) throw new ClientError(`no interrupted transfer of ${abs} is recorded in ${dir}`);
  }
  const note = new Notifier(opts.quiet);
  if (recs.length === 0) {
    note.info("nothing to resume");
    return [];
  }
  const results: TransferResult[] = [];
  const failures: string[] = [];
  for (const rec of recs) {
    const url = parseUrlArg(rec.url);
    const o = { ...withRecordTls(opts, rec), hash: rec.hash };
    try {
      results.push(rec.direction === "get" ? await runDownload(url, rec, o, true) : await runUpload(url, rec, o, true));
    } catch (err) {
      if (recs.length === 1) throw err;
      consola.error(`${rec.local}: ${(err as Error).message}`);
      failures.push(rec.local);
    }
  }
  if (failures.length) throw new ClientError(`${failures.length} of ${recs.length} transfers could not be resumed`);
  return results;
}

/** A transfer that began over explicit TLS continues over TLS (never silently in clear text). */
function withRecordTls(opts: TransferOptions, rec: TransferRecord): TransferOptions {
  return rec.tls === "explicit" ? { ...opts, tls: true } : opts;
}

/** `ftpkit ls URL`. */
export async function listUrl(urlText: string, opts: { active: boolean } & SecurityOptions): Promise<FileInfo[]> {
  const url = parseUrlArg(urlText);
  checkTlsFlags(url, opts);
  const client = await openSession(url, opts);
  try {
    const entries = await client.list(url.path);
    await client.quit();
    return entries;
  } catch (err) {
    client.destroy();
    throw err;
  }
}

export { sameRecordTarget };
