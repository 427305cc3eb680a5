// ftpkit get URL [LOCAL]: download one file, a glob ('*.gz' in the last segment) or, with -r, a tree; verified, resumable.
import { defineCommand } from "citty";
import { statSync } from "node:fs";
import { clientArgs, clientOptions, CliError, refuseUrlAsLocal, treeArgs, treeSpec, wholeNumber } from "../args.ts";
import { checkArgs } from "../args-check.ts";
import { parseUrlArg, STDIO } from "../../client/options.ts";
import { refuseClosedStdout } from "../stdout-job.ts";
import { hasGlob, unescapeGlob, urlGlobSegment } from "../../protocol/glob.ts";

// What only one file needs (a single get, standard output, a FIFO) is imported where it is used: a
// tree job (get -r, a glob) never runs it, and those modules (operations.ts and what it imports:
// segmented downloads, the rival-job checks; stdio-transfer.ts, single-file.ts) cost its start-up ~4 ms.

export default defineCommand({
  meta: { name: "get", description: "Download a file, a glob or (-r) a directory (ftp://user[:password]@host[:port]/path, relative to the login directory); a file keeps the remote modification time (MDTM, when the server offers it), except on standard output" },
  args: {
    url: { type: "positional", required: true, description: "ftp://[user[:password]@]host[:port]/path (//path for an absolute one), or ftps:// (implicit TLS); *, ? and [...] in the last segment", valueHint: "URL" },
    local: { type: "positional", required: false, description: "Local file or directory (default: the remote name); - for standard output", valueHint: "LOCAL" },
    recursive: { type: "boolean", alias: "r", description: "Download a directory tree (its contents go into LOCAL, default ./NAME)" },
    segments: { type: "string", description: "Download one big file over N connections, each its own byte range (REST+RETR), then verify it whole", valueHint: "N" },
    ...clientArgs,
    ...treeArgs,
    restart: { type: "boolean", description: "Discard a pending interrupted transfer and start over" },
  },
  async run({ args, rawArgs, cmd }) {
    checkArgs(rawArgs, cmd.args, args._);
    refuseUrlAsLocal(args.local, "LOCAL", "get downloads to a local path");
    const segments = args.segments === undefined ? 1 : wholeNumber(args.segments, "segments", 1, 32);
    const opts = { ...clientOptions(args), segments };
    // %5C is the escape `\` spelled in a URL: `st%5C*r.txt` names st*r.txt, as `st\*r.txt` does (and a
    // wildcard spelled %2A is a literal one).
    const urlArg = urlGlobSegment(args.url);
    const last = urlArg.replace(/\/+$/, "").split("/").pop() ?? "";
    const tree = args.recursive === true || hasGlob(last);
    // A tree job moves many files over --parallel connections: it has no one file to split.
    if (tree && args.segments !== undefined) throw new CliError("--segments splits one file over several connections; a tree or a glob moves many files (--parallel sets its connections)");
    // One file: an escaped wildcard (`\[ab\].txt`) is part of its name.
    const url = tree ? urlArg : urlArg.replace(/[^/]*$/, unescapeGlob);
    if (args.local === STDIO) {
      const { checkStdioArgs } = await import("../single-file.ts");
      const { getToStream } = await import("../../client/stdio-transfer.ts");
      checkStdioArgs(args, rawArgs, "standard output", tree);
      await getToStream(url, opts);
      return;
    }
    if (tree) {
      const { runTreeJob } = await import("../../client/tree-job.ts");
      const spec = { mode: "copy", recursive: args.recursive === true, ...treeSpec(args, rawArgs) } as const;
      refuseClosedStdout(["get", ...rawArgs], () => parseUrlArg(urlArg));
      await runTreeJob({ direction: "get", url: urlArg, local: args.local, spec, dryRun: args["dry-run"] === true, json: args.json === true }, opts);
      return;
    }
    const { checkSingleFileArgs, quietForJson, runSingleFile } = await import("../single-file.ts");
    checkSingleFileArgs(args, rawArgs);
    refuseClosedStdout(["get", ...rawArgs], () => parseUrlArg(url));
    // A device, FIFO or socket (or a link to one) is written into, as curl and cp do: renaming a
    // part file over it replaced it (as root, `get URL /dev/null` broke /dev/null for everyone).
    if (args.local !== undefined && isStream(args.local)) {
      if (segments > 1) throw new CliError(`--segments writes a file at several places at once; ${args.local} takes bytes in order`);
      // Not openSync: a FIFO without a reader would hold the event loop, and with it Ctrl-C (stream-target.ts).
      const quiet = opts.quiet || args.json === true;
      const { openStreamTarget } = await import("../stream-target.ts");
      const { consola } = await import("../../client/messages.ts");
      const { getToStream } = await import("../../client/stdio-transfer.ts");
      const target = await openStreamTarget(args.local, () => quiet || consola().info(`${args.local}: waiting for a reader (a FIFO)`));
      try {
        await runSingleFile(args.json, "get", url, args.local, () => getToStream(url, quietForJson(opts, args.json), { fd: target.fd, name: args.local! }));
      } finally {
        await target.close();
      }
      return;
    }
    const { getFile } = await import("../../client/operations.ts");
    await runSingleFile(args.json, "get", url, args.local, () => getFile(url, args.local, quietForJson(opts, args.json)));
  },
});

/** An existing local path that is neither a regular file nor a directory (following links). */
function isStream(path: string): boolean {
  try {
    const st = statSync(path);
    return !st.isFile() && !st.isDirectory();
  } catch {
    return false;
  }
}
