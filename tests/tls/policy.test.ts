// FTPS reply codes (RFC 4217) and TLS policy: FEAT, AUTH/PBSZ/PROT/CCC ordering, --require-tls, per-user require_tls.
import { afterEach, describe, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { Wire } from "../helpers/wire.ts";
import type { UserSpec } from "../helpers/users.ts";
import { TLS_REFUSALS, type FtpsOptions } from "../../server/tls/ftps.ts";
import { ftplib, tempDir, tlsOptions } from "./helpers.ts";
import { waitFor } from "../helpers/peers.ts";

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

  test("curl --ftp-ssl-control (AUTH SSL, then PROT C, refused) gets its RETR refused 521 at once, not a 150 and a wait for TLS", async () => {
    const s = await start({ requireTls: true });
    writeFileSync(join(s.home("alice"), "a.txt"), "hello\n");
    const started = performance.now();
    const p = Bun.spawn(["curl", "-sS", "-v", "--ftp-ssl-control", "-k", "--max-time", "20", `ftp://alice:alice-pw@127.0.0.1:${s.port}/a.txt`], { stdout: "pipe", stderr: "pipe" });
    const [err, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
    // Before: RETR got 150, the server waited 30 s for a TLS handshake curl never began (curl: 28 here, 56 after the server's timeout).
    expect(err).toContain("AUTH SSL");
    expect(err).toMatch(/< 521 /);
    expect(err).not.toContain("< 150");
    expect(code).toBe(19); // CURLE_FTP_COULDNT_RETR_FILE: the RETR's refusal
    expect(performance.now() - started).toBeLessThan(15_000);
  }, 30_000);
});

/**
 * Logs in over TLS (alice), PBSZ 0, PASV, opens the data connection while PROT is still C, prints
 * "connected" and waits for a line on stdin; then PROT P and RETR hello.txt, and prints what came.
 */
const EARLY_DATA_SCRIPT = `
import ftplib, json, re, socket, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
f = ftplib.FTP_TLS(context=ctx, timeout=10); f.connect("127.0.0.1", int(sys.argv[1])); f.login("alice", "alice-pw")
f.sendcmd("PBSZ 0")
h = re.search(r"\\((\\d+),(\\d+),(\\d+),(\\d+),(\\d+),(\\d+)\\)", f.sendcmd("PASV")).groups()
d = socket.create_connection(("127.0.0.1", int(h[4]) * 256 + int(h[5])), timeout=10)
print("connected", flush=True); sys.stdin.readline()
prot = f.sendcmd("PROT P"); f.putcmd("RETR hello.txt"); first = f.getline()
got = b""
while True:
    try: c = d.recv(65536)
    except OSError: break
    if not c: break
    got += c
try: final = f.getresp()
except ftplib.all_errors as e: final = str(e)
print(json.dumps({"prot": prot, "first": first, "final": final, "clear": got.decode("latin1")}), flush=True)
`;

test("a data connection opened before PROT P is not used for a PROT P transfer: 425, no byte of the file in clear", async () => {
  const s = await start({ requireTls: true });
  writeFileSync(join(work!, "early.py"), EARLY_DATA_SCRIPT);
  const proc = Bun.spawn(["python3", join(work!, "early.py"), String(s.port)], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  const killer = setTimeout(() => proc.kill(9), 20_000);
  try {
    const reader = proc.stdout.getReader();
    let out = "";
    const readLine = async () => {
      while (!out.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`python3 ended: ${out}`);
        out += new TextDecoder().decode(value);
      }
      const line = out.slice(0, out.indexOf("\n"));
      out = out.slice(out.indexOf("\n") + 1);
      return line;
    };
    expect(await readLine()).toBe("connected");
    // The server has accepted it (as plain: PROT was C) before PROT P is sent.
    const accepted = () => [...s.server.context.sessions].some((x) => (x.dataEndpoint as unknown as { accepted?: unknown } | null)?.accepted);
    await waitFor(accepted, 10_000, "the early data connection accepted");
    proc.stdin.write("go\n");
    await proc.stdin.flush();
    const r = JSON.parse(await readLine()) as { prot: string; first: string; final: string; clear: string };
    expect(r.prot).toMatch(/^200/);
    expect(r.final).toMatch(/^425 .*before PROT changed/);
    expect(r.clear).toBe("");
  } finally {
    clearTimeout(killer);
    proc.kill(9);
    await proc.exited;
  }
}, 25_000);

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
