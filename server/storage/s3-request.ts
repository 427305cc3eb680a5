// SigV4-signed S3 requests over fetch, for what Bun.S3Client cannot express: multipart uploads we can
// abort (Bun's writer hides the upload id), server-side copies, user metadata, conditional headers
// (If-Match), and keys ending in "/" (Bun strips the slash, so directory markers need this).
import { StorageError, type StorageErrorKind } from "./backend.ts";
import { rawSend } from "./s3-raw-send.ts";
import type { SharedKeyLock } from "./s3-key-lock.ts";

/** Where the object store is and how to sign for it (from S3_* / AWS_* variables or --s3-endpoint). */
export interface S3Settings {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
}

/** The settings from the environment; `endpoint` (ftpkit serve --s3-endpoint) wins over the variables. */
export function s3SettingsFromEnv(env: Record<string, string | undefined> = process.env, endpoint?: string): S3Settings {
  const pick = (...names: string[]) => names.map((n) => env[n]).find((v) => v !== undefined && v !== "");
  return {
    endpoint: endpoint || pick("S3_ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL") || "https://s3.amazonaws.com",
    accessKeyId: pick("S3_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID") ?? "",
    secretAccessKey: pick("S3_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY") ?? "",
    region: pick("S3_REGION", "AWS_REGION", "AWS_DEFAULT_REGION") ?? "us-east-1",
  };
}

export interface S3Request {
  method: "GET" | "PUT" | "POST" | "DELETE" | "HEAD";
  /** The full object key ("" = the bucket itself). */
  key: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: Uint8Array | string;
  /** Statuses that are answers, not failures (e.g. 404 for a HEAD, 412 for If-Match). */
  accept?: readonly number[];
  /** Gives up the request at once, retries included (a part of an upload being aborted). */
  signal?: AbortSignal;
}

/** Per-request deadline: a black-holed endpoint fails the command instead of hanging it. */
export const REQUEST_TIMEOUT_MS = 60_000;
/** Bodies from this size on go through rawSend on a plain http:// endpoint. */
const RAW_SEND_MIN = 64 * 1024;
/** Retries of a request that failed in transit or with 500/503 (S3's "try again"). */
const RETRIES = 3;
const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

const encoder = new TextEncoder();

/** RFC 3986 encoding as SigV4 wants it (encodeURIComponent leaves !'()* alone). */
export function uriEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
}

/**
 * A key as the path of a request URL: each segment encoded, and a whole "." or ".." segment sent as
 * %2E / %2E%2E, or the URL layer folds it (GET /b/r2/./x reached /b/r2/x, signed for another path: 403).
 * The canonical path stays uriEncode's (S3 signs the decoded key re-encoded: radosgw and AWS alike).
 */
export function keyPath(key: string): string {
  return key
    .split("/")
    .map((seg) => (seg === "." ? "%2E" : seg === ".." ? "%2E%2E" : uriEncode(seg)))
    .join("/");
}

function hmac(key: string | Uint8Array, s: string): Uint8Array {
  return new Uint8Array(new Bun.CryptoHasher("sha256", key).update(s).digest().buffer);
}

/** Failures that concern the whole store (not one object): worth one line in the server's log. */
const OUTAGE_CODES = new Set(["NoSuchBucket", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "PermanentRedirect", "AuthorizationHeaderMalformed"]);

/** What transportError says when no answer came (fixed texts: never the endpoint's name). */
const UNREACHABLE = "the object store is unreachable";
const NO_ANSWER = "the object store did not answer in time";
const BAD_CERTIFICATE = "the object store's TLS certificate was refused (not trusted, expired or for another name)";
const NO_SUCH_HOST = "the object store's host name does not resolve";
/** The bucket is in another region than the one requests are signed for (or sent to). */
/** A missing bucket's reason (s3-report.ts adds a hint to it). */
export const MISSING_BUCKET = "the bucket does not exist";
/** A key with a "." or ".." segment through an https:// endpoint or a proxy (fetch would reach another key). */
const DOT_SEGMENT_OVER_FETCH = "a key with a \".\" or \"..\" segment is reachable only through a plain http:// endpoint";
const WRONG_REGION = "the bucket is in another region, or the region is wrong (check S3_REGION and the endpoint)";
const WHOLE_STORE_FAILURES = new Set([UNREACHABLE, NO_ANSWER, BAD_CERTIFICATE, NO_SUCH_HOST, WRONG_REGION]);

export class S3Api {
  private readonly base: URL;
  private signingKey: { day: string; key: Uint8Array } | null = null;

  /** http:// without a proxy: big bodies and downloads go over our own HTTP/1.1 connections. */
  readonly rawHttp: boolean;

  /** The per-key lock shared by the processes of the server using this bucket (withKeys); null: it shares none. */
  keyLock: SharedKeyLock | null = null;

