// The multipart uploads of a --workers worker that died (SIGKILL, out of memory) are aborted by a
// survivor as soon as the primary says it is gone, not a day later by the stale-upload sweep
// (s3-sweep.ts). S3's listing of uploads names no owner, so each process notes its own in the shared
// state (SharedKeyLock.noteUpload) while they run; the first survivor to ask for a dead one's gets
// them (SharedState.uploadsOf) and aborts exactly those: never a live worker's or another node's.
import type { SharedState } from "../state/types.ts";
import { abortMultipart } from "./s3-object.ts";
import { S3Api, settingsProblem, type S3Settings } from "./s3-request.ts";

/**
 * Abort the multipart uploads process `pid` (a --workers sibling known dead) had in progress, with this
 * process's object store settings (the same for every worker). One that fails is left to the sweep.
 */
export async function abortUploadsOf(
  state: SharedState,
  pid: number,
  settings: S3Settings,
  log: (event: string, fields: Record<string, string>) => void,
): Promise<number> {
  const entries = (await state.uploadsOf?.(pid).catch(() => [])) ?? [];
  if (entries.length === 0 || settingsProblem(settings)) return 0;
  const apis = new Map<string, S3Api>();
  let aborted = 0;
  await Promise.all(
    entries.map(async (entry) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(entry);
      } catch {
        return;
      }
      if (!Array.isArray(parsed) || parsed.length !== 4 || !parsed.every((p) => typeof p === "string")) return;
      const [endpoint, bucket, key, id] = parsed as [string, string, string, string];
      // Another endpoint (a node of another configuration on the same store): not ours to judge.
      if (endpoint !== settings.endpoint) return;
      let api = apis.get(bucket);
      if (!api) apis.set(bucket, (api = new S3Api(settings, bucket)));
      try {
        await abortMultipart(api, key, id);
        aborted++;
        log("dead worker's multipart upload aborted", { bucket, key });
      } catch {
        /* the store is away: the stale-upload sweep aborts it later */
      }
    }),
  );
  return aborted;
}
