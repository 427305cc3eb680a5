// How an S3 upload ends: committed (checked under the key's lock, then made visible by one PUT or
// CompleteMultipartUpload, its digest tagged) or aborted, the abort sent again later when the store
// did not take it. Apart from s3-upload.ts, which streams the bytes into parts.
import { StorageError } from "./backend.ts";
import {
  abortMultipart,
  completeMultipart,
  headObject,
  listObjects,
  META_SHA256,
  putObject,
  putTags,
  TAG_ETAG,
  TAG_SHA256,
  type CompletedPart,
} from "./s3-object.ts";
import { withKeys } from "./s3-key-lock.ts";
import type { S3Api } from "./s3-request.ts";
import type { UploadTarget } from "./s3-upload.ts";

/**
 * What a commit places: a small file's bytes (one PUT), or a multipart upload whose parts have all
 * landed (`completed` is called once the store completed it: it is no longer to be aborted).
 */
export type Placed = { body: Uint8Array } | { uploadId: Promise<string>; parts: CompletedPart[]; completed(): void };

/**
 * Make the upload's object visible, unless the target changed meanwhile; `sha256`: the whole file's
 * digest when known. Returns the size of the object it replaced (0: none).
 */
export async function placeObject(api: S3Api, t: UploadTarget, what: Placed, sha256: string | undefined): Promise<number> {
  const { key, kind, old } = t;
  // The check and the completion hold the key's lock: the size replaced (what the quota settles
  // with) is the one this completion really replaced, not one another commit or DELE also counted;
  // and the parent's marker's, which a directory rename (moveDir) holds until every object moved.
  const parent = t.parent;
  const { now, etag } = await withKeys([api.lockName(key), ...(parent ? [parent.lock] : [])], async () => {
    // Its directory renamed or removed while the data came: this re-created it holding the file alone (226).
    if (parent && !(await parent.exists())) throw new StorageError("not-found");
    // Checked just before the object appears: a concurrent change is refused, not merged. A
    // directory of this name made meanwhile (by another tool, or a node sharing no state; MKD takes
    // this lock) is refused too: the file won over it, and its files vanished from every listing.
    const [now, below] = await Promise.all([headObject(api, key), listObjects(api, key + "/", { maxKeys: 1 })]);
    if (below.files.some((f) => f.key.startsWith(key + "/")) || below.dirs.some((d) => d.startsWith(key + "/"))) throw new StorageError("is-a-directory");
    if (kind === "create" && now) throw new StorageError("exists");
    if ((kind === "append" || kind === "offset") && old && now?.etag !== old.etag) {
      throw new StorageError("transient", "the object changed meanwhile");
    }
    if ("body" in what) {
      await putObject(api, key, what.body, sha256 ? { [META_SHA256]: sha256 } : {});
      return { now, etag: "" };
    }
    const etag = await completeMultipart(api, key, await what.uploadId, what.parts);
    what.completed();
    return { now, etag };
  }, api.keyLock);
  // Metadata must be known when a multipart upload starts; the digest is known only now: a tag
  // (naming the ETag it belongs to, so a later overwrite never inherits it). Best effort.
  if (!("body" in what) && sha256 && etag) await putTags(api, key, { [TAG_SHA256]: sha256, [TAG_ETAG]: etag.replace(/"/g, "") }).catch(() => {});
  return now?.size ?? 0;
}

/** When an abort the store did not take is sent again (the store back from a restart, an outage over). */
export const ABORT_RETRY_DELAYS_MS = [5_000, 30_000, 120_000, 600_000];
/** Aborts waiting to be sent again, at most (a long outage with many uploads must not grow without bound). */
const MAX_ABORTS_WAITING = 1000;
let abortsWaiting = 0;

/** Send AbortMultipartUpload again later, a few times, without holding the process open. */
export function abortLater(api: S3Api, key: string, id: string): void {
  if (abortsWaiting >= MAX_ABORTS_WAITING) return;
  abortsWaiting++;
  const attempt = (n: number) => {
    const timer = setTimeout(() => {
      abortMultipart(api, key, id).then(
        () => abortsWaiting--,
        () => (n + 1 < ABORT_RETRY_DELAYS_MS.length ? attempt(n + 1) : abortsWaiting--),
      );
    }, ABORT_RETRY_DELAYS_MS[n]);
    (timer as { unref?: () => void }).unref?.();
  };
  attempt(0);
}

