#!/usr/bin/env bun
// ftpkit: the FTP server (`serve`), its user administration (`user …`) and its client (`get`, `put`, `resume`, `ls`).
import { defineCommand, runMain } from "citty";
import pkg from "../package.json" with { type: "json" };

const main = defineCommand({
  meta: { name: "ftpkit", version: pkg.version, description: "FTP server, user administration and client" },
  // Lazy imports: `ftpkit get` never loads the server and vice versa.
  subCommands: {
    serve: () => import("./commands/serve.ts").then((m) => m.default),
    user: () => import("./commands/user/index.ts").then((m) => m.default),
    get: () => import("./commands/get.ts").then((m) => m.default),
    put: () => import("./commands/put.ts").then((m) => m.default),
    resume: () => import("./commands/resume.ts").then((m) => m.default),
    ls: () => import("./commands/ls.ts").then((m) => m.default),
    cert: () => import("./commands/cert.ts").then((m) => m.default),
  },
});

runMain(main);
