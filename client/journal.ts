// Resume state: one small JSON file per unfinished job under ./.ftpkit/transfers/, written
// atomically (temp file + rename) before any byte moves, so it survives kill -9 (the page cache
// outlives the process); with --fsync it is also flushed, like the data, to survive a power loss. Records are
// validated when read: a damaged one is reported and skipped, never fatal to the others. A tree
// job's log of finished files and its plan state: tree-journal.ts.
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { stateDir } from "./state.ts";
import { CREATE_NEW, forgetReady, journalDir, readJournalFile, readyDir } from "./journal-dir.ts";
import { indexJournal, unindexIfEmpty } from "./journal-index.ts";
import { isDigestAlgorithm, type DigestAlgorithm } from "./remote-hash.ts";
import { localWriteError } from "./transfer-errors.ts";
import { isPartBound, type PartBound } from "./part-bound.ts";

export { journalDir } from "./journal-dir.ts";

export interface TransferRecord {
  id: string;
  direction: "get" | "put";
  /** A single file, or a whole tree (`get -r`, `put -r`, a glob, `sync`). */
  kind?: "file" | "tree";
  /** The URL without its password. */
  url: string;
  /** Absolute path of the local file or directory (the final name for a download). */
  local: string;
  /** The partial file a download writes to. */
  part?: string;
  /** Get: the remote file when the download started. Put: the remote file before the first byte (null: none). */
  remoteSize: number | null;
  /** MDTM time-val of the remote file (see remoteSize). */
  remoteMtime: string | null;
  /** Uploads: the local file's size and mtime when the upload started. */
  localSize?: number;
  localMtimeMs?: number;
  hash: DigestAlgorithm;
  verify: boolean;
  /** --hash was given: the digest is computed even where the server has none (resume does the same). */
  alwaysDigest?: boolean;
  /** The transfer ran over explicit FTPS (AUTH TLS), so resuming uses TLS again (ftps:// URLs say so themselves). */
  tls?: "explicit";
  /** TLS trust as the transfer began: --insecure, or the --ca certificates (PEM). */
  insecure?: boolean;
  ca?: string[];
  /** How the transfer ran, so `resume` runs it the same way: --limit-rate (bytes/s), --active, --fsync. */
  rate?: number;
  active?: true;
  fsync?: true;
  /** Get: how much of the part file is this client's, kept ahead of the data (part-bound.ts). Absent in older records. */
  partBound?: PartBound;
  /** `get --segments N`: how many connections, and how far each byte range got. */
  segmentCount?: number;
  segments?: { start: number; end: number; pos: number }[];
  /** Tree jobs: how the job was asked for, so `resume` plans it the same way. */
  tree?: TreeSpec;
  startedAt: string;
}

/** What a tree job was asked to do (kept in its record for `ftpkit resume`). */
export interface TreeSpec {
  mode: "copy" | "sync";
  /** Into subdirectories (`-r`, and always for sync). */
  recursive?: boolean;
  /** Last-segment glob of a `get`/`put` ('*.csv'), if any. */
  glob?: string;
  delete?: boolean;
  checksum?: boolean;
  exclude?: string[];
  parallel?: number;
}

/**
 * `n` random bytes from WebCrypto. Not node:crypto's randomBytes: loading node:crypto (with the Node
 * stream modules it pulls in) cost every get, put and sync ~13 ms of CPU at start-up.
 */
export function randomBytes(n: number): Buffer {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(n)));
}

/**
 * Records are sealed with a key only this user has (in the state directory): `ftpkit resume` acts on
 * what a record says (which directory to upload, to which server), and the journal lives in the
 * working directory, where a cloned repository or an unpacked archive can bring one along.
 */
let key: { dir: string; bytes: Buffer } | null = null;

function sealKey(): Buffer {
  const dir = stateDir();
  if (key?.dir === dir) return key.bytes;
  const path = join(dir, "journal.key");
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch {
    bytes = randomBytes(32);
    // Whole before it is visible (written aside, then linked into place): a second ftpkit starting
    // at the same moment reads the first one's key, never a half-written one.
    const aside = `${path}.${process.pid}.${randomBytes(6).toString("hex")}`;
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const fd = openSync(aside, "wx", 0o600);
      try {
        if (writeSync(fd, bytes) !== bytes.length) throw Object.assign(new Error("short write"), { code: "ENOSPC" });
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      // A full disk: Node's bare "ENOSPC: no space left on device, write" named no file, and the
      // empty file aside stayed for good.
      rmSync(aside, { force: true });
      throw localWriteError("write", path, err);
    }
    try {
      linkSync(aside, path);
    } catch {
      bytes = readFileSync(path); // made by another ftpkit meanwhile
    } finally {
      rmSync(aside, { force: true });
    }
  }
  key = { dir, bytes };
  return bytes;
}

function sealOf(body: Record<string, unknown>): string {
  return new Bun.CryptoHasher("sha256", sealKey()).update(JSON.stringify(body)).digest("hex");
}

/** A checked record without its seal. */
function unsealed(x: unknown): TransferRecord {
  const { seal: _seal, ...rec } = x as TransferRecord & { seal: string };
  return rec;
}

