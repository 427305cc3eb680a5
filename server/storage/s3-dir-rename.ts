// RNFR/RNTO of a directory on S3: there is no rename, so every object under the prefix is copied,
// then the originals deleted. A store that stops mid-way (restart, outage) used to leave the tree
// half in both places for good: the reply was "451 Local error" or a bare 450, and the same rename
// again was refused ("Target is an existing directory"). Now the destination's marker carries a
// journal (META_RENAME_FROM: where its objects come from) from the first copy until the move is
// done, so a repeat of the same RNFR/RNTO finishes it; nothing is deleted before every object has
// its copy, and a move that fails before any original is deleted takes its copies back when it can.
import { StorageError } from "./backend.ts";
import { copyObject, deleteObject, headObject, META_RENAME_FROM, META_RENAME_TOKEN, putObject, type ListPage } from "./s3-object.ts";
import { withKeys } from "./s3-key-lock.ts";
import type { S3Api } from "./s3-request.ts";

/** A directory rename copies every object under it: above this many it is refused (550). */
export const MAX_DIR_RENAME_OBJECTS = 1000;
/** Copies and deletes of a directory rename in flight at once. */
const RENAME_PARALLEL = 8;
/** What the client is told when a move stopped half-way (a fixed text: never a key). */
export const INTERRUPTED = "directory rename interrupted; repeat the same RNFR and RNTO to finish it";

/** What a rename naming one side of a pending move (other than that very move) is told (fixed: never a key). */
export const PENDING = "an interrupted rename of this directory is pending: repeat that same RNFR and RNTO to finish it";

const EMPTY = new Uint8Array(0);

/**
 * The journal on a destination's marker: the source prefix, the token the source's marker carries
 * (META_RENAME_TOKEN) while this move is its unfinished one, and whether the source had a marker.
 */
function journal(src: string, token: string, srcHadMarker: boolean): string {
  return `${encodeURIComponent(src)};${token}${srcHadMarker ? "" : ";no-marker"}`;
}

/**
 * The journal `dst`'s marker holds if it is the unfinished destination of a rename of this very
 * `src` (prefixes "a/b/"), else null. The source prefix alone is not enough: a move cut, then done
 * under another name (d to m2) or by hand, left m's journal for good, and a new directory d (MKD d)
 * renamed onto m months later was "resumed" into it, its files copied over m's own. The token on
 * the source's marker goes with that marker: a new d has none.
 */
async function journalOf(api: S3Api, src: string, dst: string): Promise<{ srcHadMarker: boolean } | null> {
  const [to, from] = await Promise.all([headObject(api, dst), headObject(api, src)]);
  const token = from?.renameToken;
  if (!to?.renameFrom || !token) return null;
  if (to.renameFrom === journal(src, token, true)) return { srcHadMarker: true };
  if (to.renameFrom === journal(src, token, false)) return { srcHadMarker: false };
  return null;
}

/**
 * The move `prefix` is one side of, if that move is unfinished (its journal and token still match):
 * as the source, its marker's token names the destination (tokens made before it did name none:
 * not found here); as the destination, its marker's journal names the source.
 */
async function pendingMove(api: S3Api, prefix: string): Promise<{ from: string; to: string } | null> {
  const h = await headObject(api, prefix);
  const named = h?.renameToken?.split(",")[1];
  if (h?.renameToken && named !== undefined) {
    const to = decodeURIComponent(named);
    const journalThere = (await headObject(api, to))?.renameFrom;
    if (journalThere === journal(prefix, h.renameToken, true) || journalThere === journal(prefix, h.renameToken, false)) return { from: prefix, to };
  }
  if (h?.renameFrom) {
    const [encSrc, token] = h.renameFrom.split(";");
    const from = decodeURIComponent(encSrc ?? "");
    if (token && from && (await headObject(api, from))?.renameToken === token) return { from, to: prefix };
  }
  return null;
}

/** Whether the directory `dst` is the unfinished destination of a rename from `src` (prefixes "a/b/"). */
export async function unfinishedRename(api: S3Api, src: string, dst: string): Promise<boolean> {
  return (await journalOf(api, src, dst)) !== null;
}

/** What a directory rename holds and checks again once its keys are locked (see moveDir). */
export interface RenameGuard {
  /** More lock names: the destination's object key, so a file renamed onto that name waits. */
  locks: string[];
  /** The checks made before the locks, made again under them: throws if another change came in between. */
  recheck(): Promise<void>;
  /** Under the locks, run the move holding what else it needs (the destination name's reservation). */
  hold?<T>(move: () => Promise<T>): Promise<T>;
}

/**
 * Move every object under `src` to `dst` (prefixes ending in "/"). `dstExists`: the destination is
 * a directory already (then it must be empty, or this move's unfinished destination). `guard`: two
 * renames onto one new name both found it free, and the second, run after the first under the same
 * locks, merged its files into the first's (same names lost); a directory renamed twice at once went
 * to both names, each client told 250. Under the locks, the guard finds that out.
 */
