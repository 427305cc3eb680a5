// `ftpkit user del NAME`: remove a user from the users file; the home directory is kept.
import { defineCommand } from "citty";
import { usersArgs } from "../../args.ts";
import { checkArgs } from "../../args-check.ts";
import { editStore, log, requireUser } from "./shared.ts";

const args = {
  name: { type: "positional", description: "User name", required: true },
  ...usersArgs,
} as const;

export default defineCommand({
  meta: { name: "del", description: "Remove a user (the home directory is kept)" },
  args,
  async run({ args: a, rawArgs }) {
    checkArgs(rawArgs, args, a._);
    const user = await editStore(a.users, ({ file, users }) => {
      const user = requireUser(users, a.name, file);
      users.delete(user.name);
      return user;
    });
    log.success(`removed user ${user.name} (home ${user.home} kept)`);
  },
});