/** Why a parsed record's seal is not this user's (null when it is). */
function sealProblem(x: unknown): string | null {
  const { seal, ...body } = x as Record<string, unknown>;
  // 64 hex digits: anything else would reach timingSafeEqual as fewer bytes, and its length error.
  if (typeof seal !== "string" || !/^[0-9a-f]{64}$/i.test(seal)) return "not sealed by ftpkit for this user (a record from elsewhere is never resumed)";
  const want = Buffer.from(sealOf(body), "hex");
  return crypto.timingSafeEqual(want, Buffer.from(seal, "hex")) ? null : "its seal does not match (written elsewhere, or edited)";
}

/** A stable id for (direction, URL, local file): `get` on the same target finds its pending record. */
export function transferId(direction: string, url: string, local: string): string {
  return new Bun.CryptoHasher("sha256").update(`${direction}\n${url}\n${local}`).digest("hex").slice(0, 16);
}

/**
 * Write `text` to `path` atomically (temp + rename), mode 0600; `durable` also fsyncs the file and
 * its directory (two flushes cost ~14 ms here, on every command).
 */
export function writeAtomic(dir: string, name: string, text: string, durable = false): void {
  const final = join(dir, name);
  // A random part: a predictable name was a place to plant a link for the open to follow.
  const tmp = join(dir, `.${name}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  let fd: number;
  try {
    readyDir(dir);
    try {
      fd = openSync(tmp, CREATE_NEW, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      // Another job just removed the empty journal directory (removeRecord).
      forgetReady(dir);
      readyDir(dir);
      fd = openSync(tmp, CREATE_NEW, 0o600);
    }
  } catch (err) {
    throw localWriteError("create", final, err);
  }
  try {
    try {
      const data = Buffer.from(text);
      let off = 0;
      while (off < data.length) off += writeSync(fd, data, off, data.length - off, off);
      if (durable) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, final);
  } catch (err) {
    // A full disk, say: the record before this one stays as it was, no temp file is left, and a
    // tree job starts no more files (a LocalWriteError).
    rmSync(tmp, { force: true });
    throw localWriteError("write", final, err);
  }
  if (!durable) return;
  try {
    const dfd = openSync(dir, "r");
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    /* directory fsync is best effort */
  }
}

/** Whether a process with this pid exists (EPERM: it does, another user's). */
function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === "EPERM";
  }
}

/**
 * Remove the temp files (`.NAME.PID.RANDOM.tmp`, `.NAME.PID.tmp` from an earlier ftpkit) of writers that are gone, and return the names left: a run killed between writeAtomic's
 * open and its rename left one, which no later run ever touched, and which kept the job's
 * `.ftpkit/transfers` from being removed once the journal was empty. A live pid's is another run's
 * write in progress and stays.
 */
function sweepDeadTemps(dir: string, names?: string[]): string[] {
  try {
    names ??= readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((n) => {
    const m = /^\..+\.(\d+)(?:\.[0-9a-f]{12})?\.tmp$/.exec(n);
    if (!m || Number(m[1]) === process.pid || pidExists(Number(m[1]))) return true;
    rmSync(join(dir, n), { force: true });
    return false;
  });
}

/** Write the record atomically. */
export function saveRecord(rec: TransferRecord, dir: string = journalDir(), durable = false): void {
  // Only a working directory's own journal, which `ftpkit resume` there reads: the API's shared one
  // in the temp directory was indexed under whichever caller wrote last, and `ftpkit resume` elsewhere
  // then sent the user to that caller's directory, where nothing waits. Indexed before the record is
  // written: a job killed between the two left a record no other directory knew of (the same sync run
  // from elsewhere was not refused and started over).
  if (dir === journalDir()) indexJournal(dir);
  writeAtomic(dir, `${rec.id}.json`, JSON.stringify({ ...rec, seal: sealOf({ ...rec }) }, null, 2) + "\n", durable);
  pendingHere.add(join(dir, rec.id));
  recordedAny = true;
}

/** Remove a record and everything kept beside it (tree progress, tree plan). */
export function removeRecord(id: string, dir: string = journalDir()): void {
  for (const suffix of [".json", ".done", ".plan.json"]) rmSync(join(dir, `${id}${suffix}`), { force: true });
  pendingHere.delete(join(dir, id));
  unindexIfEmpty(dir);
  sweepDeadTemps(dir);
  removeIfEmpty(dir);
}

/**
 * No empty .ftpkit/transfers left behind in every directory a transfer ran in (a journal directory
 * given by the caller is theirs, and stays).
 */
function removeIfEmpty(dir: string): void {
  if (!dir.endsWith("/.ftpkit/transfers")) return;
  for (const d of [dir, dirname(dir)]) {
    try {
      rmdirSync(d);
      forgetReady(dir);
    } catch {
      break; // not empty (another job's records, or the user's own files): kept
    }
  }
}

/** Records this process wrote and has not removed: what an interrupted run leaves to `ftpkit resume`. */
const pendingHere = new Set<string>();

/** A record was written by this process (since removed or not). */
let recordedAny = false;

/** Whether this process wrote any record: a job interrupted before that has nothing to resume from this run. */
export function recordedInThisRun(): boolean {
  return recordedAny;
}

/** The journal directories holding a record this process left pending. */
export function pendingDirs(): string[] {
  return [...new Set([...pendingHere].map((p) => dirname(p)))];
}

export const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
export const isStr = (v: unknown): v is string => typeof v === "string";
const isNullable = <T>(v: unknown, check: (x: unknown) => x is T): boolean => v === null || check(v);

/** Why `x` is not a usable record, or null when it is one. */
export function recordProblem(x: unknown, id?: string): string | null {
  if (typeof x !== "object" || x === null || Array.isArray(x)) return "not a JSON object";
  const r = x as Record<string, unknown>;
  if (!isStr(r.id) || !/^[0-9a-f]{16}$/.test(r.id) || (id !== undefined && r.id !== id)) return "bad id";
  if (r.direction !== "get" && r.direction !== "put") return "bad direction";
  if (r.kind !== undefined && r.kind !== "file" && r.kind !== "tree") return "bad kind";
  if (!isStr(r.url) || !/^ftps?:\/\//.test(r.url)) return "bad url";
  if (!isStr(r.local) || !r.local.startsWith("/")) return "bad local path";
  if (r.part !== undefined && (!isStr(r.part) || !r.part.startsWith("/"))) return "bad part path";
  if (!isNullable(r.remoteSize, isNum) || !isNullable(r.remoteMtime, isStr)) return "bad remote size or time";
  if (r.localSize !== undefined && !isNum(r.localSize)) return "bad local size";
  if (r.localMtimeMs !== undefined && !isNum(r.localMtimeMs)) return "bad local time";
  if (!isDigestAlgorithm(r.hash)) return "bad hash";
  if (typeof r.verify !== "boolean") return "bad verify flag";
  if (r.alwaysDigest !== undefined && typeof r.alwaysDigest !== "boolean") return "bad alwaysDigest flag";
  if (r.tls !== undefined && r.tls !== "explicit") return "bad tls";
  if (r.insecure !== undefined && typeof r.insecure !== "boolean") return "bad insecure flag";
  if (r.ca !== undefined && (!Array.isArray(r.ca) || !r.ca.every(isStr))) return "bad ca";
  if (r.rate !== undefined && (!isNum(r.rate) || r.rate < 0)) return "bad rate";
  if ((r.active !== undefined && r.active !== true) || (r.fsync !== undefined && r.fsync !== true)) return "bad active or fsync flag";
  if (r.partBound !== undefined && !isPartBound(r.partBound)) return "bad part bound";
  if (r.segmentCount !== undefined && (!isNum(r.segmentCount) || r.segmentCount < 1)) return "bad segment count";
  if (r.segments !== undefined) {
    const ok = Array.isArray(r.segments) && r.segments.every((x) => {
      const g = x as Record<string, unknown>;
      return typeof g === "object" && g !== null && isNum(g.start) && isNum(g.end) && isNum(g.pos) && g.start <= g.pos && g.pos <= g.end;
    });
    if (!ok) return "bad segments";
  }
  if (r.kind === "tree" && (typeof r.tree !== "object" || r.tree === null)) return "tree record without its spec";
  if (!isStr(r.startedAt)) return "bad start time";
  if (r.direction === "put" && r.kind !== "tree" && (!isNum(r.localSize) || !isNum(r.localMtimeMs))) return "upload without local size/time";
  return null;
}

export function loadRecord(id: string, dir: string = journalDir()): TransferRecord | null {
  try {
    const rec = JSON.parse(readJournalFile(join(dir, `${id}.json`))) as unknown;
    return (recordProblem(rec, id) ?? sealProblem(rec)) === null ? unsealed(rec) : null;
  } catch {
    return null;
  }
}

/** Every valid pending record in `dir`, oldest first, and the names of damaged ones (with why). */
export function scanRecords(dir: string = journalDir()): { records: TransferRecord[]; damaged: { file: string; problem: string }[] } {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return { records: [], damaged: [] };
  }
  const left = sweepDeadTemps(dir, names);
  if (left.length < names.length && left.length === 0) removeIfEmpty(dir);
  names = left;
  const records: TransferRecord[] = [];
  const damaged: { file: string; problem: string }[] = [];
  for (const n of names.sort()) {
    if (!n.endsWith(".json") || n.startsWith(".") || n.endsWith(".plan.json")) continue;
    let problem: string | null;
    let rec: unknown;
    try {
      rec = JSON.parse(readJournalFile(join(dir, n)));
      problem = recordProblem(rec, n.slice(0, -5)) ?? sealProblem(rec);
    } catch (err) {
      problem = err instanceof SyntaxError ? "not valid JSON" : (err as Error).message;
    }
    if (problem === null) records.push(unsealed(rec));
    else damaged.push({ file: join(dir, n), problem });
  }
  records.sort((a, b) => a.startedAt.localeCompare(b.startedAt));
  return { records, damaged };
}

/** Every valid pending record in `dir` (damaged files are skipped). */
export function listRecords(dir: string = journalDir()): TransferRecord[] {
  return scanRecords(dir).records;
}