  constructor(
    readonly settings: S3Settings,
    readonly bucket: string,
    /** Told when the store as a whole fails: missing bucket, refused credentials, unreachable. */
    private readonly onOutage?: (reason: string) => void,
  ) {
    this.base = new URL(settings.endpoint);
    this.rawHttp = this.base.protocol === "http:" && !(process.env.http_proxy || process.env.HTTP_PROXY);
  }

  /** Report `err` if it is an outage of the whole store; returns it (for `throw api.outage(e)`). */
  outage(err: StorageError, code = ""): StorageError {
    const whole = OUTAGE_CODES.has(code) || WHOLE_STORE_FAILURES.has(err.message);
    if (whole) this.onOutage?.(err.message);
    return err;
  }

  /** The name of an object key for s3-key-lock.ts: the same object through any S3Storage of this process. */
  lockName(key: string): string {
    return `${this.settings.endpoint}\n${this.bucket}\n${key}`;
  }

  /** Bun's client for the same bucket (tests; the backend lists with listObjects, s3-object.ts). */
  client(): Bun.S3Client {
    return new Bun.S3Client({
      endpoint: this.settings.endpoint,
      region: this.settings.region,
      bucket: this.bucket,
      accessKeyId: this.settings.accessKeyId,
      secretAccessKey: this.settings.secretAccessKey,
    });
  }

