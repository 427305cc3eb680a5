// Names that begin or end with a space, in the arguments of LIST, NLST and STAT (ls-style options in
// front or not): the path is what follows one space, kept whole, as vsftpd keeps it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { Wire } from "../helpers/wire.ts";

let srv: TestServer;

beforeAll(async () => {
  srv = await startTestServer({
    setup: (root) => {
      const d = join(root, "home", "alice", "spaced");
      mkdirSync(join(d, "tr dir "), { recursive: true });
      writeFileSync(join(d, " lead.txt"), "lead\n");
      writeFileSync(join(d, "trail.txt "), "trail\n");
      writeFileSync(join(d, "lead.txt"), "not this one\n");
      writeFileSync(join(d, "tr dir ", "in.txt"), "in\n");
      writeFileSync(join(d, "-x"), "dash\n");
    },
  });
});

afterAll(async () => {
  await srv.stop();
});

async function alice(): Promise<Wire> {
  const w = await Wire.connect(srv.port);
  await w.login("alice", "alice-pw");
  expect((await w.cmd("CWD /spaced")).code).toBe(250);
  return w;
}

/** The lines of a listing's data connection, or the refusal's code. */
async function listing(w: Wire, line: string): Promise<string[] | number> {
  const r = await w.transfer(line);
  if (r.first.code >= 400) return r.first.code;
  return r.data.toString().split("\r\n").filter(Boolean);
}

describe("LIST, NLST and STAT of a name with a leading or trailing space", () => {
  // Before: each of these was 550 "No such file or directory" (the argument trimmed), or named lead.txt.
  const cases: [string, (lines: string[]) => void][] = [
    ["NLST  lead.txt", (l) => expect(l).toEqual([" lead.txt"])],
    ["NLST trail.txt ", (l) => expect(l).toEqual(["trail.txt "])],
    ["LIST  lead.txt", (l) => expect(l).toEqual([expect.stringMatching(/ 5 .*  lead\.txt$/)])],
    ["LIST trail.txt ", (l) => expect(l[0]!.endsWith(" trail.txt ")).toBe(true)],
    ["LIST tr dir ", (l) => expect(l.map((x) => x.split(" ").at(-1))).toEqual(["in.txt"])],
    ["LIST -la tr dir ", (l) => expect(l.some((x) => x.endsWith(" in.txt"))).toBe(true)],
    ["NLST tr dir ", (l) => expect(l).toEqual(["tr dir /in.txt"])],
    // "--" ends the options (vsftpd and ProFTPD list these; they were 550).
    ["LIST --", (l) => expect(l.some((x) => x.endsWith(" lead.txt"))).toBe(true)],
    ["LIST -- -x", (l) => expect(l).toEqual([expect.stringMatching(/ 5 .* -x$/)])],
    ["LIST -la -- lead.txt", (l) => expect(l).toEqual([expect.stringMatching(/ 13 .* lead\.txt$/)])],
    // Digits and long options are options too (`ncftpls -1` sends NLST -1; both were 550).
    ["NLST -1", (l) => expect(l).toEqual(expect.arrayContaining([" lead.txt", "trail.txt "]))],
    ["LIST -la1 tr dir ", (l) => expect(l.some((x) => x.endsWith(" in.txt"))).toBe(true)],
    ["LIST --full-time tr dir ", (l) => expect(l.some((x) => x.endsWith(" in.txt"))).toBe(true)],
  ];
  for (const [line, check] of cases) {
    test(`${JSON.stringify(line)} lists what it names`, async () => {
      const w = await alice();
      const got = await listing(w, line);
      expect(typeof got).not.toBe("number");
      check(got as string[]);
      w.close();
    });
  }

  test("LIST  lead.txt shows the 5-byte file, not lead.txt; STAT of both spaced names answers 213", async () => {
    const w = await alice();
    const got = (await listing(w, "LIST  lead.txt")) as string[];
    expect(got[0]).toMatch(/ 5 .* lead\.txt$/);
    const lead = await w.cmd("STAT  lead.txt");
    expect(lead.code).toBe(213);
    expect(lead.lines.join("\n")).toMatch(/  lead\.txt$/m);
    const trail = await w.cmd("STAT trail.txt ");
    expect(trail.code).toBe(213);
    expect(trail.lines.join("\n")).toContain(" trail.txt ");
    w.close();
  });

  test("an argument of only spaces, or options then spaces, still lists the current directory", async () => {
    const w = await alice();
    for (const line of ["LIST  ", "LIST -la  ", "NLST   "]) {
      const got = await listing(w, line);
      expect(Array.isArray(got) && got.some((x) => x.endsWith("trail.txt "))).toBe(true);
    }
    w.close();
  });
});
