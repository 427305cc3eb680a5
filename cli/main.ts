// ftpkit: the FTP server (`serve`), its user administration (`user …`), its client (`get`, `put`, `sync`, `resume`, `ls`) and a conformance probe (`test`).
import { defineCommand, renderUsage, runCommand, runMain, type ArgsDef, type CommandDef } from "citty";
import pkg from "../package.json" with { type: "json" };
import { CliError, UsageError } from "./args.ts";
import { checkArgs, negativeNumbersAsPositionals } from "./args-check.ts";
import { FtpError, ParseError } from "../protocol/errors.ts";
import { printableMessage } from "../protocol/printable.ts";
import { onStdoutError, stderrOut } from "../client/report.ts";
import { CLIENT_COMMANDS, exitStatusHelp } from "./exit-help.ts";
import { exitAfterMessages } from "./exit.ts";
import { flagArgs, jsonReport, rawArgs, reportsJson } from "./command-line.ts";

const main = defineCommand({
  meta: { name: "ftpkit", version: pkg.version, description: "FTP server, user administration and client" },
  // Lazy imports: `ftpkit get` never loads the server and vice versa.
  subCommands: {
    serve: () => import("./commands/serve.ts").then((m) => m.default),
    user: () => import("./commands/user/index.ts").then((m) => m.default),
    get: () => import("./commands/get.ts").then((m) => m.default),
    put: () => import("./commands/put.ts").then((m) => m.default),
    sync: () => import("./commands/sync.ts").then((m) => m.default),
    resume: () => import("./commands/resume.ts").then((m) => m.default),
    ls: () => import("./commands/ls.ts").then((m) => m.default),
    cert: () => import("./commands/cert.ts").then((m) => m.default),
    test: () => import("./commands/test.ts").then((m) => m.default),
  },
});

/**
 * Where a failure is said: the fancy layout (colour, a blank line before and after) only on a
 * terminal; a log file or a script's pipe gets one "[error] …" line. Loaded only to report a
 * failure: a command that succeeds quietly never pays for it (~30 ms).
 */
function errorConsole() {
  const { createConsola } = require("consola") as typeof import("consola");
  // `fancy` is read by consola's node entry (the types tsc picks lack it).
  // Elsewhere than a terminal the line is written before process.exit (stderrOut): after a
  // --verbose conversation filled the pipe, a buffered one was lost.
  const stream = stderrOut() as unknown as NodeJS.WriteStream;
  const options = { fancy: stream.isTTY === true, stdout: stream, stderr: stream };
  return createConsola(options);
}

// Expected failures (bad input, refused login, missing file…) print one line, never a stack trace.
function isExpected(err: unknown): err is Error {
  const name = (err as Error)?.name;
  return err instanceof CliError || err instanceof ParseError || err instanceof FtpError || name === "ClientError" || name === "UsersFileError" || isSystemError(err);
}

/** A failed system call (ECONNRESET on a TLS read, EACCES…): its message is the line, as the exit status is its kind. */
function isSystemError(err: unknown): err is Error {
  const e = err as { code?: unknown; syscall?: unknown; message?: unknown };
  return typeof e?.code === "string" && /^E[A-Z]+$/.test(e.code) && e.syscall !== undefined && typeof e.message === "string";
}

/**
 * The exit status of a failed command: 2 for bad usage everywhere (README, "Exit status"); then a
 * client command's failure kind, else 1. The server side (serve, user, cert, test) exits 1 on any
 * other error.
 */
async function exitStatus(err: unknown): Promise<number> {
  // A status the error carries (a --workers worker's configuration error: serve-workers.ts).
  const own = (err as { exitStatus?: unknown } | null)?.exitStatus;
  if (typeof own === "number") return own;
  const name = (err as Error)?.name;
  // citty's (an unknown command, a missing positional) and ours; a `user` command's ParseError is a
  // value it was given (a user name, a size, permissions, a mount path).
  if (name === "CLIError" || err instanceof UsageError || (rawArgs[0] === "user" && err instanceof ParseError)) return 2;
  if (!CLIENT_COMMANDS.includes(rawArgs[0] ?? "")) return 1;
  if (err instanceof CliError || err instanceof ParseError) return 2;
  const { EXIT_STATUS, failureKind } = await import("../client/errors.ts");
  const kind = failureKind(err);
  return kind ? EXIT_STATUS[kind] : 1;
}

