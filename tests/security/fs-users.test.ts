// Which server modules may touch the filesystem, as server/storage/local-jail.ts's header says.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "../helpers/peers.ts";

const SERVER = join(REPO, "server");
const modules = [...new Bun.Glob("**/*.ts").scanSync(SERVER)].sort();
const importing = (spec: RegExp) => modules.filter((m) => spec.test(readFileSync(join(SERVER, m), "utf8")));

test("bun:ffi is imported by storage/local-jail.ts alone, and local-jail.ts's header names every other node:fs user of the server", () => {
  expect(importing(/from "bun:ffi"/)).toEqual(["storage/local-jail.ts"]);
  const source = readFileSync(join(SERVER, "storage/local-jail.ts"), "utf8");
  const header = source.slice(0, source.indexOf("\nimport ")).replace(/tests\/\S+/g, ""); // its own mention of this test
  const named = [...header.matchAll(/\b([a-z-]+\/)?[a-z-]+\.ts\b/g)].map((m) => m[0]);
  const others = importing(/from "node:fs(\/promises)?"/).filter((m) => !/^storage\/local[^/]*\.ts$/.test(m));
  expect(others.length).toBeGreaterThan(0);
  expect(named.sort()).toEqual(others);
});
