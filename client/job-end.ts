// How a recorded job ends for good: its record and saved password are forgotten once it finished,
// or once it can never finish (its local file is gone), so a later `resume` does not fail on it again.
// What was already moved stays where it is: the user may want it.
import { statSync } from "node:fs";
import { ClientError } from "./client.ts";
import { removeRecord, type TransferRecord } from "./journal.ts";
import { forgetPassword } from "./state.ts";

/** Forget a finished (or abandoned) job: its record, progress files and saved password. */
export function forgetJob(id: string, dir: string): void {
  removeRecord(id, dir);
  forgetPassword(id);
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
