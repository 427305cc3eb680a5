// Stale multipart uploads under a place's prefix are aborted, in the spirit of S3's
// AbortIncompleteMultipartUpload lifecycle rule, so a bucket without that rule does not keep (and
// pay for) them for ever. They are what no abort can reach: a server killed mid-upload, or one that
// never got CreateMultipartUpload's answer and so never learned the id to abort.
// Several processes and hosts may share the bucket, and an upload throttled by a rate limit can
// take hours: an upload is stale only when neither it nor its newest part is younger than the age
// (a day by default), judged by the store's clock, and never while this process runs it.
import { abortMultipart, isLiveUpload } from "./s3-object.ts";
import { errorCode, errorFromCode, xmlText, type S3Api } from "./s3-request.ts";

/** Default age: a day since the upload began and since its newest part (a live upload on another
 * node that stores less than a part, 8 MiB, per day, under about 100 B/s, would be taken for dead). */
export const STALE_UPLOAD_MS = 24 * 3_600_000;
/** A place is swept at its first use, then at most this often (or its age, if shorter). */
const SWEEP_EVERY_MS = 3_600_000;
const DENIED = "the object store denied listing multipart uploads or their parts: allow s3:ListBucketMultipartUploads and s3:ListMultipartUploadParts, or give the bucket an AbortIncompleteMultipartUpload lifecycle rule";
/** Requests of one sweep at most (listings, ListParts, aborts); the next continues where it stopped. */
const SWEEP_REQUESTS = 50;

export interface StaleUploads {
  /** How old an upload and its newest part must both be before it is aborted. */
  ageMs: number;
  /** One line per upload aborted (never shown to clients). */
  log?: (event: string, fields: Record<string, string>) => void;
}

interface PlaceSweep {
  at: number;
  running: boolean;
  /** Where the last sweep stopped when it ran out of requests (null: from the start). */
  after: { key: string; id: string } | null;
  /** The store refused to list the uploads (said once). */
  denied: boolean;
}

/** Per place of this process (a users-file reload builds new storages for the same places). */
const sweeps = new Map<string, PlaceSweep>();

/**
 * Sweep the stale uploads under `prefix` in the background, unless it was done lately. Never throws,
 * never delays the caller: a store that fails is swept again next time.
 */
export function sweepStaleUploads(api: S3Api, prefix: string, opts: StaleUploads): void {
  const id = `${api.settings.endpoint}\n${api.bucket}\n${prefix}`;
  let s = sweeps.get(id);
  if (!s) sweeps.set(id, (s = { at: -Infinity, running: false, after: null, denied: false }));
  const now = Date.now();
  if (s.running || now - s.at < Math.min(SWEEP_EVERY_MS, opts.ageMs)) return;
  s.running = true;
  s.at = now;
  const place = s;
  sweep(api, prefix, opts, place)
    .catch(() => {})
    .finally(() => {
      place.running = false;
      place.at = Date.now();
    });
}

interface PendingUpload {
  key: string;
  id: string;
  initiated: number;
}

async function sweep(api: S3Api, prefix: string, opts: StaleUploads, place: PlaceSweep): Promise<void> {
  let budget = SWEEP_REQUESTS;
  // A key or bucket policy without s3:ListBucketMultipartUploads (or ListMultipartUploadParts):
  // uploads work; only the sweep cannot. Said once, not as "object store unavailable" each hour.
  const denied = () => {
    if (!place.denied) opts.log?.("stale multipart uploads not swept", { bucket: api.bucket, prefix, reason: DENIED });
    place.denied = true;
  };
  while (budget-- > 0) {
    const page = await listUploads(api, prefix, place.after);
    if (page === "denied") return denied();
    for (const u of page.uploads) {
      if (budget <= 0) return;
      // Ages by the store's clock: a node whose clock runs ahead must not take live uploads for old.
      const young = (t: number) => !(page.now - t >= opts.ageMs);
      if (!isLiveUpload(u.id) && !young(u.initiated)) {
        const newest = await newestPart(api, u, () => budget-- > 0);
        if (newest === undefined) return; // out of requests before knowing: the next sweep asks again
        if (newest === "denied") return denied();
        if (newest !== null && young(newest)) {
          place.after = u;
          continue;
        }
        if (budget-- <= 0) return;
        await abortMultipart(api, u.key, u.id);
        opts.log?.("stale multipart upload aborted", {
          bucket: api.bucket,
          key: u.key,
          initiated: new Date(u.initiated).toISOString(),
          "last-part": newest === null ? "none" : new Date(newest).toISOString(),
        });
      }
      place.after = u;
    }
    if (!page.more) {
      place.after = null;
      return;
    }
  }
}

