// The S3 storage backend: a home or mount on any S3-compatible object store (`s3://bucket/prefix`).
// Directories are key prefixes ("a/b/"); MKD makes a marker object "a/b/" so an empty directory
// stays visible. Every call is a signed request of our own (s3-request.ts).
import type { S3Place } from "../../protocol/s3-url.ts";
import { isReservedName, onlyReservedNames, RESTART_PAST_END, StorageError, type DirEntry, type EntryStat, type ReadHandle, type Storage, type Upload, type WriteClaim, type WriteMode } from "./backend.ts";
import { copyObject, deleteObject, headObject, listObjects, objectTags, putObject, TAG_ETAG, TAG_SHA256, META_SHA256, type ListPage, type ObjectHead } from "./s3-object.ts";
import { moveDir, unfinishedRename } from "./s3-dir-rename.ts";
import { withKeys, type SharedKeyLock } from "./s3-key-lock.ts";
import { noteUpload, S3NameClaim, uploadsBelow, whileReserved } from "./s3-name-claim.ts";
import { openS3Read } from "./s3-read.ts";
import { S3Api, settingsProblem, type S3Settings } from "./s3-request.ts";
import { sweepStaleUploads, type StaleUploads } from "./s3-sweep.ts";
import { openS3Upload } from "./s3-upload.ts";

/** What RMD adds to 550 Directory not empty when no listed entry is the cause (see notEmpty). */
const UNREACHABLE = "it holds objects another tool named so that no FTP path reaches them (such as a//b or a/./b); remove them with an S3 tool";
export { MAX_DIR_RENAME_OBJECTS } from "./s3-dir-rename.ts";
/** S3's longest object key, in UTF-8 bytes (prefix included). */
export const MAX_KEY_BYTES = 1024;

export class S3Storage implements Storage {
  readonly implicitDirectories = true;
  private readonly api: S3Api;
  /** "" (whole bucket) or "prefix/": every key this storage touches starts with it. */
  private readonly root: string;
  private readonly problem: string | null;
  /** Abort stale multipart uploads under the prefix (the server's places; not a start-up probe's). */
  private readonly staleUploads: StaleUploads | null;

  constructor(
    settings: S3Settings,
    place: S3Place,
    opts: { onOutage?: (reason: string) => void; keyLock?: SharedKeyLock | null; staleUploads?: StaleUploads | null } = {},
  ) {
    this.api = new S3Api(settings, place.bucket, opts.onOutage);
    this.api.keyLock = opts.keyLock ?? null;
    this.root = place.prefix ? place.prefix + "/" : "";
    this.problem = settingsProblem(settings);
    this.staleUploads = opts.staleUploads ?? null;
  }

  /** At the place's use (a login opens it, an upload), now and then: see s3-sweep.ts. */
  private sweep(): void {
    if (this.staleUploads && !this.problem) sweepStaleUploads(this.api, this.root, this.staleUploads);
  }

  /** The full object key of a storage key; refuses anything that could leave the prefix. */
  private full(key: string): string {
    if (this.problem) throw new StorageError("denied", this.problem);
    if (key.includes("\0") || (key !== "" && key.split("/").some((s) => s === "" || s === "." || s === ".."))) {
      throw new StorageError("denied", "invalid path");
    }
    return fitting(this.root + key);
  }

  /** The prefix of the directory `key` ("" = the root). */
  private dirPrefix(key: string): string {
    const full = this.full(key);
    return key === "" ? full : full + "/";
  }

  private async page(prefix: string, opts: { delimiter?: boolean; token?: string; maxKeys?: number }): Promise<ListPage> {
    const res = await listObjects(this.api, prefix, opts);
    return { files: res.files.filter((f) => f.key.startsWith(prefix)), dirs: res.dirs.filter((p) => p.startsWith(prefix)), next: res.next };
  }

  private head(full: string): Promise<ObjectHead | null> {
    return headObject(this.api, full);
  }

