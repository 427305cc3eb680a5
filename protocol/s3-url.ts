// `s3://BUCKET[/PREFIX]` places for homes and mounts: parsed and normalised here, pure (the CLI and the server share it).
import { ParseError } from "./errors.ts";

export interface S3Place {
  bucket: string;
  /** "" (the whole bucket) or "a/b" — no leading or trailing slash, no empty, "." or ".." segment. */
  prefix: string;
}

export function isS3Url(text: string): boolean {
  return /^s3:\/\//i.test(text.trim());
}

/** Parse `s3://bucket/prefix`; throws ParseError with one clear line. */
export function parseS3Url(text: string): S3Place {
  const t = text.trim();
  if (!isS3Url(t)) throw new ParseError(`"${t}" is not an s3:// URL`);
  const rest = t.slice("s3://".length);
  const slash = rest.indexOf("/");
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  // S3's bucket naming rules (3-63 chars, lowercase letters, digits, dots and hyphens).
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new ParseError(`"${t}": bucket name must be 3-63 lowercase letters, digits, "." or "-"`);
  }
  const segments = (slash < 0 ? "" : rest.slice(slash + 1)).split("/").filter((s) => s !== "");
  for (const s of segments) {
    if (s === "." || s === "..") throw new ParseError(`"${t}": the prefix must not contain "." or ".."`);
    if (s.includes("\0")) throw new ParseError(`"${t}": the prefix contains a NUL byte`);
  }
  const prefix = segments.join("/");
  // An object key is at most 1,024 bytes (S3, radosgw): a prefix with no room left after it for "/"
  // and a name could store nothing, and every login to it was refused with only a log line to say why.
  const bytes = new TextEncoder().encode(prefix).length;
  if (bytes > MAX_PREFIX_BYTES) throw new ParseError(`"${t}": the prefix is ${bytes} bytes; object keys are at most 1,024 bytes, so a prefix over ${MAX_PREFIX_BYTES} leaves no room for names under it`);
  return { bucket, prefix };
}

/** The longest prefix that leaves room under it for a short path ("/" and a few bytes of names). */
const MAX_PREFIX_BYTES = 1000;

export function formatS3Url(p: S3Place): string {
  return p.prefix ? `s3://${p.bucket}/${p.prefix}` : `s3://${p.bucket}`;
}

/** The canonical spelling of an s3:// URL (what users.ini stores). */
export function normalizeS3Url(text: string): string {
  return formatS3Url(parseS3Url(text));
}
