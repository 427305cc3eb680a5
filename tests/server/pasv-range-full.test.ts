// A --pasv-ports range with every port in use: the client's 425 was the only trace, and an admin
// could not tell that the range is too small for the transfers at once. One WARN says so, then at
// most one a minute (a busy server refuses many).
import { expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { freePort, tempDir, waitFor } from "../helpers/peers.ts";
import { cleanedAfterEach, spawnServe } from "../helpers/serve-proc.ts";
import { Wire } from "../helpers/wire.ts";

const t = cleanedAfterEach();

test("a passive range with no free port: 425 to the client, and one WARN in the log naming the range, not one per refusal", async () => {
  t.dir = tempDir("ftpkit-pasv-full-");
  const root = join(t.dir, "root");
  mkdirSync(root);
  const port = freePort();
  t.srv = await spawnServe(["--root", root, "--user", "u:pw", "--pasv-ports", `${port}-${port}`], { cwd: t.dir });
  const holder = await Wire.connect(t.srv.port);
  const other = await Wire.connect(t.srv.port);
  t.wires.push(holder, other);
  expect((await holder.login("u", "pw")).code).toBe(230);
  expect((await other.login("u", "pw")).code).toBe(230);
  expect((await holder.cmd("EPSV")).code).toBe(229); // the range's only port, held
  for (let i = 0; i < 3; i++) expect(await other.cmd("EPSV")).toEqual({ code: 425, lines: ["Can't open passive connection: no free port in the passive range"] });
  await waitFor(() => t.srv!.stdout().includes("passive port range full"), 5000, "the WARN");
  // The session goes on: NOOP after the refusals, and only the one line for the three.
  expect((await other.cmd("NOOP")).code).toBe(200);
  const lines = t.srv.stdout().split("\n").filter((l) => l.includes("passive port range full"));
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`WARN .*range=${port}-${port}`));
}, 30_000);