  /** Does the directory `key` exist (a marker or any object below it)? Returns its marker's mtime when it has one. */
  private async dirProbe(key: string): Promise<{ mtime: Date } | null> {
    const prefix = this.dirPrefix(key);
    const p = await this.page(prefix, { maxKeys: 1 });
    if (key === "") return { mtime: new Date() };
    const marker = p.files.find((f) => f.key === prefix);
    if (marker) return { mtime: marker.mtime };
    return p.files.length > 0 || p.dirs.length > 0 ? { mtime: new Date() } : null;
  }

  async stat(key: string): Promise<EntryStat> {
    const full = this.full(key);
    if (key === "") this.sweep();
    if (key !== "") {
      const h = await this.head(full);
      // The ETag changes with the object: digests of it (HASH, a download's) are cached by it.
      if (h) return { type: "file", size: h.size, mtime: h.mtime, ...(h.etag ? { version: `${h.etag}:${h.size}` } : {}) };
    }
    // The root always exists; listing it checks the bucket and the credentials.
    const d = await this.dirProbe(key);
    if (!d) throw new StorageError("not-found");
    return { type: "dir", size: 0, mtime: d.mtime };
  }

  /** A new entry at `key` needs its parent directory, as on disk. */
  private async requireParent(key: string): Promise<void> {
    const slash = key.lastIndexOf("/");
    if (slash < 0) return;
    const st = await this.stat(key.slice(0, slash));
    if (st.type !== "dir") throw new StorageError("not-a-directory");
  }

  async list(key: string): Promise<DirEntry[]> {
    const out: DirEntry[] = [];
    for await (const batch of await this.listBatches(key)) out.push(...batch);
    return out;
  }

  async listBatches(key: string): Promise<AsyncIterable<DirEntry[]>> {
    const prefix = this.dirPrefix(key);
    if (key === "") this.sweep();
    const first = await this.page(prefix, { delimiter: true });
    if (key !== "" && first.files.length === 0 && first.dirs.length === 0) {
      throw new StorageError((await this.head(this.full(key))) ? "not-a-directory" : "not-found");
    }
    const self = this;
    return (async function* () {
      let page: ListPage | null = first;
      // Files of earlier pages whose directory of the same name may still come (see filesAhead).
      let earlier = new Set<string>();
      while (page) {
        yield entriesOf(prefix, page, earlier);
        earlier = filesAhead(prefix, page, earlier);
        page = page.next ? await self.page(prefix, { delimiter: true, token: page.next }) : null;
      }
    })();
  }

  async openRead(key: string, from?: number): Promise<ReadHandle> {
    const full = this.full(key);
    const h = key === "" ? null : await this.head(full);
    if (!h) throw new StorageError((await this.dirProbe(key)) ? "is-a-directory" : "not-found");
    const file = openS3Read(this.api, full, h);
    if (from !== undefined) await file.start(from);
    return file;
  }

  /**
   * A new name is reserved until its upload ends (s3-name-claim.ts), and so is an object that APPE or
   * REST+STOR composes anew, as a local file written in place is locked: a second one of it gets
   * "file busy" (450) before its 150, not after sending all its data (the ETag guard refused it at its
   * commit). An overwrite needs no claim. Refused now too what openWrite would refuse after the 150:
   * a key that is also a prefix ("d" and "d/x", made by other S3 tools), or whose parent is an object.
   */
  async claimWrite(key: string, mode: WriteMode): Promise<WriteClaim | null> {
    if (key === "") return null;
    if (mode.kind !== "create") {
      const [dir] = await Promise.all([this.dirProbe(key), this.requireParent(key)]);
      if (dir) throw new StorageError("is-a-directory");
      if (mode.kind === "truncate") return null;
    }
    return S3NameClaim.take(this.api.lockName(this.full(key)), this.api.keyLock);
  }

