import type { ArgsDef } from "citty";
import { resolve } from "node:path";

/** `--users FILE`, shared by `serve` and every `user` subcommand. */
export const usersArgs = {
  users: {
    type: "string",
    description: "Users file (default: $FTPKIT_USERS or ./users.ini)",
    valueHint: "FILE",
  },
} as const satisfies ArgsDef;

/** The users file a command works on: --users, else $FTPKIT_USERS, else ./users.ini. */
export function usersFilePath(flag: string | undefined): string {
  return resolve(flag ?? process.env.FTPKIT_USERS ?? "users.ini");
}

/** An expected failure: one clear line on stderr, exit code 1, no stack trace. */
export class CliError extends Error {
  override name = "CliError";
}
