// ftpkit put LOCAL URL: upload one file, verified, resumable.
import { defineCommand } from "citty";
import { clientArgs, clientOptions } from "../args.ts";
import { putFile } from "../../client/operations.ts";

export default defineCommand({
  meta: { name: "put", description: "Upload a file (a URL ending in / keeps the local name)" },
  args: {
    local: { type: "positional", required: true, description: "Local file", valueHint: "LOCAL" },
    url: { type: "positional", required: true, description: "ftp://[user[:password]@]host[:port]/path, or ftps:// (implicit TLS)", valueHint: "URL" },
    ...clientArgs,
    restart: { type: "boolean", description: "Discard a pending interrupted transfer and start over" },
  },
  async run({ args }) {
    await putFile(args.local, args.url, clientOptions(args));
  },
});
