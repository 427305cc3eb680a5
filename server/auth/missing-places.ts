// Homes and mounts whose local directory is not there, said to the admin when the users file is read.
import { constants } from "node:fs";
import { access, stat } from "node:fs/promises";
import { isS3Url } from "../../protocol/s3-url.ts";
import type { Perm, UserRecord } from "./types.ts";

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
  // A directory that is there but that this process may not use as the user's rights need: `sudo ftpkit
  // user add` made a root-owned home, the server runs as a service account, and every upload got 550
  // with only an EACCES per command in the log. access() asks the kernel as this process (its mode,
  // owner, ACLs; a read-only filesystem for writing): the server never changes its uid.
  const uid = process.getuid?.();
  /** access()'s errno code for `mode` on `dir`, or null when allowed. */
  const refused = new Map<string, Promise<string | null>>();
  const may = (dir: string, mode: number): Promise<string | null> => {
    const key = `${mode}:${dir}`;
    let p = refused.get(key);
    if (!p) refused.set(key, (p = access(dir, mode).then(() => null, (err: NodeJS.ErrnoException) => err.code ?? "EACCES")));
    return p;
  };
  const unusable = async (dir: string, perms: readonly Perm[], name: string): Promise<string | null> => {
    // Entering is needed for anything, listing and reading for `read`, creating for write and modify.
    const lacks: string[] = [];
    if (await may(dir, perms.includes("read") ? constants.R_OK | constants.X_OK : constants.X_OK)) lacks.push("read");
    const writing = perms.includes("write") || perms.includes("modify") ? await may(dir, constants.W_OK) : null;
    // A read-only filesystem: no owner or mode fixes that (the advice below sent admins to chown).
    if (writing === "EROFS" && lacks.length === 0) {
      return `is on a read-only file system, while ${name}'s rights there (${perms.join(",")}) need writing: uploads, MKD and DELE fail with 550 until it is mounted read-write`;
    }
    if (writing) lacks.push("written");
    if (lacks.length === 0) return null;
    return `cannot be ${lacks.join(" or ")} by this server's account${uid === undefined ? "" : ` (uid ${uid})`}, as ${name}'s rights there (${perms.join(",")}) need: those commands fail with 550 until its owner or mode allows it`;
  };
  const checks: Promise<void>[] = [];
  for (const u of users) {
    if (!isS3Url(u.home)) {
      checks.push(
        problem(u.home).then(async (why) => {
          if (why) log(`users file ${usersFile}: ${u.name}'s home ${u.home} ${why}: ${u.name} cannot log in until it is there`);
          else if ((why = await unusable(u.home, u.perms, u.name))) log(`users file ${usersFile}: ${u.name}'s home ${u.home} ${why}`);
        }),
      );
    }
    for (const m of u.mounts) {
      if (isS3Url(m.dir)) continue;
      checks.push(
        problem(m.dir).then(async (why) => {
          if (why) log(`users file ${usersFile}: ${u.name}'s mount ${m.vpath}: directory ${m.dir} ${why}; ${m.vpath} fails for ${u.name} until it is there`);
          else if ((why = await unusable(m.dir, m.perms, u.name))) log(`users file ${usersFile}: ${u.name}'s mount ${m.vpath}: directory ${m.dir} ${why}`);
        }),
      );
    }
  }
  await Promise.all(checks);
}