  async openWrite(key: string, mode: WriteMode, claim?: WriteClaim | null, signal?: AbortSignal): Promise<Upload> {
    if (key === "") throw new StorageError("is-a-directory");
    const full = this.full(key);
    this.sweep();
    const [old, dir] = await Promise.all([this.head(full), this.dirProbe(key), this.requireParent(key)]);
    if (dir) throw new StorageError("is-a-directory");
    if (mode.kind === "create" && old) throw new StorageError("exists");
    let keep = 0;
    if (mode.kind === "append") keep = old?.size ?? 0;
    if (mode.kind === "offset") {
      if (mode.offset > (old?.size ?? 0)) throw new StorageError("unsupported", RESTART_PAST_END, RESTART_PAST_END);
      keep = mode.offset;
    }
    // The upload holds the claimed name from here until it ends, and its directory (uploadsBelow).
    const claimEnd = claim instanceof S3NameClaim ? claim.start() : undefined;
    const running = noteUpload(this.api.lockName(full));
    const onEnd = () => (claimEnd?.(), running());
    const slash = key.lastIndexOf("/");
    const parent = slash < 0 ? undefined : { lock: this.api.lockName(this.dirPrefix(key.slice(0, slash))), exists: async () => !!(await this.dirProbe(key.slice(0, slash))) };
    return openS3Upload(this.api, { key: full, kind: mode.kind, old, keep, onEnd, parent }, signal);
  }

  async mkdir(key: string): Promise<void> {
    if (key === "") throw new StorageError("exists");
    const full = this.full(key);
    const marker = fitting(full + "/");
    // Under the name's lock (an upload's commit checks for this marker under it), holding its
    // reservation: a name being uploaded got 257, and the files put in that "directory" vanished from
    // listings once the upload committed the file over them. 450, as for RNTO onto it.
    const names = [this.api.lockName(full), this.api.lockName(marker)];
    await withKeys(names, () => whileReserved(names[0]!, this.api.keyLock, async () => {
      const [file, dir] = await Promise.all([this.head(full), this.dirProbe(key), this.requireParent(key)]);
      if (file || dir) throw new StorageError("exists");
      await putObject(this.api, marker, new Uint8Array(0));
    }), this.api.keyLock);
  }

  async rmdir(key: string): Promise<void> {
    if (key === "") throw new StorageError("denied", "cannot remove the root");
    const prefix = this.dirPrefix(key);
    const p = await this.page(prefix, { maxKeys: 2 });
    if (p.files.length === 0 && p.dirs.length === 0) {
      throw new StorageError((await this.head(this.full(key))) ? "not-a-directory" : "not-found");
    }
    // A file on its way in: not empty, as on disk (where it exists from its open).
    if (uploadsBelow(this.api.lockName(prefix))) throw new StorageError("not-empty", "upload under way", "a file is being uploaded into it");
    // A "marker" with bytes in it (another tool stored data under "d/") is data, not a marker: RMD
    // deleted it, unlisted and uncounted by the quota's give-back.
    if (p.files.some((f) => f.key !== prefix || f.size > 0)) throw await this.notEmpty(prefix);
    await deleteObject(this.api, prefix);
    await this.keepParent(key);
  }

  async remove(key: string): Promise<number> {
    if (key === "") throw new StorageError("is-a-directory");
    const full = this.full(key);
    // Under the key's lock: two DELEs of one file at once free its bytes once (the second finds nothing).
    const size = await withKeys([this.api.lockName(full)], async () => {
      const h = await this.head(full);
      if (!h) throw new StorageError((await this.dirProbe(key)) ? "is-a-directory" : "not-found");
      await deleteObject(this.api, full);
      return h.size;
    }, this.api.keyLock);
    await this.keepParent(key);
    return size;
  }

  /**
   * Why RMD of a non-empty directory fails. When LIST shows it empty, its objects are ones other
   * tools named so that no FTP path reaches them ("d//x", "d/./x", "d/x/../y", "d/." or data in
   * the marker "d/"): a bare "Directory not empty" was all a client ever got, RMD after RMD.
   * They are not deleted for it: they are somebody's data, and only an S3 tool can show them.
   */
  private async notEmpty(prefix: string): Promise<StorageError> {
    let token: string | undefined;
    let reserved = false;
    for (let pages = 0; pages < 3; pages++) {
      const p = await this.page(prefix, { delimiter: true, token });
      const entries = entriesOf(prefix, p);
      if (entries.some((e) => !isReservedName(e.name))) return new StorageError("not-empty");
      reserved ||= entries.length > 0;
      token = p.next;
      if (!token) return reserved ? onlyReservedNames() : new StorageError("not-empty", "only unreachable objects", UNREACHABLE);
    }
    return new StorageError("not-empty");
  }

