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
      hash: u.password === undefined ? undefined : await hashPassword(u.password),
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
