// Accounts given on the command line or to startServer(): one root, no users file.
import { isAbsolute, relative, resolve } from "node:path";
import { statSync } from "node:fs";
import { ALL_PERMS, type Perm } from "../server/auth/types.ts";
import { parsePerms } from "../server/auth/ini-store.ts";
import type { InlineUser } from "../server/auth/memory-store.ts";
import { parseSize } from "../protocol/size.ts";
import { CliError, UsageError } from "./args.ts";
import { breaksCommandLine, MAX_PASS_BYTES } from "../protocol/command.ts";

/** One account for `startServer({ users })`. */
export interface UserOption {
  name: string;
  password: string;
  /** "read,write,modify" or a list; default: everything with `write`, else read-only. */
  perm?: string | Perm[];
  /** Bytes, or a size like "10MB"; default unlimited. */
  quota?: number | string;
  /** Home directory, relative to the root (default: the root itself). */
  home?: string;
}

/**
 * The accounts serving `root`: each user's home is the root (or `home` under it); without `write`
 * everyone is read-only; `anonymous` is always read-only.
 */
export function inlineUsers(root: string, users: readonly UserOption[], opts: { anonymous?: boolean; write?: boolean }): InlineUser[] {
  const base = resolve(root);
  const out: InlineUser[] = users.map((u) => {
    const perms = u.perm === undefined ? (opts.write ? [...ALL_PERMS] : (["read"] as Perm[])) : typeof u.perm === "string" ? parsePerms(u.perm) : [...u.perm];
    const quota = typeof u.quota === "string" ? parseSize(u.quota, { allowUnlimited: true }) : (u.quota ?? 0);
    const home = u.home === undefined ? base : resolve(base, u.home);
    const rel = relative(base, home);
    if (rel.startsWith("..") || isAbsolute(rel)) throw new CliError(`home of ${u.name} (${u.home}) is outside the root`);
    if (breaksCommandLine(u.password)) throw new UsageError(`the password of ${u.name} has CR, LF or NUL: no FTP client can send it`);
    // As `user add` refuses it: a longer PASS is past the server's command line ("500 Command line too long").
    const bytes = Buffer.byteLength(u.password, "utf8");
    if (bytes > MAX_PASS_BYTES) throw new UsageError(`the password of ${u.name} has ${bytes} bytes in UTF-8: the server's command line carries at most ${MAX_PASS_BYTES} after PASS, so no client could log in with it`);
    return { name: u.name, password: u.password, home, perms, quota };
  });
  if (opts.anonymous) out.push({ name: "anonymous", home: base, perms: ["read"] });
  return out;
}

/** A root directory that exists: one clear line otherwise. */
export function checkRoot(root: string, flag = "--root"): string {
  const abs = resolve(root);
  let st;
  try {
    st = statSync(abs);
  } catch {
    throw new CliError(`${flag} ${root}: no such directory`);
  }
  if (!st.isDirectory()) throw new CliError(`${flag} ${root}: not a directory`);
  return abs;
}

/** `--user NAME:PASS` (the password may contain ":"). */
export function parseUserFlag(text: string): { name: string; password: string } {
  const colon = text.indexOf(":");
  if (colon <= 0 || colon === text.length - 1) throw new UsageError(`--user must look like NAME:PASSWORD, got "${text.replace(/:.*/, ":…")}"`);
  return { name: text.slice(0, colon), password: text.slice(colon + 1) };
}
