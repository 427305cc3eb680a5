// `ftpkit user quota NAME SIZE`: set the user's quota (0, none or unlimited = no limit).
import { defineCommand } from "citty";
import { usersArgs } from "../../args.ts";
import { checkArgs } from "../../args-check.ts";
import { parseSize } from "../../../protocol/size.ts";
import { editStore, formatQuota, log, requireUser } from "./shared.ts";

const args = {
  name: { type: "positional", description: "User name", required: true },
  size: { type: "positional", description: "Quota, e.g. 10GB or 1.5GiB; 0, none or unlimited = no limit", required: true },
  ...usersArgs,
} as const;

export default defineCommand({
  meta: { name: "quota", description: "Set a user's quota" },
  args,
  async run({ args: a, rawArgs }) {
    checkArgs(rawArgs, args, a._);
    const quota = parseSize(a.size, { allowUnlimited: true });
    const user = await editStore(a.users, ({ file, users }) => {
      const user = requireUser(users, a.name, file);
      user.quota = quota;
      return user;
    });
    log.success(`quota of ${user.name}: ${formatQuota(quota)}`);
  },
});
