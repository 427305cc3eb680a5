// loadUsers on a short-lived thread (users-thread.ts), so the server's event loop keeps serving
// sessions while a big users file is parsed and its homes looked at. Where no thread can be
// started, it all runs here, as before.
import { isS3Url } from "../../protocol/s3-url.ts";
import { workerUrl } from "../../protocol/worker-url.ts";
import { loadUsers, UsersFileError } from "./ini-store.ts";
import { warnMissingPlaces } from "./missing-places.ts";
import { exposedFiles, type OwnFile } from "./served-files.ts";
import type { UserRecord } from "./types.ts";
import type { UsersThreadReply, UsersThreadRequest } from "./users-thread.ts";

export interface LoadedOffThread {
  users: Map<string, UserRecord>;
  /** exposedFiles' lines for the files asked about. */
  exposed: string[];
  /** warnMissingPlaces, under way: settles once its lines have gone to `log`. */
  placesChecked: Promise<void>;
}

/**
 * As loadUsers (same errors, a UsersFileError's message unchanged), parsed off the main thread;
 * with the homes and mounts that hold one of `ownFiles`, and the missing-places check started.
 */
export async function loadUsersOffThread(file: string, opts: UsersThreadRequest["opts"], ownFiles: OwnFile[], log: (msg: string) => void): Promise<LoadedOffThread> {
  const here = async (): Promise<LoadedOffThread> => {
    const users = await loadUsers(file, opts);
    return { users, exposed: exposedFiles(users.values(), ownFiles, (place) => !isS3Url(place)), placesChecked: warnMissingPlaces(file, users.values(), log) };
  };
  let w: Worker;
  try {
    w = new Worker(workerUrl(import.meta.url, "./users-thread.ts", "server/auth/users-thread.ts"));
  } catch {
    return here();
  }
  let loaded!: (r: UsersThreadReply & { t: "users" | "failed" }) => void;
  let placesDone!: () => void;
  const first = new Promise<(UsersThreadReply & { t: "users" | "failed" }) | null>((resolve) => {
    loaded = resolve;
    // A thread that could not run (its module not found): the file is read here instead, so a
    // reload never fails for want of a thread. After the users came, only the place check is lost.
    w.onerror = () => {
      resolve(null);
      placesDone();
      w.terminate();
    };
  });
  const placesChecked = new Promise<void>((resolve) => (placesDone = resolve));
  const users = new Map<string, UserRecord>();
  w.onmessage = (e: MessageEvent<UsersThreadReply>) => {
    const m = e.data;
    if (m.t === "batch") {
      for (const u of m.users) users.set(u.name, u);
      return;
    }
    if (m.t === "place") return log(m.line);
    if (m.t === "users") return loaded(m);
    placesDone();
    w.terminate();
    if (m.t === "failed") loaded(m);
  };
  // The server's listeners keep the process alive, not a reload: a stop during one (a home on a
  // hung NFS mount stats for ever) must not wait for it.
  w.unref();
  w.postMessage({ file, opts, ownFiles } satisfies UsersThreadRequest);
  const reply = await first;
  if (reply === null) return here();
  if (reply.t === "users") return { users, exposed: reply.exposed, placesChecked };
  // The message already names the file ("users file F: problem"): rebuilt as the same error.
  if (reply.usersFileError) throw Object.assign(new UsersFileError(reply.file, ""), { message: reply.message });
  throw new Error(reply.message);
}
