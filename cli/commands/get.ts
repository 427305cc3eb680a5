// ftpkit get URL [LOCAL]: download one file, verified, resumable.
import { defineCommand } from "citty";
import { clientArgs, clientOptions } from "../args.ts";
import { getFile } from "../../client/operations.ts";

export default defineCommand({
  meta: { name: "get", description: "Download a file (ftp://user[:password]@host[:port]/path)" },
  args: {
    url: { type: "positional", required: true, description: "ftp://[user[:password]@]host[:port]/path, or ftps:// (implicit TLS)", valueHint: "URL" },
    local: { type: "positional", required: false, description: "Local file or directory (default: the remote name)", valueHint: "LOCAL" },
    ...clientArgs,
    restart: { type: "boolean", description: "Discard a pending interrupted transfer and start over" },
  },
  async run({ args }) {
    await getFile(args.url, args.local, clientOptions(args));
  },
});
