#!/usr/bin/env bun
// The `ftpkit` command. Its first step is cheap on purpose: the commands that move file data re-execute
// themselves with runtime settings tuned for them (cli/tuning.ts) before anything else is loaded, so
// the second start costs ~20 ms rather than the ~90 ms it cost after loading the CLI. (`serve` does
// so once its flags are checked.)
import { clientWantsTuning, CLIENT_TUNING, reexecTuned } from "./tuning.ts";
import { hideSecretsFromPs } from "./hide-secrets.ts";

hideSecretsFromPs(); // in each image: a re-execution gets the arguments again from process.argv

if (clientWantsTuning(process.argv.slice(2))) reexecTuned(CLIENT_TUNING);
await import("./main.ts");
