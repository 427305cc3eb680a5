// `ftpkit user tls NAME on|off`: require (or stop requiring) TLS for a user's logins and transfers.
import { defineCommand } from "citty";
import { UsageError, usersArgs } from "../../args.ts";
import { checkArgs } from "../../args-check.ts";
import { editStore, log, requireUser } from "./shared.ts";

const args = {
  name: { type: "positional", description: "User name", required: true },
  state: { type: "positional", description: "on: the user must use AUTH TLS and PROT P; off: plain FTP allowed", required: true },
  ...usersArgs,
} as const;

export default defineCommand({
  meta: { name: "tls", description: "Require TLS for a user (on) or not (off)" },
  args,
  async run({ args: a, rawArgs }) {
    checkArgs(rawArgs, args, a._);
    const state = a.state.toLowerCase();
    if (state !== "on" && state !== "off") throw new UsageError(`state must be on or off, got "${a.state}"`);
    const user = await editStore(a.users, ({ file, users }) => {
      const user = requireUser(users, a.name, file);
      user.requireTls = state === "on";
      return user;
    });
    log.success(`${user.name}: TLS ${user.requireTls ? "required" : "optional"}`);
  },
});
