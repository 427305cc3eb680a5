// `ftpkit user passwd NAME`: set a new password (argon2id).
import { defineCommand } from "citty";
import { usersArgs } from "../../args.ts";
import { checkArgs } from "../../args-check.ts";
import { hashPassword } from "../../../server/auth/ini-store.ts";
import { editStore, log, openStore, readNewPassword, requireUser } from "./shared.ts";
import { refuseReadOnly } from "../../../server/auth/ini-save.ts";

const args = {
  name: { type: "positional", description: "User name", required: true },
  "password-stdin": { type: "boolean", description: "Read the password from the first line of stdin (at a terminal: asked without echo)" },
  ...usersArgs,
} as const;

export default defineCommand({
  meta: { name: "passwd", description: "Set a user's password" },
  args,
  async run({ args: a, rawArgs }) {
    checkArgs(rawArgs, args, a._);
    // An unknown name (or a broken file) is said before the password is typed twice for nothing;
    // checked again under the lock.
    const { file, users } = await openStore(a.users, { replacingPasswordOf: a.name });
    requireUser(users, a.name, file);
    await refuseReadOnly(file);
    // Asked and hashed before the users file is locked: a typing user holds no one up.
    const hash = await hashPassword(await readNewPassword(!!a["password-stdin"]));
    const name = await editStore(a.users, ({ file, users }) => {
      const user = requireUser(users, a.name, file);
      user.hash = hash;
      return user.name;
    }, { replacingPasswordOf: a.name });
    log.success(`password of ${name} changed`);
  },
});
