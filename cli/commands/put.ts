// ftpkit put LOCAL URL: upload one file, a glob ('*.csv' in the last segment) or, with -r, a tree; verified, resumable.
import { existsSync } from "node:fs";
import { defineCommand } from "citty";
import { checkArgs, clientArgs, clientOptions, treeArgs, treeSpec } from "../args.ts";
import { checkSingleFileArgs, checkStdioArgs, quietForJson, runSingleFile } from "../single-file.ts";
import { putFromStdin, STDIO } from "../../client/stdio-transfer.ts";
import { putFile } from "../../client/operations.ts";
import { hasGlob } from "../../protocol/glob.ts";

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
    const opts = clientOptions(args);
    const last = args.local.replace(/\/+$/, "").split("/").pop() ?? "";
    const tree = args.recursive === true || (hasGlob(last) && !existsSync(args.local));
    if (args.local === STDIO) {
      checkStdioArgs(args, rawArgs, "standard input", tree);
      await runSingleFile(args.json, "put", args.url, STDIO, () => putFromStdin(args.url, quietForJson(opts, args.json)));
      return;
    }
    if (tree) {
      const { runTreeJob } = await import("../../client/tree-job.ts");
      await runTreeJob({ direction: "put", url: args.url, local: args.local, spec: { mode: "copy", recursive: args.recursive === true, ...treeSpec(args, rawArgs) }, dryRun: args["dry-run"] === true, json: args.json === true }, opts);
      return;
    }
    checkSingleFileArgs(args, rawArgs);
    await runSingleFile(args.json, "put", args.url, args.local, () => putFile(args.local, args.url, quietForJson(opts, args.json)));
  },
});
