// Object-level S3 requests shared by the S3 backend: HEAD, PUT, DELETE, server-side copy and the
// multipart calls (create, part, part-copy, complete, abort).
import { StorageError } from "./backend.ts";
import { bodyText, drainBody, errorCode, errorFromCode, escapeXml, keyPath, S3Api, xmlText } from "./s3-request.ts";

/** S3's limits: every part but the last is at least 5 MiB; a single copy at most 5 GiB. */
export const MIN_PART = 5 * 1024 * 1024;
export const MAX_SINGLE_COPY = 5 * 1024 * 1024 * 1024;
/** Part size for server-side copies of big objects (well under the 5 GiB cap, few requests). */
const COPY_PART = 1024 * 1024 * 1024;

/** User metadata (single PUT) and tags (multipart: only known at the end) holding the SHA-256. */
export const META_SHA256 = "x-amz-meta-ftpkit-sha256";
export const TAG_SHA256 = "ftpkit-sha256";
export const TAG_ETAG = "ftpkit-etag";
/** On a directory's marker: the directory is the unfinished destination of a rename from this prefix (s3-dir-rename.ts). */
export const META_RENAME_FROM = "x-amz-meta-ftpkit-rename-from";
/** On the source's marker during that rename: the token its destination's journal names (s3-dir-rename.ts). */
export const META_RENAME_TOKEN = "x-amz-meta-ftpkit-rename-token";

export interface ObjectHead {
  size: number;
  mtime: Date;
  etag: string;
  /** The SHA-256 stored as metadata, if any. */
  sha256?: string;
  /** Whether the object carries tags (where multipart uploads keep their SHA-256). */
  tagged: boolean;
  /** A marker's META_RENAME_FROM as stored (s3-dir-rename.ts reads it), if any. */
  renameFrom?: string;
  /** A marker's META_RENAME_TOKEN, if any. */
  renameToken?: string;
}

export async function headObject(api: S3Api, key: string): Promise<ObjectHead | null> {
  const res = await api.send({ method: "HEAD", key, accept: [404] });
  if (res.status === 404) return null;
  const h = res.headers;
  const lm = h.get("last-modified");
  return {
    size: Number(h.get("content-length") ?? 0),
    mtime: lm ? new Date(lm) : new Date(),
    etag: h.get("etag") ?? "",
    sha256: h.get(META_SHA256) ?? undefined,
    tagged: Number(h.get("x-amz-tagging-count") ?? 0) > 0,
    renameFrom: h.get(META_RENAME_FROM) ?? undefined,
    renameToken: h.get(META_RENAME_TOKEN) ?? undefined,
  };
}

/** The tags of an object as a map (GetObjectTagging). */
export async function objectTags(api: S3Api, key: string): Promise<Map<string, string>> {
  const res = await api.send({ method: "GET", key, query: { tagging: "" }, accept: [404] });
  const xml = await bodyText(res);
  const tags = new Map<string, string>();
  if (res.status === 404) return tags;
  for (const m of xml.matchAll(/<Tag>([\s\S]*?)<\/Tag>/g)) {
    const k = xmlText(m[1]!, "Key");
    const v = xmlText(m[1]!, "Value");
    if (k !== undefined && v !== undefined) tags.set(k, v);
  }
  return tags;
}

export async function putTags(api: S3Api, key: string, tags: Record<string, string>): Promise<void> {
  const body =
    "<Tagging><TagSet>" +
    Object.entries(tags)
      .map(([k, v]) => `<Tag><Key>${escapeXml(k)}</Key><Value>${escapeXml(v)}</Value></Tag>`)
      .join("") +
    "</TagSet></Tagging>";
  const res = await api.send({ method: "PUT", key, query: { tagging: "" }, body });
  await drainBody(res);
}

export async function putObject(api: S3Api, key: string, body: Uint8Array, headers: Record<string, string> = {}): Promise<string> {
  const res = await api.send({ method: "PUT", key, body, headers });
  await drainBody(res);
  return res.headers.get("etag") ?? "";
}

/** DELETE; a missing object is not an error (S3 answers 204 either way). */
export async function deleteObject(api: S3Api, key: string): Promise<void> {
  const res = await api.send({ method: "DELETE", key, accept: [404] });
  await drainBody(res);
}

function copySource(api: S3Api, key: string): string {
  return `/${api.bucket}/${keyPath(key)}`;
}

