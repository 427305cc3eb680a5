// ftpkit sync SRC DST: make DST like SRC (one a URL, the other a local directory), verified.
import { defineCommand } from "citty";
import { clientArgs, clientOptions, CliError, refuseUrlAsLocal, treeArgs, treeSpec } from "../args.ts";
import { checkArgs } from "../args-check.ts";
import { runTreeJob } from "../../client/tree-job.ts";
import { parseUrlArg } from "../../client/options.ts";
import { refuseClosedStdout } from "../stdout-job.ts";

const isUrl = (s: string) => /^ftps?:\/\//i.test(s);

export default defineCommand({
  meta: { name: "sync", description: "Copy new and changed files from SRC to DST (a URL and a local directory, either way); --delete removes what SRC no longer has" },
  args: {
    src: { type: "positional", required: true, description: "Source: a local directory or an ftp:// URL", valueHint: "SRC" },
    dst: { type: "positional", required: true, description: "Destination: an ftp:// URL or a local directory", valueHint: "DST" },
    ...clientArgs,
    ...treeArgs,
    delete: { type: "boolean", description: "Delete files and directories DST has and SRC does not (excluded paths are kept)" },
    checksum: { type: "boolean", description: "Changed = the digests differ (HASH), not size or modification time; falls back (and says so) when the server has no HASH" },
    restart: { type: "boolean", description: "Discard a pending interrupted sync and start over" },
  },
  async run({ args, rawArgs, cmd }) {
    checkArgs(rawArgs, cmd.args, args._);
    const [src, dst] = [args.src, args.dst];
    if (isUrl(src) === isUrl(dst)) throw new CliError("sync needs one ftp:// URL and one local directory");
    const direction = isUrl(src) ? "get" : "put";
    // As for get -r and put -r: "-" is standard output or input, never a directory of that name
    // (sync made one and mirrored into it, or took "-" for a missing directory).
    if ((direction === "get" ? dst : src) === "-") {
      const [where, what] = direction === "get" ? ["standard output", "sync mirrors into a local directory"] : ["standard input", "sync mirrors a local directory"];
      throw new CliError(`"-" (${where}) carries one file; ${what} (one named - is ./-)`);
    }
    if (direction === "get") refuseUrlAsLocal(dst, "DST", "sync mirrors into a local directory");
    else refuseUrlAsLocal(src, "SRC", "sync mirrors a local directory");
    const spec = { mode: "sync", recursive: true, delete: args.delete === true, checksum: args.checksum === true, ...treeSpec(args, rawArgs) } as const;
    refuseClosedStdout(["sync", ...rawArgs], () => parseUrlArg(direction === "get" ? src : dst));
    await runTreeJob(
      {
        direction,
        url: direction === "get" ? src : dst,
        local: direction === "get" ? dst : src,
        spec,
        dryRun: args["dry-run"] === true,
        json: args.json === true,
      },
      clientOptions(args),
    );
  },
});