  /** Send a signed request; retries transport failures and 500/503; maps other failures to StorageError. */
  async send(req: S3Request): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      try {
        res = await this.sendOnce(req);
      } catch (err) {
        if (req.signal?.aborted) throw new StorageError("transient", "request cancelled");
        if (err instanceof StorageError) throw err; // decided here, not in transit
        // A store that let the deadline pass is not asked again: each retry cost another full
        // deadline (a STOR into a frozen store got its 426 only 504 s after the freeze).
        // Refused or reset connections (a restarting store) are retried; a refused certificate is not.
        if (attempt < RETRIES && (err as Error)?.name !== "TimeoutError" && transportError(err).message !== BAD_CERTIFICATE) {
          await Bun.sleep(100 * 4 ** attempt);
          continue;
        }
        throw this.outage(transportError(err));
      }
      if (res.ok || req.accept?.includes(res.status)) return res;
      if ((res.status === 500 || res.status === 503) && attempt < RETRIES) {
        await res.arrayBuffer().catch(() => {});
        await Bun.sleep(100 * 4 ** attempt);
        continue;
      }
      // AWS names the bucket's region on such answers, also on a HEAD's, which has no body for a code.
      const region = res.headers.get("x-amz-bucket-region");
      if ((res.status === 301 || res.status === 400) && region && region !== this.settings.region) {
        await res.arrayBuffer().catch(() => {});
        throw this.outage(new StorageError("transient", WRONG_REGION));
      }
      const { error, code } = await responseError(res);
      throw this.outage(error, code);
    }
  }

  /**
   * The URL and SigV4 headers of a request (`host` included: fetch sets it itself, a raw HTTP/1.1
   * GET (s3-get.ts) writes it).
   */
  signed(req: S3Request): { url: URL; target: string; headers: Record<string, string> } {
    const basePath = this.base.pathname.replace(/\/+$/, "");
    const bucketPath = `${basePath}/${uriEncode(this.bucket)}`;
    const path = req.key === "" ? bucketPath : `${bucketPath}/${req.key.split("/").map(uriEncode).join("/")}`;
    const sentPath = req.key === "" ? bucketPath : `${bucketPath}/${keyPath(req.key)}`;
    const query = Object.entries(req.query ?? {})
      .map(([k, v]) => [uriEncode(k), uriEncode(v)] as const)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${k}=${v}`)
      .join("&");
    const amzDate = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
    const day = amzDate.slice(0, 8);
    // Bodies are parts of up to tens of MiB: not hashing them twice (the upload already computes
    // SHA-256 of the whole file) is worth the unsigned payload; TLS protects them in transit.
    const payloadHash = req.body === undefined ? EMPTY_SHA256 : "UNSIGNED-PAYLOAD";
    const headers: Record<string, string> = { host: this.base.host, "x-amz-content-sha256": payloadHash, "x-amz-date": amzDate };
    for (const [k, v] of Object.entries(req.headers ?? {})) headers[k.toLowerCase()] = String(v).trim();
    const names = Object.keys(headers).sort();
    const canonical = [req.method, path, query, ...names.map((k) => `${k}:${headers[k]}`), "", names.join(";"), payloadHash].join("\n");
    const scope = `${day}/${this.settings.region}/s3/aws4_request`;
    const toSign = ["AWS4-HMAC-SHA256", amzDate, scope, new Bun.CryptoHasher("sha256").update(canonical).digest("hex")].join("\n");
    const signature = new Bun.CryptoHasher("sha256", this.keyFor(day)).update(toSign).digest("hex");
    headers.authorization = `AWS4-HMAC-SHA256 Credential=${this.settings.accessKeyId}/${scope}, SignedHeaders=${names.join(";")}, Signature=${signature}`;
    const target = `${sentPath}${query ? "?" + query : ""}`;
    return { url: new URL(`${this.base.origin}${target}`), target, headers };
  }

  private sendOnce(req: S3Request): Promise<Response> {
    const { url, target, headers } = this.signed(req);
    const { host: _host, ...send } = headers;
    const body = typeof req.body === "string" ? encoder.encode(req.body) : req.body;
    // The deadline covers sending the request and receiving the answer's head, not a download's
    // body: a RETR to a slow client may stream for hours (a stalled one is the transfer's to end).
    const ctl = new AbortController();
    // A part upload gets extra time for its body (at least 64 KB/s), so a slow uplink is not cut.
    const deadline = REQUEST_TIMEOUT_MS + (body ? body.length / 64 : 0);
    // Big bodies on plain http: our own writes (s3-raw-send.ts: fetch re-copies a body's rest per partial write).
    if (body && body.length >= RAW_SEND_MIN && this.rawHttp) return rawSend(url, target, req.method, headers, body, deadline, req.signal);
    // fetch folds a "%2E" segment (URL parsing): such a key goes as we wrote it, over our own HTTP/1.1.
    if (`${url.pathname}${url.search}` !== target) {
      if (!this.rawHttp) throw new StorageError("unsupported", DOT_SEGMENT_OVER_FETCH, DOT_SEGMENT_OVER_FETCH);
      return rawSend(url, target, req.method, headers, body ?? new Uint8Array(0), deadline, req.signal);
    }
    const timer = setTimeout(() => ctl.abort(new DOMException("timed out", "TimeoutError")), deadline);
    return fetch(url, {
      method: req.method,
      headers: send,
      body,
      signal: req.signal ? AbortSignal.any([ctl.signal, req.signal]) : ctl.signal,
      // Keep the bytes as they are (no transparent decompression of a gzip-typed object).
      decompress: false,
    } as RequestInit).finally(() => clearTimeout(timer));
  }

  private keyFor(day: string): Uint8Array {
    if (this.signingKey?.day !== day) {
      let k = hmac("AWS4" + this.settings.secretAccessKey, day);
      for (const part of [this.settings.region, "s3", "aws4_request"]) k = hmac(k, part);
      this.signingKey = { day, key: k };
    }
    return this.signingKey.key;
  }
}

/** S3 error codes → storage kinds. Messages are fixed texts: never the endpoint, bucket or key. */
const CODE_KINDS: Record<string, [StorageErrorKind, string]> = {
  NoSuchKey: ["not-found", "no such object"],
  // Not "not-found": the home or mount would look like an empty directory (the root of a mount is
  // virtual), and every upload would be told "No such file or directory". Nor "transient": 450 to
  // every command made lftp reconnect and retry for ever (its 1,000 tries). As a local mount whose
  // directory is missing: 550 "Directory not available".
  NoSuchBucket: ["unavailable", MISSING_BUCKET],
  NoSuchUpload: ["transient", "the upload was cancelled"],
  AccessDenied: ["denied", "the object store denied access"],
  InvalidAccessKeyId: ["denied", "the object store refused the credentials"],
  SignatureDoesNotMatch: ["denied", "the object store refused the credentials"],
  PreconditionFailed: ["transient", "the object changed meanwhile"],
  QuotaExceeded: ["no-space", "the object store is full"],
  EntityTooLarge: ["no-space", "object too large"],
  InvalidRange: ["unsupported", "range not satisfiable"],
  SlowDown: ["transient", "the object store asks to slow down"],
  KeyTooLongError: ["name-too-long", "name too long for the object store"],
  InvalidObjectName: ["name-too-long", "name too long for the object store"], // radosgw's KeyTooLongError
  EntityTooSmall: ["transient", "the object store refused a part"],
  // AWS: a bucket of another region (path-style requests are not redirected), or a request signed
  // for the wrong region. Was "object store error (HTTP 301)" / "(HTTP 400)": nothing named the region.
  PermanentRedirect: ["transient", WRONG_REGION],
  AuthorizationHeaderMalformed: ["transient", WRONG_REGION],
};

const STATUS_KINDS: Record<number, [StorageErrorKind, string]> = {
  301: ["transient", WRONG_REGION], // a HEAD's answer has no body, so no code
  403: ["denied", "the object store denied access"],
  404: ["not-found", "no such object"],
  412: ["transient", "the object changed meanwhile"],
  416: ["unsupported", "range not satisfiable"],
};

/** The S3 error code of an XML error body ("" when there is none). */
export function errorCode(xml: string): string {
  return /<Code>([^<]*)<\/Code>/.exec(xml)?.[1] ?? "";
}

export async function responseError(res: Response): Promise<{ error: StorageError; code: string }> {
  const body = res.status === 404 || res.headers.get("content-type")?.includes("xml") ? await res.text().catch(() => "") : (await res.arrayBuffer().catch(() => 0), "");
  const code = errorCode(body);
  return { error: errorFromCode(code, res.status), code };
}

export function errorFromCode(code: string, status = 0): StorageError {
  const [kind, message] = CODE_KINDS[code] ?? STATUS_KINDS[status] ?? ["transient", `object store error${status ? ` (HTTP ${status})` : ""}`];
  return new StorageError(kind, message);
}

/** A failure of Bun's client (S3Error with a code) or of fetch (no answer) → StorageError. */
export function transportError(err: unknown): StorageError {
  if (err instanceof StorageError) return err;
  const code = (err as { code?: string })?.code ?? "";
  if (CODE_KINDS[code]) return errorFromCode(code);
  if ((err as Error)?.name === "TimeoutError") return Object.assign(new StorageError("transient", NO_ANSWER), { outage: true as const });
  // An https:// endpoint whose certificate is not trusted (a self-signed MinIO, a private CA the
  // process was not given) or a misspelt host were "unreachable" too: the admin looked for a
  // firewall or a stopped store.
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS_CERT|HOSTNAME_MISMATCH/.test(code)) return new StorageError("transient", BAD_CERTIFICATE);
  if (code === "ENOTFOUND") return new StorageError("transient", NO_SUCH_HOST);
  return Object.assign(new StorageError("transient", UNREACHABLE), { outage: true as const });
}

/**
 * An answer's body. A connection lost while it arrives (a store stopped or restarted mid-answer: a
 * CopyObject's 200 comes before its body) is the store's failure, 450, not "451 Local error"; and so
 * is a store silent for REQUEST_TIMEOUT_MS in the middle of it (frozen, kill -STOP): the request's
 * deadline ends at the answer's head, and such a body was waited for until the store came back.
 */
export async function bodyText(res: Response): Promise<string> {
  return decoder.decode(await bodyBytes(res));
}

/** Read and drop an answer's body (as bodyText: a lost connection or a silent store is the store's failure). */
export async function drainBody(res: Response): Promise<void> {
  await bodyBytes(res);
}

const decoder = new TextDecoder();

async function bodyBytes(res: Response): Promise<Uint8Array> {
  if (!res.body) return new Uint8Array(0);
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    let silent = false;
    const silence = setTimeout(() => {
      silent = true;
      void reader.cancel().catch(() => {});
    }, REQUEST_TIMEOUT_MS);
    let r: Awaited<ReturnType<typeof reader.read>>;
    try {
      r = await reader.read();
    } catch (err) {
      throw silent ? new StorageError("transient", "the object store did not answer in time") : transportError(err);
    } finally {
      clearTimeout(silence);
    }
    if (silent) throw new StorageError("transient", "the object store did not answer in time");
    if (r.done) return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
    chunks.push(r.value);
    size += r.value.length;
  }
}

/** The text of the first `<tag>` in an XML answer (entities decoded), or undefined. */
/** One pattern per tag name: a listing asks three fields of each of its up to 1,000 entries. */
const TAG_PATTERNS = new Map<string, RegExp>();

export function xmlText(xml: string, tag: string): string | undefined {
  let pattern = TAG_PATTERNS.get(tag);
  if (!pattern) TAG_PATTERNS.set(tag, (pattern = new RegExp(`<${tag}>([^<]*)</${tag}>`)));
  const m = pattern.exec(xml);
  return m ? decodeXml(m[1]!) : undefined;
}

export function decodeXml(s: string): string {
  return s.replace(/&(lt|gt|amp|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, (_, e: string) => {
    if (e === "lt") return "<";
    if (e === "gt") return ">";
    if (e === "amp") return "&";
    if (e === "quot") return '"';
    if (e === "apos") return "'";
    const code = e[1] === "x" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
    // Past Unicode's last code point: fromCodePoint would throw, and one such key fail a whole listing.
    return code <= 0x10ffff ? String.fromCodePoint(code) : "\ufffd";
  });
}

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Are these settings usable at all? (Bun's writer with empty credentials uploads nothing silently.) */
export function settingsProblem(s: S3Settings): string | null {
  try {
    const u = new URL(s.endpoint);
    if (u.protocol !== "http:" && u.protocol !== "https:") return "the S3 endpoint must be an http(s):// URL";
  } catch {
    return "the S3 endpoint is not a URL";
  }
  if (!s.accessKeyId || !s.secretAccessKey) return "no S3 credentials (set S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY)";
  return null;
}
