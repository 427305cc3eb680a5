// `ftpkit user passwd NAME`: set a new password (argon2id).
import { defineCommand } from "citty";
import { usersArgs } from "../../args.ts";
import { hashPassword, saveUsers } from "../../../server/auth/ini-store.ts";
import { checkArgs, log, openStore, readNewPassword, requireUser } from "./shared.ts";

const args = {
  name: { type: "positional", description: "User name", required: true },
  "password-stdin": { type: "boolean", description: "Read the password from the first line of stdin" },
  ...usersArgs,
} as const;

export default defineCommand({
  meta: { name: "passwd", description: "Set a user's password" },
  args,
  async run({ args: a, rawArgs }) {
    checkArgs(rawArgs, args, a._);
    const { file, users } = await openStore(a.users);
    const user = requireUser(users, a.name, file);
    user.hash = await hashPassword(await readNewPassword(!!a["password-stdin"]));
    await saveUsers(file, users);
    log.success(`password of ${user.name} changed`);
  },
});
