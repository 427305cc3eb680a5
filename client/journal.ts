// Resume state: one small JSON file per unfinished transfer under ./.ftpkit/transfers/, written
// atomically (temp file + fsync + rename) before any byte moves, so it survives kill -9.
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";

export interface TransferRecord {
  id: string;
  direction: "get" | "put";
  /** The URL without its password. */
  url: string;
  /** Absolute path of the local file (the final name for a download). */
  local: string;
  /** The partial file a download writes to. */
  part?: string;
  remoteSize: number | null;
  /** MDTM time-val of the remote file when the download started. */
  remoteMtime: string | null;
  /** Uploads: the local file's size and mtime when the upload started. */
  localSize?: number;
  localMtimeMs?: number;
  hash: "md5" | "sha256";
  verify: boolean;
  /** The transfer ran over explicit FTPS (AUTH TLS), so resuming uses TLS again (ftps:// URLs say so themselves). */
  tls?: "explicit";
  startedAt: string;
}

/** The journal directory for a working directory. */
export function journalDir(cwd: string = process.cwd()): string {
  return join(cwd, ".ftpkit", "transfers");
}

/** A stable id for (direction, URL, local file): `get` on the same target finds its pending record. */
export function transferId(direction: string, url: string, local: string): string {
  return new Bun.CryptoHasher("sha256").update(`${direction}\n${url}\n${local}`).digest("hex").slice(0, 16);
}

/** Write the record atomically. */
export function saveRecord(rec: TransferRecord, dir: string = journalDir()): void {
  mkdirSync(dir, { recursive: true });
  const final = join(dir, `${rec.id}.json`);
  const tmp = join(dir, `.${rec.id}.${process.pid}.tmp`);
  const fd = openSync(tmp, "w", 0o600);
  try {
    const data = Buffer.from(JSON.stringify(rec, null, 2) + "\n");
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off, off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, final);
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

export function removeRecord(id: string, dir: string = journalDir()): void {
  rmSync(join(dir, `${id}.json`), { force: true });
}

export function loadRecord(id: string, dir: string = journalDir()): TransferRecord | null {
  try {
    return JSON.parse(readFileSync(join(dir, `${id}.json`), "utf8")) as TransferRecord;
  } catch {
    return null;
  }
}

/** Every pending record in `dir` (unreadable or half-written files are skipped). */
export function listRecords(dir: string = journalDir()): TransferRecord[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: TransferRecord[] = [];
  for (const n of names.sort()) {
    if (!n.endsWith(".json") || n.startsWith(".")) continue;
    const rec = loadRecord(n.slice(0, -5), dir);
    if (rec && rec.id && rec.direction && rec.local) out.push(rec);
  }
  return out.sort((a, b) => a.startedAt.localeCompare(b.startedAt));
}