  /**
   * The directory that held `key` stays after its last object went (a DELE, an RMD, a move out), as on disk.
   * A directory uploaded by another tool (aws s3 sync, rclone) has no marker and vanished with its
   * last object: rm -r's RMD then found nothing (550), and lftp, rclone purge and sync --delete failed.
   * Best effort: the change itself is done.
   */
  private async keepParent(key: string): Promise<void> {
    const slash = key.lastIndexOf("/");
    if (slash < 0) return; // the root is virtual: it always exists
    try {
      const prefix = this.dirPrefix(key.slice(0, slash));
      const p = await this.page(prefix, { maxKeys: 1 });
      if (p.files.length === 0 && p.dirs.length === 0) await putObject(this.api, prefix, new Uint8Array(0));
    } catch {}
  }

  async rename(from: string, to: string): Promise<number> {
    if (from === "" || to === "") throw new StorageError("denied", "cannot rename the root");
    const src = this.full(from);
    const dst = this.full(to);
    const h = await this.head(src);
    if (h) {
      if (from === to) return 0;
      // Both keys locked: the file replaced at `to` is counted once, and a DELE of `from` meanwhile
      // cannot free bytes that the copy keeps.
      // The destination's directory marker too: a directory renamed onto that name (moveDir locks it) waits.
      // And a name a running upload reserved is that upload's: 450 (whileReserved).
      const replaced = await withKeys([this.api.lockName(src), this.api.lockName(dst), this.api.lockName(this.dirPrefix(to))], () => whileReserved(this.api.lockName(dst), this.api.keyLock, async () => {
        const [now, old, dir] = await Promise.all([this.head(src), this.head(dst), this.dirProbe(to), this.requireParent(to)]);
        if (!now) throw new StorageError("not-found");
        if (dir) throw new StorageError("is-a-directory");
        // Keep (or move into metadata) a digest the upload stored, so HASH still needs no download.
        const sha256 = now.sha256 ?? (await this.taggedDigest(src, now));
        await copyObject(this.api, src, dst, now, sha256 ? { [META_SHA256]: sha256 } : undefined);
        await deleteObject(this.api, src);
        return old?.size ?? 0;
      }), this.api.keyLock);
      await this.keepParent(from);
      return replaced;
    }
    if (!(await this.dirProbe(from))) throw new StorageError("not-found");
    if (from === to) return 0;
    if (to.startsWith(from + "/")) throw new StorageError("denied", "cannot move a directory into itself", "cannot move a directory into itself");
    await this.renameDir(from, to);
    await this.keepParent(from);
    return 0;
  }

  /** Move a small tree (s3-dir-rename.ts): a cut one is finished by the same rename again. */
  private async renameDir(from: string, to: string): Promise<void> {
    const [file, dest] = await Promise.all([this.head(this.full(to)), this.dirProbe(to), this.requireParent(to)]);
    if (file) throw new StorageError("not-a-directory");
    const guard = {
      // The destination's object key too: a file renamed onto that name (rename() locks it) waits.
      locks: [this.api.lockName(this.full(to))],
      hold: <T>(move: () => Promise<T>) => whileReserved(this.api.lockName(this.full(to)), this.api.keyLock, move),
      recheck: async () => {
        const [source, fileNow, destNow] = await Promise.all([this.dirProbe(from), this.head(this.full(to)), this.dirProbe(to)]);
        if (!source) throw new StorageError("not-found"); // another rename took it first
        // Moved under a running upload, the upload failed after all its bytes (an overwrite's lost).
        if (uploadsBelow(this.api.lockName(this.dirPrefix(from)))) throw new StorageError("transient", "file busy", "a file in it is being uploaded by another session");
        if (fileNow) throw new StorageError("not-a-directory");
        if (destNow && !dest) throw new StorageError("exists", "target appeared", "another session made the target meanwhile");
      },
    };
    await moveDir(this.api, (prefix, token) => this.page(prefix, { token }), this.dirPrefix(from), this.dirPrefix(to), !!dest, guard);
  }

