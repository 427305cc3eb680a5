/** The permissions a path can grant (issue #2): read; write = create new files; modify = change existing. */
export type Perm = "read" | "write" | "modify";
export const ALL_PERMS: readonly Perm[] = ["read", "write", "modify"];

/** A virtual directory: `dir` (absolute real path) appears at `vpath` in the user's tree. */
export interface MountRecord {
  vpath: string; // clean absolute virtual path, e.g. "/pub" or "/incoming/drop"
  dir: string; // absolute real directory, or s3://bucket/prefix
  perms: Perm[];
  quota: number; // bytes, 0 = no own limit (the user's quota applies)
}

/** One user as loaded from users.ini, with paths made absolute. */
export interface UserRecord {
  name: string;
  /** Bun.password hash (argon2id); undefined for a --no-password account (anonymous). */
  hash?: string;
  home: string; // absolute real directory, or s3://bucket/prefix
  quota: number; // bytes, 0 = unlimited
  perms: Perm[];
  mounts: MountRecord[];
  requireTls: boolean;
}
