// The users file read and parsed on a thread of its own, for the server's reloads: a 50,000-user
// file took ~1 s to parse, and on the main thread every session stalled for that long (a NOOP
// answered after 1.76 s). The look at homes and mounts (a realpath and a stat or two per home) is
// done here too. Only the finished records and the warnings' lines cross back.
import { isS3Url } from "../../protocol/s3-url.ts";
import { loadUsers, UsersFileError, type ParseOptions } from "./ini-store.ts";
import { warnMissingPlaces } from "./missing-places.ts";
import { exposedFiles, type OwnFile } from "./served-files.ts";
import type { UserRecord } from "./types.ts";

declare const self: Worker;

export interface UsersThreadRequest {
  file: string;
  opts: { allowMissing?: boolean; allowEmpty?: boolean } & ParseOptions;
  /** Files no home or mount may hold (exposedFiles). */
  ownFiles: OwnFile[];
}

/** Records per message. */
const BATCH = 2000;

/** The users in batches and then "users" (or "failed"), then each missing-places line, then "placesDone". */
export type UsersThreadReply =
  | { t: "batch"; users: UserRecord[] }
  | { t: "users"; exposed: string[] }
  | { t: "failed"; usersFileError: boolean; file: string; message: string }
  | { t: "place"; line: string }
  | { t: "placesDone" };

self.onmessage = async (e: MessageEvent<UsersThreadRequest>) => {
  let users: UserRecord[];
  try {
    users = [...(await loadUsers(e.data.file, e.data.opts)).values()];
  } catch (err) {
    const usersFileError = err instanceof UsersFileError;
    self.postMessage({ t: "failed", usersFileError, file: usersFileError ? err.file : e.data.file, message: (err as Error).message } satisfies UsersThreadReply);
    return;
  }
  // In batches: the receiving thread decodes each message in one go (50,000 records at once held
  // its event loop for ~100 ms), and between batches it serves sessions.
  for (let i = 0; i < users.length; i += BATCH) self.postMessage({ t: "batch", users: users.slice(i, i + BATCH) } satisfies UsersThreadReply);
  self.postMessage({ t: "users", exposed: exposedFiles(users, e.data.ownFiles, (place) => !isS3Url(place)) } satisfies UsersThreadReply);
  await warnMissingPlaces(e.data.file, users, (line) => self.postMessage({ t: "place", line } satisfies UsersThreadReply)).catch(() => {});
  self.postMessage({ t: "placesDone" } satisfies UsersThreadReply);
};
