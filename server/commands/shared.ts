import type { FileInfo } from "../../protocol/listing.ts";
import { joinVirtual } from "../../protocol/path.ts";
import type { Perm } from "../auth/types.ts";
import type { DirEntry, Listing } from "../storage/backend.ts";
import { childMountNames, isReservedName, standEmptyOrThrow, type Resolved } from "../vfs/resolve.ts";
import type { Session } from "../session.ts";

/** RFC 3659 perm facts from the mount's permissions. */
export function permFacts(perms: ReadonlySet<Perm>, type: "file" | "dir", mountPoint = false): string {
  let p = "";
  if (type === "file") {
    if (perms.has("read")) p += "r";
    if (perms.has("modify")) p += "adfw";
  } else {
    if (perms.has("read")) p += "el";
    if (perms.has("write")) p += "c";
    // d: RMD may remove it, f: RNFR may rename it (RFC 3659 §7.5.5); never a mount point or "/".
    if (perms.has("modify")) p += mountPoint ? "mp" : "dfmp";
  }
  return p;
}

/** Storage entries as listing entries with their perm facts; the backend's reserved names are left out. */
export function toFileInfos(list: readonly DirEntry[], perms: ReadonlySet<Perm>): FileInfo[] {
  const filePerm = permFacts(perms, "file");
  const dirPerm = permFacts(perms, "dir");
  // A link to a directory: DELE removes the link (d), RNFR renames it (f); nothing is read through it here.
  const linkPerm = perms.has("modify") ? "df" : "";
  const out: FileInfo[] = [];
  for (const e of list) {
    if (isReservedName(e.name)) continue;
    if (e.link) {
      out.push({ name: e.name, type: "file", size: e.size, mtime: e.mtime, perm: linkPerm, link: true, ...(e.link.target !== undefined ? { target: e.link.target } : {}) });
      continue;
    }
    out.push({ name: e.name, type: e.type, size: e.size, mtime: e.mtime, perm: e.type === "dir" ? dirPerm : filePerm, ...(e.unique ? { unique: e.unique } : {}), ...(e.mode !== undefined ? { mode: e.mode } : {}) });
  }
  return out;
}

/** Entries of a directory, with mount points that live inside it (they appear in the listing). */
export async function listDirectory(session: Session, r: Resolved): Promise<FileInfo[]> {
  let entries: FileInfo[] = [];
  try {
    entries = toFileInfos(await r.mount.storage.list(r.key), r.mount.perms);
  } catch (err) {
    standEmptyOrThrow(r, err);
  }
  const seen = new Set(entries.map((e) => e.name));
  for (const name of childMountNames(session.mounts, r.vpath)) {
    const mr = session.fs.resolve(joinVirtual(r.vpath, name));
    const st = await session.fs.statResolved(mr).catch(() => null);
    // A mount the session may not read (a drop box) shows the server's start, not when someone last uploaded there.
    const mtime = mr.mount.perms.has("read") ? st?.mtime : new Date(session.server.startedAt);
    const info: FileInfo = { name, type: "dir", size: 0, mtime: mtime ?? new Date(), perm: permFacts(mr.mount.perms, "dir", true) };
    if (seen.has(name)) entries = entries.map((e) => (e.name === name ? info : e));
    else entries.push(info);
  }
  // Storage usually hands the names over sorted already (local.ts does): check before sorting.
  for (let i = 1; i < entries.length; i++) {
    if (entries[i - 1]!.name > entries[i]!.name) {
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      break;
    }
  }
  return entries;
}

/**
 * A directory's entries in name-ordered batches, for listings sent while the rest is still being
 * stat'ed. Storage without `listBatches`, and directories with mount points inside (they are
 * merged into the names), come as one batch from listDirectory. Errors reading the directory are
 * thrown here, before any batch, so they can still be answered before the 150.
 */
export async function listDirectoryBatches(session: Session, r: Resolved): Promise<FileBatches> {
  const storage = r.mount.storage;
  if (!storage.listBatches || childMountNames(session.mounts, r.vpath).length > 0) return [await listDirectory(session, r)];
  let batches: Listing;
  try {
    batches = await storage.listBatches(r.key);
  } catch (err) {
    standEmptyOrThrow(r, err);
    return [[]];
  }
  const perms = r.mount.perms;
  return {
    async *[Symbol.asyncIterator]() {
      for await (const batch of batches) yield toFileInfos(batch, perms);
    },
    [Symbol.dispose]: () => batches[Symbol.dispose]?.(),
  };
}

/**
 * A listing's batches. What the storage holds for them (a directory's name list) is given back when
 * they end or are abandoned, or by `[Symbol.dispose]` when they are never read: their owner calls it.
 */
export type FileBatches = (AsyncIterable<FileInfo[]> | Iterable<FileInfo[]>) & { [Symbol.dispose]?(): void };

/** What `batches` hold, as the Disposable their owner (a transfer, a STAT) ends. */
export function heldBy(batches: FileBatches): Disposable {
  return { [Symbol.dispose]: () => batches[Symbol.dispose]?.() };
}

/** What a LIST/NLST/STAT argument asks for: the path after ls-style options ("-la dir"), and the order. */
export interface ListArgs {
  path: string;
  /** -t: newest first (as vsftpd and ProFTPD: `NLST -t` is how a script finds the latest file). */
  byTime: boolean;
  /** -r: the order reversed. */
  reverse: boolean;
}

/**
 * One ls option group and the space that ends it: "-la", "-1" (one per line: `ncftpls -1` sends
 * `NLST -1`, a 550 while digits made a path), or a long option ("--full-time"), which changes nothing.
 * vsftpd takes any leading "-word" for options; here a group with another character ("-dash.txt",
 * "-v1.2") stays a name.
 */
const OPTION_GROUP = /^-([a-zA-Z0-9]+|-[a-zA-Z][a-zA-Z-]*)( |$)/;

/**
 * Parse LIST/NLST arguments: ls-style options like "-la" that clients send; only -t and -r change anything.
 * One space ends an option group, and the path is the rest, kept whole as vsftpd keeps it: a name may
 * begin or end with a space ("LIST trail.txt␠", "NLST ␠lead.txt" were 550 here). Only spaces left is no path.
 */
export function listArgs(arg: string): ListArgs {
  let rest = arg;
  let flags = "";
  for (let m = OPTION_GROUP.exec(rest); m; m = OPTION_GROUP.exec(rest)) {
    if (!m[1]!.startsWith("-")) flags += m[1];
    rest = rest.slice(m[0].length);
  }
  // "--" ends the options, as ls's (vsftpd and ProFTPD list "LIST --" and "LIST -- name"): "-x" after it is a name.
  const end = /^--( |$)/.exec(rest);
  if (end) rest = rest.slice(end[0].length);
  return { path: rest.trim() === "" ? "" : rest, byTime: flags.includes("t"), reverse: flags.includes("r") };
}
