// `ftpkit user mount NAME VPATH REALDIR`: show a real directory at VPATH in the user's tree.
import { stat } from "node:fs/promises";
import { resolve } from "node:path";
import { defineCommand } from "citty";
import { CliError, UsageError, usersArgs, usersFilePath } from "../../args.ts";
import { checkArgs } from "../../args-check.ts";
import { isS3Url, normalizeS3Url } from "../../../protocol/s3-url.ts";
import { ParseError } from "../../../protocol/errors.ts";
import { parseSize } from "../../../protocol/size.ts";
import { cleanMountPath, DEFAULT_MOUNT_PERMS } from "../../../server/auth/ini-store.ts";
import { isReservedName } from "../../../server/vfs/resolve.ts";
import { editStore, log, permsFlag, refuseServingUsersFile, requireUser } from "./shared.ts";

const args = {
  name: { type: "positional", description: "User name", required: true },
  vpath: { type: "positional", description: "Where it appears, e.g. /pub (not /)", required: true },
  realdir: { type: "positional", description: "Existing directory, or s3://BUCKET[/PREFIX], to show there (omit with --remove)", required: false },
  perm: { type: "string", description: "Permissions: read,write,modify", default: DEFAULT_MOUNT_PERMS.join(","), valueHint: "LIST" },
  quota: { type: "string", description: "Own quota for the mount; 0 or none = the user's quota applies", valueHint: "SIZE" },
  remove: { type: "boolean", description: "Remove the mount at VPATH instead" },
  ...usersArgs,
} as const;

/**
 * A mount's own quota. 0 (or none) leaves the user's quota in charge of the mount's bytes: there is no
 * "unlimited" mount, so that word (a user quota's "no limit") and the hint for -1 must not suggest one.
 */
function parseMountQuota(text: string): number {
  const t = text.trim();
  const inCharge = "0 or none = the user's quota applies to the mount (a mount has no unlimited quota)";
  if (/^unlimited$/i.test(t)) throw new ParseError(`--quota ${t}: ${inCharge}`);
  if (/^-\s*\d/.test(t)) throw new ParseError(`size "${text}" is negative: ${inCharge}`);
  return parseSize(t, { allowUnlimited: true });
}

export default defineCommand({
  meta: { name: "mount", description: "Mount a directory into a user's tree (again on the same VPATH replaces it)" },
  args,
  async run({ args: a, rawArgs }) {
    checkArgs(rawArgs, args, a._);
    const vpath = cleanMountPath(a.vpath);
    if (a.remove) {
      if (a.realdir !== undefined) throw new UsageError("--remove takes no REALDIR");
      const user = await editStore(a.users, ({ file, users }) => {
        const user = requireUser(users, a.name, file);
        const before = user.mounts.length;
        user.mounts = user.mounts.filter((m) => m.vpath !== vpath);
        if (user.mounts.length === before) throw new CliError(`${user.name} has no mount at ${vpath}`);
        return user;
      });
      log.success(`removed mount ${vpath} of ${user.name}`);
      return;
    }
    if (a.realdir === undefined || a.realdir === "") throw new UsageError("missing REALDIR (or use --remove)");
    // The server refuses every path through such a name (553): the mount could never be reached.
    if (vpath.split("/").some(isReservedName)) throw new UsageError(`cannot mount on ${vpath}: names starting with ".ftpkit-" are reserved by the server`);
    const perms = permsFlag(a.perm);
    const quota = a.quota === undefined ? 0 : parseMountQuota(a.quota);
    // An s3:// place is an object-store prefix: not checked on this disk (the server reports problems at login).
    const s3 = isS3Url(a.realdir);
    const dir = s3 ? normalizeS3Url(a.realdir) : resolve(a.realdir);
    const st = s3 ? null : await stat(dir).catch(() => undefined);
    if (st === undefined) throw new CliError(`directory ${dir} does not exist`);
    if (st && !st.isDirectory()) throw new CliError(`${dir} is not a directory`);
    if (!s3) await refuseServingUsersFile(dir, usersFilePath(a.users), "directory");
    const { user, replaced } = await editStore(a.users, ({ file, users }) => {
      const user = requireUser(users, a.name, file);
      const replaced = user.mounts.some((m) => m.vpath === vpath);
      user.mounts = [...user.mounts.filter((m) => m.vpath !== vpath), { vpath, dir, perms, quota }];
      return { user, replaced };
    });
    log.success(`${replaced ? "replaced" : "added"} mount ${vpath} → ${dir} for ${user.name}`);
  },
});