/**
 * A 403 is a policy without the sweep's permissions only as AccessDenied. Refused credentials
 * (InvalidAccessKeyId, SignatureDoesNotMatch) are 403 too: they were said as "stale multipart uploads
 * not swept: allow s3:ListBucketMultipartUploads…", advice that sent the admin to the bucket policy,
 * beside the "object store unavailable" line naming the real cause, and kept for the process's life.
 * They fail this sweep instead (the next one asks again).
 */
function refusal(xml: string): "denied" {
  const code = errorCode(xml);
  if (code !== "" && code !== "AccessDenied") throw errorFromCode(code, 403);
  return "denied";
}

/** One page of ListMultipartUploads after `after`, and the store's time of the answer. */
async function listUploads(api: S3Api, prefix: string, after: { key: string; id: string } | null): Promise<{ uploads: PendingUpload[]; more: boolean; now: number } | "denied"> {
  const query: Record<string, string> = { uploads: "", prefix };
  if (after) Object.assign(query, { "key-marker": after.key, "upload-id-marker": after.id });
  const res = await api.send({ method: "GET", key: "", query, accept: [403] });
  const xml = await res.text();
  if (res.status === 403) return refusal(xml);
  if (!/<ListMultipartUploadsResult[\s>]/.test(xml)) throw new Error("not a listing of uploads");
  const uploads: PendingUpload[] = [];
  for (const m of xml.matchAll(/<Upload>([\s\S]*?)<\/Upload>/g)) {
    const key = xmlText(m[1]!, "Key");
    const id = xmlText(m[1]!, "UploadId");
    // Unparsable: never old enough (NaN compares false).
    const initiated = Date.parse(xmlText(m[1]!, "Initiated") ?? "");
    if (key !== undefined && id && key.startsWith(prefix)) uploads.push({ key, id, initiated });
  }
  const date = Date.parse(res.headers.get("date") ?? "");
  return { uploads, more: xmlText(xml, "IsTruncated") === "true" && uploads.length > 0, now: Number.isNaN(date) ? Date.now() : date };
}

/**
 * The time of the upload's newest part (ListParts, every page), null when it has none, undefined
 * when `spend` refused a request first or the store's answer was not a list of parts (Infinity:
 * the upload is gone; "denied": the store refused to list them).
 */
async function newestPart(api: S3Api, u: PendingUpload, spend: () => boolean): Promise<number | null | undefined | "denied"> {
  let newest: number | null = null;
  let marker = "0";
  for (;;) {
    if (!spend()) return undefined;
    const res = await api.send({ method: "GET", key: u.key, query: { uploadId: u.id, "part-number-marker": marker }, accept: [403, 404] });
    const xml = await res.text();
    if (res.status === 403) return refusal(xml);
    // Completed or aborted meanwhile (by its owner, another node's sweep): nothing to do.
    if (res.status === 404) return Infinity;
    if (!/<ListPartsResult[\s>]/.test(xml)) return undefined;
    for (const m of xml.matchAll(/<Part>([\s\S]*?)<\/Part>/g)) {
      const t = Date.parse(xmlText(m[1]!, "LastModified") ?? "");
      // A part whose time cannot be read counts as new: keep the upload.
      newest = Math.max(newest ?? -Infinity, Number.isNaN(t) ? Infinity : t);
    }
    const next = xmlText(xml, "NextPartNumberMarker");
    if (xmlText(xml, "IsTruncated") !== "true" || !next || next === marker) return newest;
    marker = next;
  }
}
