#!/usr/bin/env bun
// The `ftpkit` command. Its first step is cheap on purpose: the commands that move file data re-execute
// themselves with the allocator tuned for it (cli/allocator.ts) before anything else is loaded, so the
// second start costs ~20 ms rather than the ~90 ms it cost after loading the CLI.
import { reexecWithAllocatorTuning } from "./allocator.ts";

if (["get", "put", "sync", "resume"].includes(process.argv[2] ?? "")) reexecWithAllocatorTuning();
await import("./main.ts");
