// What `get` and `put` do for one file besides the transfer: refuse the flags that only plan or filter
// tree jobs (and, with "-" for stdout or stdin, those that need a file), and with --json print the same report a tree job prints (one entry), on success and on
// failure alike, so a script reads every job's outcome the same way.
import { resolve } from "node:path";
import { CliError, DRY_RUN_TREES_ONLY, repeatedFlag, treeSpec } from "./args.ts";
import { finishedEntry, printReport, summarize } from "../client/report.ts";
import { movedBefore } from "../client/errors.ts";
import { displayUrl, parseUrlArg } from "../client/options.ts";
import { downloadTarget, uploadTarget, type TransferResult } from "../client/operations.ts";
import { STDIO } from "../client/stdio-transfer.ts";

interface SingleFileArgs {
  parallel?: string;
  "dry-run"?: boolean;
  json?: boolean;
  segments?: string;
}

/** Check a single file's flags; --parallel is still validated (a typo is an error wherever it is). */
export function checkSingleFileArgs(args: SingleFileArgs, rawArgs: readonly string[]): void {
  const { exclude } = treeSpec(args, rawArgs);
  if (args["dry-run"]) throw new CliError(DRY_RUN_TREES_ONLY);
  if (exclude.length > 0) throw new CliError("--exclude filters tree jobs (-r, a glob, sync); a single file has nothing to filter");
  // Validated above all the same; given for one file it was accepted and ignored (one connection moves it).
  if (repeatedFlag(rawArgs, "parallel").length > 0) throw new CliError("--parallel sets the connections of tree jobs (-r, a glob, sync); a single file moves over one (get --segments N splits one download)");
}

/**
 * Check the flags of `get URL -` / `put - URL` (standard output or input): what needs a seekable
 * file, or stdout for itself, cannot go with a stream; the rest as for any single file.
 */
export function checkStdioArgs(args: SingleFileArgs, rawArgs: readonly string[], where: "standard output" | "standard input", tree: boolean): void {
  if (tree) throw new CliError(`"-" (${where}) carries one file; a tree or a glob needs a local directory`);
  if (args.json && where === "standard output") throw new CliError(`--json prints on standard output, which carries the file with "-"`);
  if (args.segments !== undefined && args.segments !== "1") throw new CliError("--segments writes a file at several places at once; standard output takes bytes in order");
  checkSingleFileArgs(args, rawArgs);
}

/** With --json stdout carries the report and stderr only errors, as in a tree job. */
export function quietForJson<T extends { quiet: boolean }>(opts: T, json: boolean | undefined): T {
  return json ? { ...opts, quiet: true } : opts;
}

/**
 * Run one file's transfer; with `json`, print its report (the error, if it failed, is still thrown:
 * the exit status and the message on stderr stay what they are without --json).
 */
export async function runSingleFile(json: boolean | undefined, direction: "get" | "put", urlText: string, localArg: string | undefined, job: () => Promise<TransferResult>): Promise<void> {
  if (!json) {
    await job();
    return;
  }
  let result: TransferResult;
  try {
    result = await job();
  } catch (err) {
    const where = describe(direction, urlText, localArg);
    // The file is the job: its failure is the job's `error` too, as a tree job's refused login is.
    const message = (err as Error).message;
    if (where) printReport({ ...summarize([{ ...where, action: "copy", reason: "requested", bytes: movedBefore(err), result: `failed: ${message}` }]), error: message });
    throw err;
  }
  printReport(summarize([finishedEntry(result)]));
}

/** The local path and the URL (without its password) of a job that failed; null when the URL itself is bad. */
function describe(direction: "get" | "put", urlText: string, localArg: string | undefined): { path: string; url: string } | null {
  try {
    const url = parseUrlArg(urlText);
    if (direction === "get") return { path: downloadTarget(url, localArg), url: displayUrl(url) };
    const local = localArg === STDIO ? STDIO : resolve(localArg ?? "");
    return { path: local, url: displayUrl({ ...url, path: uploadTarget(url, local) }) };
  } catch {
    return null;
  }
}
