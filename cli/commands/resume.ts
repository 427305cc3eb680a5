// ftpkit resume [LOCAL]: continue interrupted transfers recorded in ./.ftpkit/transfers.
import { defineCommand } from "citty";
import { checkArgs, clientArgs, clientOptions } from "../args.ts";
import { resumeTransfers } from "../../client/operations.ts";

export default defineCommand({
  meta: {
    name: "resume",
    description: "Continue interrupted transfers (all recorded in this directory, or the one for LOCAL); a transfer begun over TLS resumes over TLS",
  },
  args: {
    local: { type: "positional", required: false, description: "The local file of the transfer to continue", valueHint: "LOCAL" },
    ...clientArgs,
  },
  async run({ args, rawArgs, cmd }) {
    checkArgs(rawArgs, cmd.args, args._);
    await resumeTransfers(args.local, clientOptions(args));
  },
});
