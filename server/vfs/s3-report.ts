// `ftpkit serve` start-up: one line naming the object store the S3 homes and mounts use (endpoint,
// buckets, where the credentials come from — never the secret), then one probe per bucket in the
// background. A missing bucket, refused credentials or an unreachable endpoint is one error line per
// cause (an unreachable endpoint: one line, whatever the number of buckets); the server serves on.
import { isS3Url, parseS3Url } from "../../protocol/s3-url.ts";
import type { Logger } from "../log.ts";
import { S3Storage } from "../storage/s3.ts";
import { MISSING_BUCKET, s3SettingsFromEnv, settingsProblem } from "../storage/s3-request.ts";

/** Buckets probed at start-up at most (each is one LIST of one key). */
const MAX_PROBES = 20;

/** Log the object-store line and probe its buckets; resolves when every probe has answered. */
export async function reportObjectStores(places: readonly string[], opts: { s3Endpoint?: string; log: Logger; env?: Record<string, string | undefined> }): Promise<void> {
  const s3 = places.filter(isS3Url);
  if (s3.length === 0) return;
  const env = opts.env ?? process.env;
  const settings = s3SettingsFromEnv(env, opts.s3Endpoint);
  const buckets = [...new Set(s3.map((p) => parseS3Url(p).bucket))].sort();
  // An endpoint URL may carry user:password@: show only where it points.
  const url = new URL(settings.endpoint);
  const endpoint = `${url.protocol}//${url.host}${url.pathname === "/" ? "" : url.pathname}`;
  const keyFrom = ["S3_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"].find((n) => env[n]);
  const shown = buckets.length > 5 ? `${buckets.slice(0, 5).join(", ")} and ${buckets.length - 5} more` : buckets.join(", ");
  opts.log.info("object storage", {
    endpoint,
    region: settings.region,
    buckets: shown,
    places: s3.length,
    credentials: keyFrom ? `${keyFrom} / ${keyFrom.replace("ACCESS_KEY_ID", "SECRET_ACCESS_KEY")}` : "none",
  });
  const problem = settingsProblem(settings);
  if (problem) {
    opts.log.error("object store unavailable", { endpoint, reason: problem });
    return;
  }
  const failed = new Map<string, string[]>();
  await Promise.all(
    buckets.slice(0, MAX_PROBES).map(async (bucket) => {
      try {
        await new S3Storage(settings, { bucket, prefix: "" }).stat("");
      } catch (err) {
        const reason = (err as Error).message;
        failed.set(reason, [...(failed.get(reason) ?? []), bucket]);
      }
    }),
  );
  for (const [reason, list] of failed) {
    // An endpoint with a path is a store behind a path prefix; a bucket put there by mistake makes
    // every bucket "missing": say where a bucket goes.
    const hint = reason === MISSING_BUCKET && url.pathname !== "/" ? ` (the endpoint has the path ${url.pathname}: a bucket is named in the s3:// place, s3://BUCKET/PREFIX, not in the endpoint)` : "";
    opts.log.error("object store unavailable", { endpoint, buckets: list.sort().join(", "), reason: reason + hint });
  }
}