/** Some S3 calls answer 200 and put the failure in the body (copy, complete). */
async function bodyOrError(res: Response): Promise<string> {
  const xml = await bodyText(res);
  if (/<Error>/.test(xml)) throw errorFromCode(errorCode(xml));
  return xml;
}

/**
 * Server-side copy of `src` (as HEAD saw it: `etag` guards against a concurrent change) to `dst`.
 * `meta` replaces the user metadata when given (else it is copied).
 */
export async function copyObject(api: S3Api, src: string, dst: string, head: ObjectHead, meta?: Record<string, string>): Promise<void> {
  if (head.size <= MAX_SINGLE_COPY) {
    const headers: Record<string, string> = { "x-amz-copy-source": copySource(api, src), "x-amz-copy-source-if-match": head.etag };
    if (meta) Object.assign(headers, meta, { "x-amz-metadata-directive": "REPLACE" });
    await bodyOrError(await api.send({ method: "PUT", key: dst, headers }));
    return;
  }
  const id = await createMultipart(api, dst, meta ?? (head.sha256 ? { [META_SHA256]: head.sha256 } : {}));
  try {
    const parts: CompletedPart[] = [];
    for (let at = 0, n = 1; at < head.size; at += COPY_PART, n++) {
      parts.push({ n, etag: await uploadPartCopy(api, dst, id, n, src, head.etag, at, Math.min(head.size, at + COPY_PART)) });
    }
    await completeMultipart(api, dst, id, parts);
  } catch (err) {
    await abortMultipart(api, dst, id).catch(() => {});
    throw err;
  }
}

export interface CompletedPart {
  n: number;
  etag: string;
}

/**
 * Multipart uploads this process has started and not yet completed or aborted: the stale-upload
 * sweep (s3-sweep.ts) never aborts them, however slowly their client sends.
 */
const liveUploads = new Set<string>();

export function isLiveUpload(id: string): boolean {
  return liveUploads.has(id);
}

/**
 * Note (or forget) an upload in the state of the api's server, if it shares one (s3-orphans.ts: a dead
 * --workers worker's are aborted by a survivor); never fails or delays the upload.
 */
function noteUpload(api: S3Api, key: string, id: string, live: boolean): void {
  void api.keyLock?.noteUpload?.(JSON.stringify([api.settings.endpoint, api.bucket, key, id]), live).catch(() => {});
}

export async function createMultipart(api: S3Api, key: string, headers: Record<string, string>): Promise<string> {
  const res = await api.send({ method: "POST", key, query: { uploads: "" }, headers });
  const id = xmlText(await bodyText(res), "UploadId");
  if (!id) throw new StorageError("transient", "the object store did not start the upload");
  liveUploads.add(id);
  noteUpload(api, key, id, true);
  return id;
}

export async function uploadPart(api: S3Api, key: string, id: string, n: number, body: Uint8Array, signal?: AbortSignal): Promise<string> {
  const res = await api.send({ method: "PUT", key, query: { partNumber: String(n), uploadId: id }, body, signal });
  await drainBody(res);
  const etag = res.headers.get("etag");
  if (!etag) throw new StorageError("transient", "the object store did not confirm a part");
  return etag;
}

/** Copy bytes [from, to) of `src` (only while its ETag is still `etag`) as part `n`. */
export async function uploadPartCopy(api: S3Api, key: string, id: string, n: number, src: string, etag: string, from: number, to: number, signal?: AbortSignal): Promise<string> {
  const res = await api.send({
    signal,
    method: "PUT",
    key,
    query: { partNumber: String(n), uploadId: id },
    headers: { "x-amz-copy-source": copySource(api, src), "x-amz-copy-source-if-match": etag, "x-amz-copy-source-range": `bytes=${from}-${to - 1}` },
  });
  const got = xmlText(await bodyOrError(res), "ETag");
  if (!got) throw new StorageError("transient", "the object store did not confirm a part");
  return got;
}

/** Complete; resolves with the new object's ETag. */
export async function completeMultipart(api: S3Api, key: string, id: string, parts: CompletedPart[]): Promise<string> {
  const sorted = [...parts].sort((a, b) => a.n - b.n);
  const body =
    "<CompleteMultipartUpload>" +
    sorted.map((p) => `<Part><PartNumber>${p.n}</PartNumber><ETag>${escapeXml(p.etag)}</ETag></Part>`).join("") +
    "</CompleteMultipartUpload>";
  const res = await api.send({ method: "POST", key, query: { uploadId: id }, body });
  // radosgw answers an empty <ETag>: then it is S3's formula, md5 of the parts' md5s + "-N".
  const etag = xmlText(await bodyOrError(res), "ETag") || multipartEtag(sorted);
  liveUploads.delete(id);
  noteUpload(api, key, id, false);
  return etag;
}

