// ftpkit put LOCAL URL: upload one file, a glob ('*.csv' in the last segment) or, with -r, a tree; verified, resumable.
import { statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { defineCommand } from "citty";
import { clientArgs, clientOptions, refuseUrlAsLocal, treeArgs, treeSpec } from "../args.ts";
import { checkArgs } from "../args-check.ts";
import { parseUrlArg, STDIO } from "../../client/options.ts";
import { refuseClosedStdout } from "../stdout-job.ts";
import { hasGlob, unescapeGlob } from "../../protocol/glob.ts";

// As in get.ts, what only one file needs (a single put, standard input) is imported where it is used:
// a tree job (put -r, a glob) never runs it, and those modules (operations.ts with the segmented
// download and both directions' file transfers, stdio-transfer.ts, single-file.ts) cost its start-up ~2 ms.

export default defineCommand({
  meta: { name: "put", description: "Upload a file, a glob or (-r) a directory (a URL ending in / keeps the local name)" },
  args: {
    local: { type: "positional", required: true, description: "Local file, directory (-r), or a quoted glob ('out/*.csv'); - for standard input", valueHint: "LOCAL" },
    url: { type: "positional", required: true, description: "ftp://[user[:password]@]host[:port]/path (relative to the login directory), or ftps:// (implicit TLS)", valueHint: "URL" },
    recursive: { type: "boolean", alias: "r", description: "Upload a directory tree (its contents go into the URL's directory, created if missing)" },
    ...clientArgs,
    ...treeArgs,
    restart: { type: "boolean", description: "Discard a pending interrupted transfer and start over" },
  },
  async run({ args, rawArgs, cmd }) {
    checkArgs(rawArgs, cmd.args, args._);
    refuseUrlAsLocal(args.local, "LOCAL", "put uploads a local file or directory");
    const opts = clientOptions(args);
    const { tree, local } = args.recursive === true || args.local === STDIO ? { tree: args.recursive === true, local: args.local } : whatToUpload(args.local);
    if (args.local === STDIO) {
      const { checkStdioArgs, quietForJson, runSingleFile } = await import("../single-file.ts");
      const { putFromStdin } = await import("../../client/stdio-transfer.ts");
      checkStdioArgs(args, rawArgs, "standard input", tree);
      refuseClosedStdout(["put", ...rawArgs], () => parseUrlArg(args.url));
      await runSingleFile(args.json, "put", args.url, STDIO, () => putFromStdin(args.url, quietForJson(opts, args.json)));
      return;
    }
    if (tree) {
      const { runTreeJob } = await import("../../client/tree-job.ts");
      const spec = { mode: "copy", recursive: args.recursive === true, ...treeSpec(args, rawArgs) } as const;
      refuseClosedStdout(["put", ...rawArgs], () => parseUrlArg(args.url));
      await runTreeJob({ direction: "put", url: args.url, local: args.local, spec, dryRun: args["dry-run"] === true, json: args.json === true }, opts);
      return;
    }
    const { checkSingleFileArgs, quietForJson, runSingleFile } = await import("../single-file.ts");
    const { putFile } = await import("../../client/operations.ts");
    checkSingleFileArgs(args, rawArgs);
    refuseClosedStdout(["put", ...rawArgs], () => parseUrlArg(args.url));
    await runSingleFile(args.json, "put", args.url, local, () => putFile(local, args.url, quietForJson(opts, args.json)));
  },
});

/**
 * A local pattern in the last segment is a glob job, as `get` treats a remote one: the URL is always a
 * directory, so a script's result does not depend on what matched (the job expands the pattern as a
 * shell does, and one that matches nothing stands for the file of its literal name). Without a
 * wildcard, `\` escapes are removed (`st\*r.txt` is the one file st*r.txt). A directory whose own name
 * looks like a pattern (`photos [2024]`) is that directory, refused without -r like any other.
 */
function whatToUpload(given: string): { tree: boolean; local: string } {
  const trimmed = given.replace(/\/+$/, "");
  const last = basename(trimmed);
  if (hasGlob(last) && !isDirectory(given)) return { tree: true, local: given };
  const name = unescapeGlob(last);
  return { tree: false, local: name === last ? given : join(dirname(trimmed), name) };
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
