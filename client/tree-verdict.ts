// How a tree job ends once its report is out: nothing failed, or one error whose words say what to
// do next and whose kind (the most telling failure's) is the exit status.
import { ClientError } from "./client.ts";
import { localCause, worstKind, type FailureKind } from "./errors.ts";
import type { JobReport } from "./report.ts";

/** One failed item: its kind, and whether it is a refusal a plain `ftpkit resume` cannot get past. */
export interface ItemFailure {
  kind: FailureKind | null;
  lasting: boolean;
}

export interface JobEnd {
  /** Why the job stopped starting files (a full disk, a server refusing to store more), if it did. */
  halted: string | null;
  /** How many failures are uploads whose local file is gone: the job is done with them. */
  orphaned: number;
  /** Whether a record is kept for `ftpkit resume` (the job moved something, or was resumed). */
  kept: boolean;
}

const MAKE_ROOM = "make room, then run `ftpkit resume`";

/** Throws the job's error when anything failed. */
export function throwIfFailed(report: JobReport, failures: readonly ItemFailure[], end: JobEnd): void {
  const failed = report.failed;
  if (failed === 0) return;
  const kind = worstKind(failures.map((f) => f.kind)) ?? undefined;
  const of = `${failed} of ${report.files.length} items failed`; // the plan's, and what the walks reported besides it
  // The disk's own message may say it already (a download's "N bytes kept: make room, …"): once.
  // A read-only disk has room; it wants remounting, not space made.
  const next = end.halted?.endsWith(`: ${localCause({ code: "EROFS" })}`) ? "make it writable, then run `ftpkit resume`" : MAKE_ROOM;
  if (end.halted) throw new ClientError(`${of}: ${end.halted.includes(MAKE_ROOM) ? end.halted : `${end.halted}; ${next}`}`, { kind });
  if (failed === end.orphaned) throw new ClientError(`${of}: ${failed === 1 ? "its local file is" : "their local files are"} gone since the interrupted upload (see above); nothing is left to resume`, { kind });
  // A new job that moved nothing leaves no record: the command itself is what to run again.
  const again = end.kept ? "`ftpkit resume` moves only them (`--restart` starts the job over)" : "run the command again";
  if (failures.every((f) => f.lasting)) throw new ClientError(`${of}, each refused (see above): once that is fixed, ${again}`, { kind });
  throw new ClientError(`${of}; ${end.kept ? "run `ftpkit resume` to retry them" : "run the command again"}`, { kind });
}
