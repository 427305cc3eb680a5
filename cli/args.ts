import type { ArgsDef } from "citty";
import { resolve } from "node:path";
import { parseRate } from "../protocol/size.ts";

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

/** Flags shared by the client commands `get`, `put` and `resume`. */
export const clientArgs = {
  verify: {
    type: "boolean",
    default: true,
    description: "Verify the transfer with the server's digest (--no-verify: compare sizes only)",
    negativeDescription: "Skip the digest request",
  },
  hash: { type: "string", default: "sha256", description: "Digest algorithm: sha256 or md5", valueHint: "md5|sha256" },
  "limit-rate": { type: "string", description: "Limit the transfer rate (e.g. 500K, 2MB)", valueHint: "RATE" },
  retries: { type: "string", default: "3", description: "Reconnect and continue this many times after a dropped connection", valueHint: "N" },
  quiet: { type: "boolean", alias: "q", description: "Print nothing but errors" },
  active: { type: "boolean", description: "Active mode: the server connects to us (EPRT/PORT)" },
} as const satisfies ArgsDef;

/** Client flags (as citty parsed them) → validated transfer options. */
export function clientOptions(args: {
  verify?: boolean;
  hash?: string;
  "limit-rate"?: string;
  retries?: string;
  quiet?: boolean;
  active?: boolean;
  restart?: boolean;
}): {
  verify: boolean;
  hash: "md5" | "sha256";
  rate: number;
  retries: number;
  quiet: boolean;
  active: boolean;
  restart: boolean;
} {
  const hash = (args.hash ?? "sha256").toLowerCase().replace("-", "");
  if (hash !== "md5" && hash !== "sha256") throw new CliError(`--hash must be md5 or sha256, not "${args.hash}"`);
  const retries = Number(args.retries ?? "3");
  if (!Number.isInteger(retries) || retries < 0 || retries > 100) throw new CliError(`--retries must be a whole number from 0 to 100`);
  const rate = args["limit-rate"] ? parseRate(args["limit-rate"]) : 0;
  return {
    verify: args.verify !== false,
    hash,
    rate,
    retries,
    quiet: args.quiet === true,
    active: args.active === true,
    restart: args.restart === true,
  };
}