export async function moveDir(api: S3Api, page: (prefix: string, token?: string) => Promise<ListPage>, src: string, dst: string, dstExists: boolean, guard?: RenameGuard): Promise<void> {
  // A half-moved source or destination renamed to a third name: a fresh token over the old one
  // dropped the journal, and the user was left with the tree in two places and no way to finish.
  for (const side of await Promise.all([pendingMove(api, src), pendingMove(api, dst)])) {
    if (side && (side.from !== src || side.to !== dst)) throw new StorageError("transient", "rename of one side of a pending move", PENDING);
  }
  const resumed = dstExists ? await journalOf(api, src, dst) : null;
  const resuming = resumed !== null;
  if (dstExists && !resuming) {
    const p = await page(dst);
    if (p.files.some((f) => f.key !== dst)) throw new StorageError("not-empty");
  }
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const p = await page(src, token);
    keys.push(...p.files.map((f) => f.key).filter((k) => k !== src));
    if (keys.length > MAX_DIR_RENAME_OBJECTS) {
      const why = `directory too large to rename (over ${MAX_DIR_RENAME_OBJECTS} objects)`;
      throw new StorageError("unsupported", why, why);
    }
    token = p.next;
  } while (token);
  const target = (k: string) => dst + k.slice(src.length);
  // Every key locked from its copy to the deletion of the original: a DELE of an object meanwhile
  // would otherwise free bytes its copy still holds. The markers too: two repeats run one at a time.
  const locks = [src, dst, ...keys.flatMap((k) => [k, target(k)])].map((k) => api.lockName(k));
  await withKeys(
    [...locks, ...(guard?.locks ?? [])],
    async () => {
      await guard?.recheck();
      const run = () => move(api, keys, src, dst, target, resumed ?? (dstExists ? "into-empty" : "new"));
      return guard?.hold ? guard.hold(run) : run();
    },
    api.keyLock,
  );
}

async function move(api: S3Api, keys: string[], src: string, dst: string, target: (k: string) => string, how: { srcHadMarker: boolean } | "into-empty" | "new"): Promise<void> {
  // The source keeps a marker to the end (a tree another tool uploaded has none), so it stays
  // listed, and a repeat's RNFR finds it, until its last object is gone.
  const srcMarker = await headObject(api, src);
  const srcHadMarker = typeof how === "object" ? how.srcHadMarker : !!srcMarker;
  if (typeof how !== "object") {
    // A first attempt: the source's marker takes a new token (its bytes, if another tool stored some,
    // kept), then the destination's journal names it. The token names the destination, so a rename
    // of the source elsewhere finds the move pending (pendingMove).
    const token = `${crypto.randomUUID()},${encodeURIComponent(dst)}`;
    if (srcMarker && srcMarker.size > 0) await copyObject(api, src, src, srcMarker, { [META_RENAME_TOKEN]: token });
    else await putObject(api, src, EMPTY, { [META_RENAME_TOKEN]: token });
    await putObject(api, dst, EMPTY, { [META_RENAME_FROM]: journal(src, token, srcHadMarker) });
  } else if (!srcMarker) await putObject(api, src, EMPTY);
  const copied: string[] = [];
  const resuming = typeof how === "object";
  try {
    await inParallel(keys, async (k) => {
      const [h, there] = await Promise.all([headObject(api, k), resuming ? headObject(api, target(k)) : null]);
      if (!h) return;
      // A repeat keeps what the destination holds when it is the first attempt's copy (the same
      // bytes), or newer than the original: a file uploaded there since the cut (copied over, it was
      // lost). An original changed since its copy is copied again. (LastModified counts seconds:
      // a tie copies, as before.)
      if (there && (there.etag === h.etag || there.mtime > h.mtime)) return;
      await copyObject(api, k, target(k), h);
      copied.push(target(k));
    });
  } catch (err) {
    // Nothing deleted yet: a first attempt refused by the store (a copy denied) takes its copies and
    // markers back. Not when the store is away: each undo request would wait out its deadline too.
    const away = err instanceof StorageError && err.kind === "transient";
    if (typeof how !== "object" && !away && (await undo(api, copied, src, dst, !srcMarker, how === "into-empty"))) throw err;
    throw interrupted(err);
  }
  try {
    await inParallel(keys, (k) => deleteObject(api, k));
    // The journal goes before the source's marker: cut between, the source is left an empty
    // directory (RMD removes it), never a journal that a later rename of a new `src` would resume.
    // The destination ends with a marker if the source had one (bytes another tool stored in "d/" are data: copied).
    if (srcMarker && srcMarker.size > 0) await copyObject(api, src, dst, srcMarker);
    else if (srcHadMarker || how === "into-empty") await putObject(api, dst, EMPTY);
    else await deleteObject(api, dst);
    await deleteObject(api, src);
  } catch (err) {
    throw interrupted(err);
  }
}

/** Take a first attempt's copies and markers back; false if the store refused any of it. */
async function undo(api: S3Api, copied: string[], src: string, dst: string, srcMarkerAdded: boolean, dstHadMarker: boolean): Promise<boolean> {
  try {
    await inParallel(copied, (k) => deleteObject(api, k));
    if (dstHadMarker) await putObject(api, dst, EMPTY);
    else await deleteObject(api, dst);
    if (srcMarkerAdded) await deleteObject(api, src);
    return true;
  } catch {
    return false;
  }
}

function interrupted(err: unknown): StorageError {
  const why = err instanceof Error ? err.message : String(err);
  return new StorageError("transient", `directory rename interrupted: ${why}`, INTERRUPTED);
}

/** `fn` over `items`, RENAME_PARALLEL at a time; on a failure no new item starts, and it rejects once those running ended. */
async function inParallel<T>(items: readonly T[], fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | null = null;
  const worker = async () => {
    while (!failure && next < items.length) {
      try {
        await fn(items[next++]!);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(RENAME_PARALLEL, items.length) }, worker));
  if (failure) throw (failure as { err: unknown }).err;
}