/**
 * get, put, sync and resume with --json print exactly one report on stdout, whatever fails: the job's own,
 * or (a usage error, a bad URL: before the job could print one) this one with the error. A command
 * that prints a list (ls, resume --list, user list) prints it only on success, so a failed one always
 * gets its error here, as one object.
 */
async function reportFailureAsJson(err: unknown, asListing: boolean): Promise<void> {
  const { failedJob, failedListing, printJsonOnce, printReport, reportPrinted } = await import("../client/report.ts");
  if (asListing) printJsonOnce(failedListing(err));
  else if (!reportPrinted()) printReport(failedJob(err));
}

/** The (sub)command the leading words name (`user add`), and how many words that took. */
async function commandAt(words: readonly string[]): Promise<{ cmd: CommandDef; depth: number }> {
  // Our command groups (ftpkit, user) have no flags of their own: the command is the leading words.
  let cmd: CommandDef = main as CommandDef;
  let depth = 0;
  for (;;) {
    const subs = typeof cmd.subCommands === "function" ? await cmd.subCommands() : await cmd.subCommands;
    const sub = subs && words[depth] !== undefined ? (subs as Record<string, unknown>)[words[depth]!] : undefined;
    if (!sub) return { cmd, depth };
    cmd = (typeof sub === "function" ? await (sub as () => Promise<CommandDef>)() : await sub) as CommandDef;
    depth++;
  }
}

/**
 * The words as citty should see them: a positional that is a negative number (`user quota alice -1`)
 * moved behind "--", judged with the flags of the command it is given to (`user quota`, `serve`…).
 */
async function withNegativePositionals(words: string[]): Promise<string[]> {
  if (!words.some((w) => /^-\d/.test(w))) return words;
  const { cmd, depth } = await commandAt(words);
  const args = typeof cmd.args === "function" ? await cmd.args() : await cmd.args;
  return [...words.slice(0, depth), ...negativeNumbersAsPositionals(words.slice(depth), args)];
}

/**
 * citty colours its help and messages whatever the output is, unless NO_COLOR is exactly "1": a pipe or
 * a file gets none, nor a terminal under NO_COLOR set to anything (no-color.org: present and not empty).
 */
