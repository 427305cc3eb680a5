#!/usr/bin/env bun
// The `ftpkit` command. Its first step is cheap on purpose: the commands that move file data re-execute
// themselves with runtime settings tuned for them (cli/tuning.ts) before anything else is loaded, so
// the second start costs ~20 ms rather than the ~90 ms it cost after loading the CLI. (`serve` does
// so once its flags are checked.)
// First: the arguments' bytes, before hideSecretsFromPs rewrites them (raw-args.ts).
import "./raw-args.ts";
// Second: a word for Ctrl-C or SIGTERM before the job's own handler is there (early-interrupt.ts).
import "./early-interrupt.ts";
// Third: serve's SIGHUP, SIGTERM and SIGINT held until the server has its handlers (early-serve-signals.ts).
import "./early-serve-signals.ts";
import { alreadyTuned, clientWantsTuning, CLIENT_TUNING, reexecTuned } from "./tuning.ts";
import { stdoutClosedAtStartAsync } from "../client/closed-stdout.ts";
import { hideSecretsFromPs } from "./hide-secrets.ts";

await hideSecretsFromPs(); // in each image: a re-execution gets the arguments again from process.argv

// no-color.org: NO_COLOR present and not empty turns colour off; empty is no request. consola read
// an empty one as set (its messages lost their colour while --help kept it): it is unset, before
// consola reads the environment at its import.
if (process.env.NO_COLOR === "") delete process.env.NO_COLOR;

// The first image loads no node:fs (~1.5 ms): it reads /proc with Bun.file.
if (clientWantsTuning(process.argv.slice(2)) && !alreadyTuned()) reexecTuned(CLIENT_TUNING, await stdoutClosedAtStartAsync());
await import("./main.ts");
