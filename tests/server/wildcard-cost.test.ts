// NLST/LIST wildcards: what one listing's matching may cost the server, on the wire.
import { expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { useServers } from "../helpers/server.ts";

const servers = useServers();

test("a wildcard too costly for its directory ends with 451 early; simple patterns there list every match", async () => {
  await servers.start();
  const dir = join(servers.server.home("alice"), "long");
  mkdirSync(dir);
  // 250-character names: `*` + 127 a's + `b*` searches ~120 places of each, 128 steps a place.
  for (let i = 0; i < 300; i++) writeFileSync(join(dir, "a".repeat(244) + String(i).padStart(6, "0")), "");
  const w = await servers.login();
  const costly = await w.transfer(`NLST long/*${"a".repeat(127)}b*`);
  const code = costly.final?.code ?? costly.first.code;
  expect({ code, text: (costly.final ?? costly.first).lines[0] }).toEqual({ code: 451, text: "The wildcard takes too long to match in this directory; use a simpler pattern" });
  expect((await w.cmd("NOOP")).code).toBe(200);
  const simple = await w.transfer("NLST long/*0001*");
  expect(simple.final?.code).toBe(226);
  expect(simple.data.toString("utf8").split("\r\n").filter(Boolean).length).toBe(111); // 000001, 000010–000019, 000100–000199
  expect((await w.transfer(`NLST long/*${"a".repeat(120)}00029?`)).data.toString("utf8").split("\r\n").filter(Boolean).length).toBe(10);
}, 30_000);

test("STAT of a wildcard that grows too costly after its first match ends its 213 reply as a 213, saying why it was cut short; NLST ends with 451 after the 150", async () => {
  await servers.start();
  const dir = join(servers.server.home("alice"), "long");
  mkdirSync(dir);
  // The first batch of 2,048 names (local-walk.ts LIST_BLOCK): 2,000 short ones (refused at once),
  // the match "0a…ab" and 47 costly ones; the costly ones of the next batch spend the budget.
  for (let i = 0; i < 2000; i++) writeFileSync(join(dir, `0-${String(i).padStart(4, "0")}`), "");
  writeFileSync(join(dir, `0${"a".repeat(127)}b`), "");
  for (let i = 0; i < 300; i++) writeFileSync(join(dir, "a".repeat(244) + String(i).padStart(6, "0")), "");
  const w = await servers.login();
  const st = await w.cmd(`STAT long/*${"a".repeat(127)}b*`);
  expect(st.code).toBe(213);
  expect(st.lines.some((l) => l.includes(`0${"a".repeat(127)}b`))).toBe(true);
  expect(st.lines.at(-1)).toBe("End of status, cut short: The wildcard takes too long to match in this directory; use a simpler pattern");
  expect((await w.cmd("NOOP")).code).toBe(200);
  const nlst = await w.transfer(`NLST long/*${"a".repeat(127)}b*`); // the same, over a data connection
  expect([nlst.first.code, nlst.final?.code, nlst.data.toString("utf8")]).toEqual([150, 451, `long/0${"a".repeat(127)}b\r\n`]);
}, 30_000);
