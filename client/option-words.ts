// How a client message names an option its reader can change: `ftpkit`'s flags, or the package API's
// options (cli/api.ts). Each message is worded once, with one of these tables: an API caller was told
// "use --restart" or "try --active", options it cannot pass.

export interface OptionWords {
  /** The option of extra certificates ("--ca"), and how to give one ("--ca FILE"). */
  ca: string;
  caFile: string;
  insecure: string;
  /** Explicit FTPS on an ftp:// URL. */
  tls: string;
  active: string;
  /** Followed by the count: "--retries 3", "retries: 3". */
  retries: string;
  segments: string;
  noVerify: string;
  restart: string;
  /** The stall bound ("--stall-timeout", "stallMs"). */
  stall: string;
  /** How to run a transfer again from scratch, discarding what its interrupted run kept. */
  startOver(verb: "get" | "put", args: readonly string[]): string;
}

export const CLI_WORDS: OptionWords = {
  ca: "--ca",
  caFile: "--ca FILE",
  insecure: "--insecure",
  tls: "--tls",
  active: "--active",
  retries: "--retries",
  segments: "--segments",
  noVerify: "--no-verify",
  restart: "--restart",
  stall: "--stall-timeout",
  startOver: (verb, args) => `run \`ftpkit ${verb} --restart ${args.join(" ")}\``,
};