function multipartEtag(parts: CompletedPart[]): string {
  const md5 = new Bun.CryptoHasher("md5");
  for (const p of parts) {
    const hex = p.etag.replace(/"/g, "");
    if (!/^[0-9a-f]{32}$/i.test(hex)) return "";
    md5.update(Buffer.from(hex, "hex"));
  }
  return `"${md5.digest("hex")}-${parts.length}"`;
}

/** Abort; an upload that is already gone (NoSuchUpload) counts as aborted. */
export async function abortMultipart(api: S3Api, key: string, id: string): Promise<void> {
  // Given up, whether the store takes the abort now or not: a sweep may then abort it too.
  liveUploads.delete(id);
  const res = await api.send({ method: "DELETE", key, query: { uploadId: id }, accept: [404] });
  await drainBody(res);
  // Only once it is gone: a worker that dies before leaves it to the survivors (s3-orphans.ts).
  noteUpload(api, key, id, false);
}

/** Pending multipart uploads under `prefix` (ListMultipartUploads): what an aborted upload must not leave. */
export async function pendingUploads(api: S3Api, prefix: string): Promise<Array<{ key: string; id: string }>> {
  const res = await api.send({ method: "GET", key: "", query: { uploads: "", prefix } });
  const xml = await bodyText(res);
  const out: Array<{ key: string; id: string }> = [];
  for (const m of xml.matchAll(/<Upload>([\s\S]*?)<\/Upload>/g)) {
    out.push({ key: xmlText(m[1]!, "Key") ?? "", id: xmlText(m[1]!, "UploadId") ?? "" });
  }
  return out;
}

/** One page of ListObjectsV2. */
export interface ListPage {
  files: Array<{ key: string; size: number; mtime: Date }>;
  /** Common prefixes (with a delimiter): "a/b/". */
  dirs: string[];
  /** Continuation token of the next page, if any. */
  next?: string;
}

/**
 * ListObjectsV2, read here rather than by Bun's S3Client: that one refuses the whole answer when a
 * key holds a control character (radosgw writes ESC as `&#x1b;`, which XML 1.0 does not allow), so
 * one object put there by another tool failed every LIST, NLST, MLSD and STAT of its directory (450
 * for ever), RMD and RNFR of its parents, and the quota's measure of the whole home (which then
 * started from 0). Its keys are shown masked like any odd name.
 */
export async function listObjects(api: S3Api, prefix: string, opts: { delimiter?: boolean; token?: string; maxKeys?: number } = {}): Promise<ListPage> {
  const query: Record<string, string> = { "list-type": "2", prefix };
  if (opts.delimiter) query.delimiter = "/";
  if (opts.token !== undefined) query["continuation-token"] = opts.token;
  if (opts.maxKeys !== undefined) query["max-keys"] = String(opts.maxKeys);
  const res = await api.send({ method: "GET", key: "", query });
  const xml = await bodyText(res);
  if (!/<ListBucketResult[\s>]/.test(xml)) throw new StorageError("transient", "the object store did not answer a listing");
  const files: ListPage["files"] = [];
  for (const m of xml.matchAll(/<Contents>([\s\S]*?)<\/Contents>/g)) {
    const key = xmlText(m[1]!, "Key");
    if (key === undefined) continue;
    const mtime = new Date(xmlText(m[1]!, "LastModified") ?? "");
    files.push({ key, size: Number(xmlText(m[1]!, "Size") ?? 0) || 0, mtime: Number.isNaN(mtime.getTime()) ? new Date() : mtime });
  }
  const dirs: string[] = [];
  for (const m of xml.matchAll(/<CommonPrefixes>([\s\S]*?)<\/CommonPrefixes>/g)) {
    const p = xmlText(m[1]!, "Prefix");
    if (p !== undefined) dirs.push(p);
  }
  const truncated = xmlText(xml, "IsTruncated") === "true";
  const next = truncated ? xmlText(xml, "NextContinuationToken") : undefined;
  // A store that hands back the token it was given would page for ever.
  return { files, dirs, next: next && next !== opts.token ? next : undefined };
}