  /** Is the directory `to` what a rename of `from` left unfinished? Then RNTO onto it finishes the move. */
  async resumesRename(from: string, to: string): Promise<boolean> {
    if (from === "" || to === "") return false;
    return unfinishedRename(this.api, this.dirPrefix(from), this.dirPrefix(to));
  }

  async usage(key = ""): Promise<number> {
    if (key !== "") {
      const h = await this.head(this.full(key));
      if (h) return h.size;
    }
    const prefix = this.dirPrefix(key);
    if (key === "") this.sweep();
    let total = 0;
    let token: string | undefined;
    do {
      const p = await this.page(prefix, { token });
      for (const f of p.files) total += f.size;
      token = p.next;
    } while (token);
    return total;
  }

  /** SHA-256 of the whole file as stored with it at upload time (no download), or null. */
  async storedDigest(key: string, algorithm: string): Promise<string | null> {
    if (algorithm !== "SHA-256" || key === "") return null;
    const full = this.full(key);
    const h = await this.head(full);
    if (!h) return null;
    return h.sha256 ?? (await this.taggedDigest(full, h)) ?? null;
  }

  /** The digest a multipart upload put in its tags, if they still belong to this version of the object. */
  private async taggedDigest(full: string, h: ObjectHead): Promise<string | undefined> {
    if (!h.tagged) return undefined;
    const tags = await objectTags(this.api, full).catch(() => new Map<string, string>());
    return tags.get(TAG_ETAG) === h.etag.replace(/"/g, "") ? tags.get(TAG_SHA256) : undefined;
  }
}

/**
 * `key` if S3 can hold it. Longer keys are refused by the store with a 400 that carries no error code
 * on a HEAD (radosgw: InvalidObjectName), which came back as "450 try again later" for ever.
 */
function fitting(key: string): string {
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) throw new StorageError("name-too-long", "name too long for the object store");
  return key;
}

/** One page of a delimited listing as directory entries, in name order; `earlier`: files of earlier pages (filesAhead). */
function entriesOf(prefix: string, page: ListPage, earlier: ReadonlySet<string> = new Set()): DirEntry[] {
  const out: DirEntry[] = [];
  const names = new Set<string>();
  for (const f of page.files) {
    const name = f.key.slice(prefix.length);
    if (name === "" || name.includes("/")) continue; // the directory's own marker
    if (name === "." || name === "..") continue; // keys "d/." or "d/..", put by other tools: no path reaches them
    names.add(name);
    out.push({ name, type: "file", size: f.size, mtime: f.mtime });
  }
  const now = new Date();
  for (const d of page.dirs) {
    const name = d.slice(prefix.length, -1);
    // A file and a prefix of the same name: the file wins, as in stat. "x/../y" or "x/./y" (other
    // tools) would list a directory "." or ".." that every client takes for another one.
    if (name === "" || name === "." || name === ".." || name.includes("/") || names.has(name) || earlier.has(name)) continue;
    out.push({ name, type: "dir", size: 0, mtime: now });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * The files (of this page or `earlier`) whose prefix "name/" may be on a later page. A file "x" and
 * a directory "x/" fall on different pages of 1,000 when keys sort between them ("x-1", "x.txt":
 * every byte below "/"), and both were listed, where one page lists the file alone. Keys come in
 * byte order, so "x/" can still come only while the page's last key starts with "x": the files
 * kept are prefixes of one key (at most 1,024 of them), never the whole listing.
 */
function filesAhead(prefix: string, page: ListPage, earlier: ReadonlySet<string>): Set<string> {
  // Each list comes sorted (in UTF-8 byte order, which JavaScript's string order is not): the page's last key is one of their last two.
  const file = page.files.at(-1)?.key ?? "";
  const dir = page.dirs.at(-1) ?? "";
  const last = Buffer.compare(Buffer.from(file), Buffer.from(dir)) > 0 ? file : dir;
  const ahead = new Set<string>();
  const candidates = [...earlier, ...page.files.map((f) => f.key.slice(prefix.length)).filter((n) => n !== "" && !n.includes("/"))];
  for (const name of candidates) if (last.startsWith(prefix + name)) ahead.add(name);
  return ahead;
}
