// Tests against a real S3 server (radosgw from ../shared/s3/start-rgw.sh; .ci/run starts it and
// exports S3_*). One fresh bucket per test; S3 tests skip only when S3_ENDPOINT is unset.
import { createBucket, deleteBucket } from "../../../shared/s3/s3-bucket.ts";
import { pendingUploads, abortMultipart } from "../../server/storage/s3-object.ts";
import { S3Api, s3SettingsFromEnv, type S3Settings } from "../../server/storage/s3-request.ts";

export const HAVE_S3 = !!process.env.S3_ENDPOINT;

export function s3Settings(): S3Settings {
  return s3SettingsFromEnv(process.env);
}

export interface TestBucket {
  name: string;
  api: S3Api;
  /** Multipart uploads not completed nor aborted, under `prefix`. */
  pending(prefix?: string): Promise<Array<{ key: string; id: string }>>;
  /** How many parts the store holds of multipart upload `id` of `key` (ListParts). */
  parts(key: string, id: string): Promise<number>;
  /** Every object key in the bucket. */
  keys(): Promise<string[]>;
  /** Empty and delete the bucket (best effort: memstore keeps data in RAM). */
  drop(): Promise<void>;
}

export async function freshBucket(): Promise<TestBucket> {
  const name = `t-${crypto.randomUUID().slice(0, 13)}`;
  await createBucket(name, {
    endpoint: process.env.S3_ENDPOINT!,
    accessKeyId: process.env.S3_ACCESS_KEY_ID!,
    secretAccessKey: process.env.S3_SECRET_ACCESS_KEY!,
    region: process.env.S3_REGION ?? "us-east-1",
  });
  const api = new S3Api(s3Settings(), name);
  const client = api.client();
  const keys = async () => {
    const out: string[] = [];
    let token: string | undefined;
    do {
      const r = await client.list({ continuationToken: token });
      out.push(...(r.contents ?? []).map((c) => c.key));
      token = r.isTruncated ? r.nextContinuationToken : undefined;
    } while (token);
    return out;
  };
  return {
    name,
    api,
    pending: (prefix = "") => pendingUploads(api, prefix),
    async parts(key, id) {
      const res = await api.send({ method: "GET", key, query: { uploadId: id } });
      return [...(await res.text()).matchAll(/<Part>/g)].length;
    },
    keys,
    async drop() {
      try {
        for (const u of await pendingUploads(api, "")) await abortMultipart(api, u.key, u.id);
        for (const k of await keys()) await client.delete(k);
        await deleteBucket(name);
      } catch {}
    },
  };
}
