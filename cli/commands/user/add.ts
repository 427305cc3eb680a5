// `ftpkit user add NAME`: create a user (and its home), creating the users file if needed.
import { lstat, mkdir, readlink, rmdir, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { defineCommand } from "citty";
import { CliError, UsageError, usersArgs, usersFilePath } from "../../args.ts";
import { checkArgs } from "../../args-check.ts";
import { isS3Url, normalizeS3Url } from "../../../protocol/s3-url.ts";
import { localCause } from "../../../client/errors.ts";
import { parseSize } from "../../../protocol/size.ts";
import {
  ANONYMOUS,
  ANONYMOUS_ALIAS,
  DEFAULT_PERMS,
  hashPassword,
  loadUsers,
  validateUserName,
} from "../../../server/auth/ini-store.ts";
import { checkStorable, refuseReadOnly } from "../../../server/auth/ini-save.ts";
import { editStore, log, permsFlag, readNewPassword, refuseServingUsersFile } from "./shared.ts";

const args = {
  name: { type: "positional", description: "User name (letters, digits, . _ -)", required: true },
  home: { type: "string", description: "Home directory, created if missing (default: home/NAME beside the users file), or s3://BUCKET[/PREFIX]", valueHint: "DIR|s3://…" },
  quota: { type: "string", description: "Quota, e.g. 10GB or 1.5GiB; 0, none or unlimited = no limit (default)", valueHint: "SIZE" },
  perm: { type: "string", description: `Permissions: read,write,modify (default: ${DEFAULT_PERMS.join(",")}; read for ${ANONYMOUS})`, valueHint: "LIST" },
  "password-stdin": { type: "boolean", description: "Read the password from the first line of stdin (at a terminal: asked without echo)" },
  // citty turns --no-password into password=false.
  password: { type: "boolean", default: true, description: "Ask for a password (default; see --password-stdin)", negativeDescription: "No password (for `anonymous`: any password is accepted)" },
  "require-tls": { type: "boolean", description: "Refuse logins that have not secured the connection with TLS" },
  ...usersArgs,
} as const;

export default defineCommand({
  meta: { name: "add", description: "Add a user" },
  args,
  async run({ args: a, rawArgs }) {
    checkArgs(rawArgs, args, a._);
    const name = validateUserName(a.name);
    if (name.toLowerCase() === ANONYMOUS_ALIAS) throw new UsageError(`"${ANONYMOUS_ALIAS}" is reserved: it is an alias of ${ANONYMOUS}`);
    // Logins map every spelling of the name to "anonymous": another spelling could never log in.
    if (name.toLowerCase() === ANONYMOUS && name !== ANONYMOUS) throw new UsageError(`"${name}" is reserved: the anonymous login is "${ANONYMOUS}"`);
    const quota = a.quota === undefined ? 0 : parseSize(a.quota, { allowUnlimited: true });
    // Anyone can log in as anonymous: read-only unless asked otherwise, as vsftpd and ProFTPD do.
    const perms = a.perm === undefined ? (name === ANONYMOUS ? ["read" as const] : [...DEFAULT_PERMS]) : permsFlag(a.perm);
    const noPassword = a.password === false;
    if (noPassword && a["password-stdin"]) throw new UsageError("--password-stdin and --no-password exclude each other");

    // An unset variable (`--home "$DIR"`) would make the home the working directory.
    if (a.home !== undefined && a.home.trim() === "") throw new UsageError("--home needs a directory (or leave it out for home/NAME beside the users file)");
    const file = usersFilePath(a.users);
    // Fail early (before asking for a password) when the name is taken; checked again under the lock.
    if ((await loadUsers(file, { allowMissing: true })).has(name)) throw new CliError(`user "${name}" already exists in ${file}`);
    // An s3:// home is an object-store prefix: nothing to check or create on this disk.
    const s3 = a.home !== undefined && isS3Url(a.home);
    const home = a.home === undefined ? join(dirname(file), "home", name) : s3 ? normalizeS3Url(a.home) : resolve(a.home);
    let statError: unknown = null;
    const existing = s3 ? undefined : await stat(home).catch((err) => void (statError = err));
    if (existing && !existing.isDirectory()) throw new CliError(`home ${home} exists and is not a directory`);
    // A symlink to nothing: mkdir would fail with a bare EEXIST after the password was asked.
    if (!s3 && !existing && (await lstat(home).catch(() => undefined))?.isSymbolicLink()) {
      // A link to itself (or a longer loop) names something that exists: its trouble is the loop.
      if ((statError as { code?: unknown } | null)?.code === "ELOOP") throw new CliError(`home ${home} is a loop of symbolic links (it leads to ${await readlink(home)}): make it a directory or choose another home`);
      throw new CliError(`home ${home} is a symlink to ${await readlink(home)}, which does not exist: create that directory or choose another home`);
    }
    if (!s3) await refuseServingUsersFile(home, file, "home");
    // What can be checked before the admin types the password twice: the record is storable, the home can be made.
    const record = { name, hash: undefined, home, quota, perms, mounts: [], requireTls: !!a["require-tls"] };
    checkStorable(file, record);
    await refuseReadOnly(file);
    if (!s3 && !existing) await probeHome(home);

    const hash = noPassword ? undefined : await hashPassword(await readNewPassword(!!a["password-stdin"]));
    // The first directory this command made for the home (mkdir's answer), if it made any.
    let created: string | undefined;
    try {
      await editStore(
        a.users,
        async ({ users }) => {
          if (users.has(name)) throw new CliError(`user "${name}" already exists in ${file}`);
          if (!s3) created ??= await makeHome(home);
          users.set(name, { ...record, hash });
        },
        { allowMissing: true },
      );
    } catch (err) {
      // Nothing was written, so no home either: left, it stayed owned by whoever ran the refused
      // command, and the add that followed as the right account took it as it was (one its server
      // could not write into).
      if (created) await removeMadeDirs(home, created);
      throw err;
    }
    log.success(`added user ${name} (home ${home}) to ${file}`);
    if (name === ANONYMOUS && perms.some((p) => p !== "read")) {
      log.warn(`${ANONYMOUS} may ${perms.filter((p) => p !== "read").join(" and ")}: anyone who can reach the server can; a drop box is safer (a write-only mount, see the README)`);
    }
    if (noPassword && name !== ANONYMOUS) {
      log.warn(`${name} has no password and cannot log in until \`ftpkit user passwd ${name}\` (only ${ANONYMOUS} logs in without one)`);
    }
  },
});

/**
 * Why the home could not be made, in one line, not Node's "ENOENT: no such file or directory, mkdir
 * '/proc/x'". A recursive mkdir's ENOENT is a symlink to nothing on the way, or a file system that
 * takes no new directory (/proc).
 */
async function cannotCreate(home: string, err: unknown): Promise<CliError> {
  let why = localCause(err, true);
  if ((err as { code?: unknown } | null)?.code === "ENOENT") {
    why = "its file system takes no new directory there";
    for (let d = dirname(home); dirname(d) !== d; d = dirname(d)) {
      const st = await lstat(d).catch(() => undefined);
      if (!st) continue;
      if (st.isSymbolicLink() && !(await stat(d).catch(() => undefined))) why = `${d} is a symlink to ${await readlink(d)}, which does not exist`;
      break;
    }
  }
  return new CliError(`cannot create home ${home}: ${why}; nothing was written`);
}

/** Tries of makeHome while parents vanish: each is another add's probe removing what it made. */
const MAKE_HOME_TRIES = 8;

/**
 * `mkdir -p` of the home; the first directory it made, as mkdir answers. Bun's recursive mkdir makes
 * each missing level once: a parallel add's probe that removed the shared `home/` between two levels
 * made it fail with ENOENT (1 of 20 parallel adds in CI). A missing parent is made again a few times;
 * a path that cannot exist (a symlink to nothing, /proc) fails each try at once.
 */
export async function makeHome(home: string): Promise<string | undefined> {
  for (let tries = 1; ; tries++) {
    try {
      return await mkdir(home, { recursive: true });
    } catch (err) {
      if ((err as { code?: unknown } | null)?.code !== "ENOENT" || tries === MAKE_HOME_TRIES) throw await cannotCreate(home, err);
    }
  }
}

/** Whether the home can be made, before the password is asked: made, then removed again (cannotCreate's line if not). */
async function probeHome(home: string): Promise<void> {
  const made = await makeHome(home);
  if (made) await removeMadeDirs(home, made);
}

/** Remove `dir` and its parents up to `top` (the first one mkdir made), each only if still empty. */
async function removeMadeDirs(dir: string, top: string): Promise<void> {
  for (let d = dir; ; d = dirname(d)) {
    if (!(await rmdir(d).then(() => true, () => false)) || d === top || dirname(d) === d) return;
  }
}