const ANSI = /\x1b\[[0-9;]*m/g;

/**
 * --help as git and curl print it: colours only on a terminal, no blanks padding a line out to the
 * longest one (in an 80-column terminal each line then wrapped into screens of spaces), and a
 * subcommand's usage under its full name (`ftpkit user add`, where citty wrote `user add`).
 */
async function showHelp<T extends ArgsDef = ArgsDef>(cmd: CommandDef<T>, parent?: CommandDef<T>): Promise<void> {
  let named = parent;
  if (parent && (parent as CommandDef) !== main) {
    const meta = typeof parent.meta === "function" ? await parent.meta() : await parent.meta;
    named = { ...parent, meta: { ...meta, name: `ftpkit ${meta?.name ?? ""}` } };
  }
  let text = await renderUsage(cmd, named);
  if (!process.stdout.isTTY || (process.env.NO_COLOR ?? "") !== "") text = text.replace(ANSI, "");
  // What $? says, after the options: citty has no place for it.
  const { depth } = await commandAt(rawArgs);
  const exits = exitStatusHelp(rawArgs.slice(0, depth));
  if (exits) text = `${text.trimEnd()}\n\n${exits.trimEnd()}`;
  process.stdout.write(text.split("\n").map((line) => line.trimEnd()).join("\n") + "\n\n");
}

/**
 * One line for a usage error citty found (an unknown command, a missing argument): without its
 * colour codes, in our lower case, pointing at the help of the command that was typed. A missing
 * positional that a value flag took as its value (`get --retries URL`: the URL became the count) says so.
 */
async function usageLine(err: Error): Promise<string> {
  const { cmd, depth } = await commandAt(rawArgs);
  const message = err.message.replace(ANSI, "").replace(/\.$/, "");
  let why = "";
  const help = ["ftpkit", ...rawArgs.slice(0, depth), "--help"].join(" ");
  if (message.startsWith("Missing required positional argument")) {
    const args = ((typeof cmd.args === "function" ? await cmd.args() : await cmd.args) ?? {}) as Record<string, { type?: string; alias?: string | string[] }>;
    // A mistyped flag first, in the words run() gives it (`get --version`: "unknown option
    // --version"): citty checks the arguments before run() names unknown flags, and the missing
    // argument (which the flag may even have been meant to precede) was the lesser news.
    try {
      checkArgs(flagArgs.slice(depth), args, []);
    } catch (e) {
      if (e instanceof CliError) return e.message;
      throw e;
    }
    const takesValue = new Set<string>();
    for (const [name, arg] of Object.entries(args)) {
      if (arg.type !== "string") continue;
      takesValue.add(`--${name}`);
      for (const alias of ([] as string[]).concat(arg.alias ?? [])) takesValue.add(alias.length === 1 ? `-${alias}` : `--${alias}`);
    }
    const words = flagArgs.slice(depth);
    // The URL itself is not quoted: it may hold a password.
    const i = words.findIndex((w, k) => takesValue.has(w) && words[k + 1]?.includes("://"));
    if (i >= 0) why = `${words[i]} took it as its value: give ${words[i]} one first; `;
  }
  return `${message.charAt(0).toLowerCase()}${message.slice(1)} (${why}see ${help})`;
}

// `ls --json`, `resume --list --json` and `user list --json` print a list (on failure: {error}), not a report.
const listJson = flagArgs.includes("--json") && (rawArgs[0] === "ls" || (rawArgs[0] === "resume" && flagArgs.includes("--list")) || (rawArgs[0] === "user" && rawArgs[1] === "list"));
const wantsBuiltin = rawArgs.length === 0 || rawArgs.some((a) => a === "--help" || a === "-h") ||
  (rawArgs.length === 1 && (rawArgs[0] === "--version" || rawArgs[0] === "-v"));
if (wantsBuiltin) {
  // The help (or version) is all it prints: refused when stdout was closed (`>&-`), as other output is.
  if ((await import("../client/closed-stdout.ts")).stdoutClosedAtStart()) {
    const { ClosedStdoutError } = await import("./stdout-job.ts");
    const err = new ClosedStdoutError(rawArgs.length === 1 && (rawArgs[0] === "--version" || rawArgs[0] === "-v") ? "the version" : "the help", rawArgs[0]);
    errorConsole().error(err.message);
    process.exit(err.exitStatus);
  }
  // `ftpkit` alone: its help, and the usage errors' status (2), as git prints its usage and fails;
  // citty's runMain added "No command specified." and exited 1.
  if (rawArgs.length === 0) {
    await showHelp(main);
    process.exit(2);
  }
  await runMain(main, { showUsage: showHelp });
} else {
  // A listing, a --json report, a plan is refused when stdout was closed (`>&-`) by its command,
  // once its arguments are checked (refuseClosedStdout, cli/stdout-job.ts).
  // The commands that keep resumable state say how to continue it when interrupted; ls says its warnings.
  const quiet = flagArgs.includes("-q") || flagArgs.includes("--quiet");
  if (["get", "put", "sync", "resume"].includes(rawArgs[0] ?? "")) (await import("./interrupt.ts")).hintOnInterrupt(jsonReport, quiet);
  else if (rawArgs[0] === "ls") (await import("./interrupt.ts")).listingOnInterrupt(listJson, quiet);
  // Standard output that takes no more (a full disk or /dev/full, ENOSPC; EIO, EBADF): one line and
  // exit 3 (a local write failure), not Bun's report of an uncaught error with our source lines.
  // A server is not stopped by its log: `serve` loses the lines and goes on (server/log.ts).
  const stdoutFailed = (err: Error & { code?: string }) => {
    if (err.code === "EPIPE") return readerGone();
    // Not Node's "ENOSPC: no space left on device, write": the cause in words (/dev/full: "disk full").
    const { localCause } = require("../client/errors.ts") as typeof import("../client/errors.ts");
    const why = printableMessage(localCause(err));
    // The warnings said so far, and those kept for the command's end, go out before the line and the exit.
    if (CLIENT_COMMANDS.includes(rawArgs[0] ?? "")) (require("../client/messages.ts") as typeof import("../client/messages.ts")).sayUnsaidWarnings(quiet);
    void exitAfterMessages(CLIENT_COMMANDS.includes(rawArgs[0] ?? "") ? 3 : 1, () => errorConsole().error(`cannot write to standard output: ${why}`));
  };
  // A reader that stopped reading (`ftpkit ls URL | head -1`, `user list | head`) took what it
  // wanted: the command stops without a word, as cat, ls and git do (SIGPIPE kills them, or they exit
  // quietly). A listing, a checklist or a plan (ls, user list, resume --list, test) ends there with
  // the status it had (0; the warnings said so far still reach stderr); a job that moves files (its
  // --json report, written at its end) ends with its own status; a failure that reports itself in
  // JSON (the catch below) still says its line. `get URL -` is none of these: its file did not all
  // arrive, and it says so in one line, exit 3 (client/hasher.ts), as curl's `(23) Failure writing output`.
  const listingOnly = !["get", "put", "sync", "resume"].includes(rawArgs[0] ?? "") || (rawArgs[0] === "resume" && flagArgs.includes("--list"));
  let failing = false;
  const readerGone = () => {
    if (failing || !listingOnly) return;
    if (CLIENT_COMMANDS.includes(rawArgs[0] ?? "")) (require("../client/messages.ts") as typeof import("../client/messages.ts")).sayUnsaidWarnings(quiet);
    void exitAfterMessages(typeof process.exitCode === "number" ? process.exitCode : 0);
  };
  if (rawArgs[0] === "serve") (await import("../server/log.ts")).keepServingWhenOutputFails();
  // The commands that move files write standard output only through writeStdout (their report, a
  // dry run's plan; `get URL -` writes the file itself to the descriptor, StreamSink): they never
  // create process.stdout, ~18 ms of every start (a 1,000-file get -r took ~0.6 s of CPU).
  // Those that report write standard output only through writeStdout (client/report.ts).
  else if (reportsJson) onStdoutError(stdoutFailed);
  else process.stdout.on("error", stdoutFailed);
  // A warning said from below a command that made no Notifier (the state directory's fallback under `resume --list`).
  const sayWarnings = async () => {
    if (CLIENT_COMMANDS.includes(rawArgs[0] ?? "")) (await import("../client/messages.ts")).sayUnsaidWarnings(quiet);
  };
  try {
    await runCommand(main, { rawArgs: await withNegativePositionals(rawArgs) });
    await sayWarnings();
  } catch (err) {
    await sayWarnings();
    // A --json report's "error" is the line stderr shows.
    if ((err as Error)?.name === "CLIError") (err as Error).message = await usageLine(err as Error);
    failing = true;
    // `test --json` prints its checklist itself; refused before it began (no TARGET), its {error} here.
    const testRefused = rawArgs[0] === "test" && flagArgs.includes("--json") && (await exitStatus(err)) === 2;
    if (jsonReport || listJson || testRefused) await reportFailureAsJson(err, listJson || testRefused);
    // The job's warnings reach stderr before its error line and the exit (exit.ts).
    await exitAfterMessages(await exitStatus(err), () => {
      const consola = errorConsole();
      if ((err as Error)?.name === "CLIError") consola.error((err as Error).message);
      // Client errors quote names and reply text a server chose: no control character reaches the terminal.
      else if (isExpected(err)) consola.error(printableMessage(err.message));
      else consola.error(err);
    });
  }
}
