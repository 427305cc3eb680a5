// Test helper: write a users file (real argon2id hashes) and create the homes it names.
import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { saveUsers } from "../../server/auth/ini-save.ts";
import { hashPassword } from "../../server/auth/ini-store.ts";
import { ALL_PERMS, type MountRecord, type Perm, type UserRecord } from "../../server/auth/types.ts";

export interface UserSpec {
  name: string;
  /** Omitted: no password (for `anonymous` this means "any password"; other users cannot log in). */
  password?: string;
  /** Absolute, or relative to `dir`; default `<dir>/home/<name>`. */
  home?: string;
  quota?: number;
  perms?: Perm[];
  mounts?: MountRecord[];
  requireTls?: boolean;
}

/**
 * One real argon2id hash per password for the whole test process: every test server's users file
 * hashed its passwords again (~30 ms each, over a thousand server starts per run); any valid hash of
 * a password logs in with it, whichever salt it has.
 */
const hashes = new Map<string, Promise<string>>();
function hashOnce(password: string): Promise<string> {
  let h = hashes.get(password);
  if (!h) hashes.set(password, (h = hashPassword(password)));
  return h;
}

/** Write `<dir>/users.ini` for `users`, creating missing homes; returns the file's path. */
export async function makeUsersFile(dir: string, users: UserSpec[]): Promise<string> {
  const file = join(dir, "users.ini");
  const records: UserRecord[] = [];
  for (const u of users) {
    // An s3:// home is a prefix in a bucket: nothing to create on disk.
    const home = u.home?.startsWith("s3://") ? u.home : resolve(dir, u.home ?? join("home", u.name));
    if (!home.startsWith("s3://")) await mkdir(home, { recursive: true });
    records.push({
      name: u.name,
      hash: u.password === undefined ? undefined : await hashOnce(u.password),
      home,
      quota: u.quota ?? 0,
      perms: u.perms ?? [...ALL_PERMS],
      mounts: u.mounts ?? [],
      requireTls: u.requireTls ?? false,
    });
  }
  await saveUsers(file, records);
  return file;
}
