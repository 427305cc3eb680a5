// Homes and mounts whose local directory is not there, said to the admin when the users file is read.
import { stat } from "node:fs/promises";
import { isS3Url } from "../../protocol/s3-url.ts";
import type { UserRecord } from "./types.ts";

/**
 * A mount of a directory that does not exist (a typo in a hand edit) was silent: `serve` started with
 * no word, and its user met only a failing directory. Said, not refused: the directory may come
 * later (a network filesystem not mounted yet), as vsftpd and ProFTPD fail only at the login. Each
 * directory is looked at once per load, in the background (a hung network mount must not hold the
 * start or a login); the line goes to the server's log only, never to a client.
 */
export async function warnMissingPlaces(usersFile: string, users: Iterable<UserRecord>, log: (msg: string) => void): Promise<void> {
  const seen = new Map<string, Promise<string | null>>();
  const problem = (dir: string): Promise<string | null> => {
    let p = seen.get(dir);
    if (!p) {
      p = stat(dir).then(
        (s) => (s.isDirectory() ? null : "is not a directory"),
        (err: NodeJS.ErrnoException) => (err.code === "ENOENT" || err.code === "ENOTDIR" ? "does not exist" : `cannot be read (${err.code ?? err.message})`),
      );
      seen.set(dir, p);
    }
    return p;
  };
  const checks: Promise<void>[] = [];
  for (const u of users) {
    if (!isS3Url(u.home)) {
      checks.push(
        problem(u.home).then((why) => {
          if (why) log(`users file ${usersFile}: ${u.name}'s home ${u.home} ${why}: ${u.name} cannot log in until it is there`);
        }),
      );
    }
    for (const m of u.mounts) {
      if (isS3Url(m.dir)) continue;
      checks.push(
        problem(m.dir).then((why) => {
          if (why) log(`users file ${usersFile}: ${u.name}'s mount ${m.vpath}: directory ${m.dir} ${why}; ${m.vpath} fails for ${u.name} until it is there`);
        }),
      );
    }
  }
  await Promise.all(checks);
}
