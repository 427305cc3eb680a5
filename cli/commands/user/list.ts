// `ftpkit user list`: one line per user on stdout (or JSON with --json); hashes are never shown.
import { defineCommand } from "citty";
import { usersArgs } from "../../args.ts";
import { checkArgs } from "../../args-check.ts";
import { refuseClosedStdout } from "../../stdout-job.ts";
import { printableJson, printableName } from "../../../protocol/printable.ts";
import { formatPerms } from "../../../server/auth/ini-store.ts";
import { isCheckableHash } from "../../../server/auth/verify.ts";
import { formatQuota, log, openStore } from "./shared.ts";

const args = {
  json: { type: "boolean", description: "Print a JSON array (for scripts)" },
  ...usersArgs,
} as const;


export default defineCommand({
  meta: { name: "list", description: "List users" },
  args,
  async run({ args: a, rawArgs }) {
    checkArgs(rawArgs, args, a._);
    refuseClosedStdout(["user", "list", ...rawArgs]);
    const { file, users } = await openStore(a.users);
    const list = [...users.values()];
    if (a.json) {
      const out = list.map((u) => ({
        name: u.name,
        home: u.home,
        quota: u.quota,
        perms: u.perms,
        requireTls: u.requireTls,
        password: !!u.hash,
        // A hash no password can match (crypt's $6$ carried over, an argon2 string cut short): the server cannot log this user in.
        passwordUsable: u.hash !== undefined && isCheckableHash(u.hash),
        mounts: u.mounts,
      }));
      process.stdout.write(printableJson(out) + "\n");
      return;
    }
    if (list.length === 0) log.info(`no users in ${file}`);
    for (const u of list) {
      const mounts = u.mounts.map((m) => `${m.vpath}=${m.dir}(${formatPerms(m.perms)}${m.quota ? `,${formatQuota(m.quota)}` : ""})`);
      const fields = [
        u.name,
        `home=${u.home}`,
        `quota=${formatQuota(u.quota)}`,
        `perm=${formatPerms(u.perms)}`,
        `tls=${u.requireTls ? "required" : "optional"}`,
        `password=${u.hash === undefined ? "none" : isCheckableHash(u.hash) ? "set" : "unusable"}`,
        `mounts=${mounts.length ? mounts.join(";") : "none"}`,
      ];
      // One line per user, whatever a home or mount directory holds: a line break in one (a value
      // from a script's input, stored exactly) printed a line of its own, read as another user's.
      process.stdout.write(printableName(fields.join(" ")) + "\n");
    }
  },
});
