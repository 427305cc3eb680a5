// `ftpkit serve --demo`: a ready-to-try server on 127.0.0.1 with known logins, built from fixtures/homes.
import { cpSync, existsSync, mkdirSync } from "node:fs";
import { join, relative, resolve, sep } from "node:path";
import { saveUsers } from "../server/auth/ini-save.ts";
import { hashPassword } from "../server/auth/ini-store.ts";
import type { UserRecord } from "../server/auth/types.ts";
import { CliError } from "./args.ts";
import { localCause } from "../client/errors.ts";

export const DEMO_USER = "demo";
export const DEMO_PASSWORD = "demo";

/**
 * Create (once) `DIR/users.ini` and `DIR/home/…` from the fixture homes: user demo/demo with full
 * rights and a read-only /pub mount, plus anonymous (read-only, with an upload-only /incoming drop box).
 * An existing demo directory is reused as it is, so uploads survive restarts.
 */
export async function prepareDemo(dir: string): Promise<string> {
  const root = resolve(dir);
  const usersFile = join(root, "users.ini");
  if (existsSync(usersFile)) return usersFile;
  const fixtures = join(import.meta.dir, "../fixtures/homes");
  // The executable `bun run build` makes carries no fixtures: say so before anything is created
  // (it printed "ENOENT: …, lstat '/$bunfs/fixtures/homes/alice'" and left an empty ./ftpkit-demo).
  if (!existsSync(join(fixtures, "alice"))) {
    throw new CliError("--demo needs the demo files (fixtures/homes) of a checkout or of the installed package, and this ftpkit has none: serve a directory instead (--root DIR --user NAME:PASS)");
  }
  // In a directory the user cannot write, Node's "EROFS: read-only file system, mkdir '…'" was the line.
  const cannotCreate = (err: unknown) => new CliError(`cannot create the demo in ${root}: ${localCause(err)}`);
  try {
    mkdirSync(join(root, "home"), { recursive: true });
    cpSync(join(fixtures, "alice"), join(root, "home/demo"), { recursive: true });
    cpSync(join(fixtures, "pub"), join(root, "home/pub"), { recursive: true });
    cpSync(join(fixtures, "anon"), join(root, "home/anonymous"), { recursive: true });
    mkdirSync(join(root, "home/incoming"), { recursive: true });
  } catch (err) {
    throw cannotCreate(err);
  }
  const users: UserRecord[] = [
    {
      name: DEMO_USER,
      hash: await hashPassword(DEMO_PASSWORD),
      home: join(root, "home/demo"),
      quota: 100 * 1024 * 1024,
      perms: ["read", "write", "modify"],
      mounts: [{ vpath: "/pub", dir: join(root, "home/pub"), perms: ["read"], quota: 0 }],
      requireTls: false,
    },
    {
      name: "anonymous",
      home: join(root, "home/anonymous"),
      quota: 0,
      perms: ["read"],
      mounts: [{ vpath: "/incoming", dir: join(root, "home/incoming"), perms: ["write"], quota: 10 * 1024 * 1024 }],
      requireTls: false,
    },
  ];
  await saveUsers(usersFile, users).catch((err: unknown) => {
    throw typeof (err as { code?: unknown })?.code === "string" ? cannotCreate(err) : err;
  });
  return usersFile;
}

/**
 * How to run this ftpkit from `cwd`, as the demo's box shows it: `bun cli/ftpkit.ts` in a checkout,
 * `bunx ftpkit` where it is an installed package (where `bun cli/ftpkit.ts` names nothing).
 */
export function ftpkitCommand(cwd: string = process.cwd()): string {
  const entry = join(import.meta.dir, "ftpkit.ts");
  if (entry.split(sep).includes("node_modules")) return "bunx ftpkit";
  const near = relative(cwd, entry);
  return `bun ${near.startsWith("..") ? entry : near}`;
}

/** The box `serve --demo` shows once it listens: how to log in, at the host and port it listens on. */
export function demoBanner(host: string, port: number): string {
  const url = `ftp://${DEMO_USER}:${DEMO_PASSWORD}@${host}:${port}/`;
  const ftpkit = ftpkitCommand();
  return [
    `ftpkit demo — log in as ${DEMO_USER} / ${DEMO_PASSWORD} (or anonymous, any password)`,
    "",
    `  curl ${url}`,
    `  ${ftpkit} ls ${url}`,
    `  ${ftpkit} get ${url}hello.txt`,
    "",
    `Files live in ./ftpkit-demo (users.ini and home/). Ctrl-C stops the server.`,
  ].join("\n");
}
