// Another pending single-file job in the way of a new one: a download into the same part file, or
// an upload to the same remote file, recorded in this directory's journal or in another one.
import { existsSync } from "node:fs";
import { besideFile, PART_SUFFIX } from "./file-transfer.ts";
import { listRecords, type TransferRecord } from "./journal.ts";
import { journalsElsewhere } from "./journal-index.ts";

/** A pending download of another URL whose part file is the one a download into `local` uses. */
export function otherDownloadInto(local: string, id: string, dir: string): (PendingRival & { url: string; part: string }) | null {
  const part = besideFile(local, PART_SUFFIX);
  const r = otherPendingJob("get", id, dir, (r) => (r.part ?? besideFile(r.local, PART_SUFFIX)) === part || r.local === local);
  return r ? { ...r, url: r.record.url, part: r.record.part ?? besideFile(r.record.local, PART_SUFFIX) } : null;
}

/** A pending upload of another local file to `url` (the remote file it would write). */
export function otherUploadTo(url: string, id: string, dir: string): PendingRival | null {
  return otherPendingJob("put", id, dir, (r) => r.url === url);
}

/** A pending job in the way, the journal that holds it, and where `ftpkit resume` runs it (null: this directory). */
export interface PendingRival {
  record: TransferRecord;
  journal: string;
  cwd: string | null;
}

/**
 * Another pending single-file job whose target `clashes` with this one's: a job is keyed by URL +
 * local file, but a download's part file is the local file's and an upload writes the remote one.
 * This directory's journal first, then every other one the pending index knows (a job started from
 * another directory and killed writes the same part file or remote file); there, this very job
 * (same id) is in the way too, since this directory has no record of it.
 */
function otherPendingJob(direction: TransferRecord["direction"], id: string, dir: string, clashes: (r: TransferRecord) => boolean): PendingRival | null {
  const fits = (r: TransferRecord) => r.direction === direction && r.kind === "file" && clashes(r);
  if (existsSync(dir)) {
    for (const r of listRecords(dir)) if (r.id !== id && fits(r)) return { record: r, journal: dir, cwd: null };
  }
  for (const place of journalsElsewhere(dir)) {
    for (const r of listRecords(place.journal)) if (fits(r)) return { record: r, journal: place.journal, cwd: place.cwd };
  }
  return null;
}

/** "`ftpkit resume`", and where to run it when the job was recorded from another directory. */
export function resumeThere(rival: PendingRival): string {
  return rival.cwd === null ? "`ftpkit resume`" : `\`ftpkit resume\` in ${rival.cwd}`;
}
