// How a recorded job ends for good: its record and saved password are forgotten once it finished,
// or once it can never finish (its source is gone), so a later `resume` does not fail on it again.
// What was already moved stays where it is: the user may want it.
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { ClientError, type FtpClient } from "./client.ts";
import { loadRecord, removeRecord, type TransferRecord } from "./journal.ts";
import { forgetPassword } from "./state.ts";
import { remoteState } from "./file-transfer.ts";

/** Forget a finished (or abandoned) job: its record, progress files and saved password. */
export function forgetJob(id: string, dir: string): void {
  removeRecord(id, dir);
  forgetPassword(id);
}

/** A pending job that another `ftpkit resume` (or get, put, sync) finished while this run waited for its turn. */
export class FinishedElsewhere extends ClientError {
  override name = "FinishedElsewhere";
  constructor(rec: TransferRecord) {
    super(`${rec.local} was finished by another ftpkit resume meanwhile`);
  }
}

/**
 * The job's record as the journal holds it now, read again once this run may run it (holds its lock,
 * or is about to ask for it): `resume` lists its jobs once, and another run may have finished one
 * since. Its record gone, the job is done (FinishedElsewhere): run from the stale record it was taken
 * for a new one, with its finished-files log and saved password gone (a whole tree moved again, a
 * login without a password, a finished file called "replaced since"). A record still there but
 * unreadable now is left to the run, as the listing left it.
 */
export function stillPending(rec: TransferRecord, dir: string): TransferRecord {
  const now = loadRecord(rec.id, dir);
  if (now) return now;
  if (existsSync(join(dir, `${rec.id}.json`))) return rec;
  throw new FinishedElsewhere(rec);
}

/**
 * An interrupted upload whose local file was deleted can never continue (a put of it, with or without
 * --restart, fails too): its job (record, progress, saved password) is forgotten, so it does not fail
 * every later `resume` as well, and the one line says so. The partial remote file is left as it is.
 */
export function abandonIfSourceGone(rec: TransferRecord, dir: string): void {
  try {
    statSync(rec.local);
    return;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code !== "ENOENT" && code !== "ENOTDIR") return; // unreadable, not gone: localFile says why
  }
  forgetJob(rec.id, dir);
  throw new ClientError(
    `the upload of ${rec.local} can never continue: the local file is gone; the partial remote file ${rec.url} is left as it is, and the interrupted transfer is forgotten`,
    { kind: "local" },
  );
}

/**
 * The other way round: a resumed download refused with 550 (by SIZE or RETR) whose remote file SIZE
 * confirms is gone can never finish. Its job is forgotten (once: a second `resume` leaves it alone)
 * and the error to report returned; the part file is kept. Null when the file may still be there
 * (a 550 for a permission, a server without SIZE): the job then stays pending, as before.
 */
export async function abandonIfRemoteGone(rec: TransferRecord, dir: string, part: string, client: FtpClient, remote: string, err: unknown): Promise<ClientError | null> {
  if (!(err instanceof ClientError) || err.code !== 550 || client.control.isClosed) return null;
  const now = await remoteState(client, remote).catch(() => null);
  if (!now?.missing) return null;
  forgetJob(rec.id, dir);
  const kept = existsSync(part) ? `the partial file ${part} is kept` : "nothing was kept";
  return new ClientError(`the download of ${rec.url} can never continue: the remote file is gone (${err.message}); ${kept}, and the interrupted transfer is forgotten`, { code: 550 });
}
