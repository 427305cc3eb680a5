// FTPS reply codes (RFC 4217) and TLS policy: FEAT, AUTH/PBSZ/PROT/CCC ordering, --require-tls, per-user require_tls.
import { afterEach, describe, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { Wire } from "../helpers/wire.ts";
import type { UserSpec } from "../helpers/users.ts";
import { TLS_REFUSALS, type FtpsOptions } from "../../server/tls/ftps.ts";
import { ftplib, tempDir, tlsOptions } from "./helpers.ts";

let srv: TestServer | null = null;
let work: string | null = null;
const wires: Wire[] = [];

afterEach(async () => {
  for (const w of wires.splice(0)) w.close();
  await srv?.stop();
  srv = null;
  if (work) rmSync(work, { recursive: true, force: true });
  work = null;
});

async function start(tls: Partial<FtpsOptions> | null, users?: (root: string) => UserSpec[]) {
  srv = await startTestServer({
    options: tls ? { tls: tlsOptions(tls) } : {},
    setup: () => {},
  });
  if (users) {
    // Rewrite the users file with the wanted accounts (the server reloads it at the next login).
    const { makeUsersFile } = await import("../helpers/users.ts");
    await makeUsersFile(srv.root, users(srv.root));
    await srv.server.context.auth.start();
  }
  work ??= tempDir();
  return srv;
}

async function wire(port: number): Promise<Wire> {
  const w = await Wire.connect(port);
  wires.push(w);
  expect((await w.read())?.code).toBe(220);
  return w;
}

const codeOf = (reply: string) => Number(/^(\d{3})/.exec(reply)?.[1] ?? 0);

describe("FEAT and commands", () => {
  test("FEAT lists AUTH TLS, PBSZ and PROT only when TLS is configured", async () => {
    const s = await start({});
    const w = await wire(s.port);
    const feat = await w.cmd("FEAT");
    const lines = feat.lines.map((l) => l.trim());
    expect(lines).toContain("AUTH TLS");
    expect(lines).toContain("PBSZ");
    expect(lines).toContain("PROT");
    await s.stop();
    srv = null;
    const plain = await start(null);
    const w2 = await wire(plain.port);
    const feat2 = await w2.cmd("FEAT");
    expect(feat2.lines.some((l) => /AUTH|PBSZ|PROT/.test(l))).toBe(false);
    expect((await w2.cmd("AUTH TLS")).code).toBe(500);
  });

  test("in the clear: PBSZ and PROT need AUTH first (503), CCC 533, unknown AUTH mechanisms 504", async () => {
    const s = await start({});
    const w = await wire(s.port);
    expect((await w.cmd("PBSZ 0")).code).toBe(503);
    expect((await w.cmd("PROT P")).code).toBe(503);
    expect((await w.cmd("CCC")).code).toBe(533);
    expect((await w.cmd("AUTH KERBEROS_V4")).code).toBe(504);
  });

  test("inside TLS: PROT before PBSZ 503, PBSZ 200, PROT S 536, PROT Q 504, PROT C/P 200, CCC 534, a second AUTH 503", async () => {
    const s = await start({});
    const steps = await ftplib(work!, s.port, "alice", "alice-pw", "C", [
      "CMD PROT P", "CMD PBSZ 0", "CMD PROT S", "CMD PROT Q", "CMD PROT C", "CMD PROT P", "CMD CCC", "CMD AUTH TLS",
    ]);
    expect(steps[0]).toMatchObject({ step: "login", ok: true });
    expect(steps.slice(1).map((x) => codeOf(x.reply))).toEqual([503, 200, 536, 504, 200, 200, 534, 503]);
  });
});

describe("--require-tls", () => {
  test("a plain USER is refused with 530 before any password is sent", async () => {
    const s = await start({ requireTls: true });
    const w = await wire(s.port);
    const r = await w.cmd("USER alice");
    expect(r.code).toBe(530);
    expect(r.lines.join(" ")).toContain(TLS_REFUSALS.login);
    expect((await w.cmd("USER anonymous")).code).toBe(530);
    expect((await w.cmd("PASS alice-pw")).code).toBe(503); // no USER was accepted
  });

  test("over TLS: PROT C is refused with 521 and so is a transfer without PROT P; PROT P transfers work", async () => {
    const s = await start({ requireTls: true });
    const cleared = await ftplib(work!, s.port, "alice", "alice-pw", "C", ["CMD PBSZ 0", "CMD PROT C", "RETR a.txt x.bin"]);
    expect(cleared[0]!.ok).toBe(true);
    expect(cleared.slice(1).map((x) => codeOf(x.reply))).toEqual([200, 521, 521]);
    const secured = await ftplib(work!, s.port, "alice", "alice-pw", "P", ["CMD PROT C", "CMD NOOP"]);
    expect(secured.map((x) => x.ok)).toEqual([true, true, false, true]);
  });
});

describe("per-user require_tls", () => {
  const users = (root: string): UserSpec[] => [
    { name: "anonymous", home: join(root, "home/anon") },
    { name: "alice", password: "alice-pw", home: join(root, "home/alice"), requireTls: true },
    { name: "bob", password: "bob-pw", home: join(root, "home/bob") },
  ];

  test("anonymous logs in and lists in clear; alice is refused at USER with the same 530 as an unknown name", async () => {
    const s = await start({}, users);
    const anon = await wire(s.port);
    expect((await anon.cmd("USER anonymous")).code).toBe(331);
    expect((await anon.cmd("PASS me@example.com")).code).toBe(230);
    const list = await anon.transfer("LIST");
    expect(list.first.code).toBe(150);
    expect(list.final?.code).toBe(226);

    const texts: string[] = [];
    for (const name of ["alice", "no-such-user", "bob"]) {
      const w = await wire(s.port);
      const r = await w.cmd(`USER ${name}`);
      expect(r.code).toBe(530);
      texts.push(r.lines.join(" "));
    }
    // Refusing only the accounts that exist would tell a scanner which ones do.
    expect(new Set(texts).size).toBe(1);
  });

  test("alice over TLS with PROT P: STOR and RETR work; PROT C is refused with 521", async () => {
    const s = await start({}, users);
    const { writeFileSync, readFileSync } = await import("node:fs");
    writeFileSync(join(work!, "up.bin"), "hello over tls\n");
    const ok = await ftplib(work!, s.port, "alice", "alice-pw", "P", ["STOR t.txt up.bin", "RETR t.txt down.bin", "CMD PROT C"]);
    expect(ok.map((x) => x.ok)).toEqual([true, true, true, true, false]);
    expect(codeOf(ok[4]!.reply)).toBe(521);
    expect(readFileSync(join(work!, "down.bin"), "utf8")).toBe("hello over tls\n");
  });

  test("without any require_tls account, named users log in in clear as before", async () => {
    const s = await start({}, (root) => [{ name: "bob", password: "bob-pw", home: join(root, "home/bob") }]);
    const w = await wire(s.port);
    expect((await w.cmd("USER bob")).code).toBe(331);
    expect((await w.cmd("PASS bob-pw")).code).toBe(230);
  });
});

describe("require_tls edited in the users file", () => {
  const withTls = (root: string): UserSpec[] => [
    { name: "alice", password: "alice-pw", home: join(root, "home/alice"), requireTls: true },
    { name: "bob", password: "bob-pw", home: join(root, "home/bob") },
  ];
  const withoutTls = (root: string): UserSpec[] => withTls(root).map((u) => ({ ...u, requireTls: false }));

  /** USER on fresh connections (no PASS ever sent) until its code is `want`; the codes seen, bounded. */
  async function userUntil(port: number, name: string, want: number, withinMs = 3000): Promise<number[]> {
    const seen: number[] = [];
    const deadline = performance.now() + withinMs;
    while (performance.now() < deadline) {
      const w = await wire(port);
      const code = (await w.cmd(`USER ${name}`)).code;
      w.close();
      seen.push(code);
      if (code === want) break;
      await Bun.sleep(50);
    }
    return seen;
  }

  test("turned off, it applies to the next USER without any login reloading the file", async () => {
    const s = await start({}, withTls);
    expect((await (await wire(s.port)).cmd("USER bob")).code).toBe(530);
    const { makeUsersFile } = await import("../helpers/users.ts");
    await makeUsersFile(s.root, withoutTls(s.root));
    // The file watcher or the once-a-second stat picks the edit up: no PASS, no SIGHUP.
    const seen = await userUntil(s.port, "bob", 331);
    expect(seen.at(-1)).toBe(331);
    const w = await wire(s.port);
    expect((await w.cmd("USER alice")).code).toBe(331);
    expect((await w.cmd("PASS alice-pw")).code).toBe(230);
  });

  test("turned on, the next USER in the clear is refused, and so is a PASS already under way", async () => {
    const s = await start({}, withoutTls);
    const early = await wire(s.port);
    expect((await early.cmd("USER alice")).code).toBe(331);
    const { makeUsersFile } = await import("../helpers/users.ts");
    await makeUsersFile(s.root, withTls(s.root));
    const seen = await userUntil(s.port, "bob", 530);
    expect(seen.at(-1)).toBe(530);
    // USER was accepted before the edit: its PASS sees the file as it is now.
    expect((await early.cmd("PASS alice-pw")).code).toBe(530);
  });
});
