// Python's ftplib as a real FTP peer: each test runs a small script against the server and reads
// the JSON it prints.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { digest, randomFile, removeDir, tempDir } from "../helpers/peers.ts";
import { SERVER_KINDS, startTestServer, type TestServer } from "../helpers/server.ts";
import { run } from "./run.ts";

let ts: TestServer;
let local: string;

for (const kind of SERVER_KINDS) describe(kind.label("python3 ftplib"), () => {
  beforeEach(async () => {
    ts = await startTestServer({ workers: kind.workers });
    local = tempDir("ftpkit-ftplib-");
  });

  afterEach(async () => {
    await ts.stop();
    removeDir(local);
  });

  const PRELUDE = `
import ftplib, io, json, sys, hashlib
port = int(sys.argv[1])
ftp = ftplib.FTP(encoding="utf-8", timeout=10)
ftp.connect("127.0.0.1", port)
ftp.login("alice", "alice-pw")
out = {}
def err(fn):
    try:
        return fn()
    except ftplib.all_errors as e:
        return "ERR " + str(e)
`;

  /** Run PRELUDE + body (which fills `out`), return the parsed JSON of `out`. */
  async function py(body: string): Promise<Record<string, unknown>> {
    const script = join(local, "script.py");
    writeFileSync(script, `${PRELUDE}\n${body}\nftp.quit()\nprint(json.dumps(out))\n`);
    const r = await run(["python3", script, String(ts.port)], { cwd: local, timeoutMs: 30_000 });
    if (r.code !== 0) throw new Error(`python exited ${r.code}: ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split("\n").at(-1)!) as Record<string, unknown>;
  }

  const home = (p: string) => join(ts.home("alice"), p);

  test("login, welcome, pwd", async () => {
    const out = await py(`out["welcome"] = ftp.getwelcome(); out["pwd"] = ftp.pwd()`);
    expect(String(out.welcome)).toStartWith("220");
    expect(out.pwd).toBe("/");
  });

  test("login() again on the logged-in connection succeeds and keeps the directory", async () => {
    const out = await py(`ftp.cwd("docs"); out["again"] = err(lambda: ftp.login("alice", "alice-pw")); out["pwd"] = ftp.pwd()`);
    expect(out).toEqual({ again: "230 Already logged in", pwd: "/docs" });
  });

  test("mlsd lists names with facts; nlst lists names", async () => {
    const out = await py(`
out["mlsd"] = {name: facts for name, facts in ftp.mlsd("/", ["type", "size", "modify"])}
out["nlst"] = sorted(ftp.nlst())
out["nested"] = sorted(ftp.nlst("docs"))
`);
    const mlsd = out.mlsd as Record<string, Record<string, string>>;
    expect(mlsd["hello.txt"]?.type).toBe("file");
    expect(Number(mlsd["hello.txt"]?.size)).toBe(statSync(home("hello.txt")).size);
    expect(mlsd["hello.txt"]?.modify).toMatch(/^\d{14}/);
    expect(mlsd["docs"]?.type).toBe("dir");
    expect(mlsd['say "hi".txt']?.type).toBe("file");
    expect(out.nlst).toContain("with space.txt");
    expect(out.nlst).toContain("café-ü.txt");
    expect((out.nested as string[]).join(" ")).toContain("report.txt");
  });

  test("retrbinary and storbinary round-trip binary data (passive)", async () => {
    const data = randomFile(home("blob.bin"), 2_000_000);
    const out = await py(`
buf = io.BytesIO()
ftp.retrbinary("RETR blob.bin", buf.write)
out["down"] = hashlib.sha256(buf.getvalue()).hexdigest()
payload = bytes(range(256)) * 4000
out["up"] = hashlib.sha256(payload).hexdigest()
out["stor"] = ftp.storbinary("STOR copy.bin", io.BytesIO(payload))
`);
    expect(out.down).toBe(digest(data));
    expect(String(out.stor)).toStartWith("226");
    expect(digest(readFileSync(home("copy.bin")))).toBe(out.up as string);
  });

  test("set_pasv(False): active-mode upload and download", async () => {
    const data = randomFile(home("act.bin"), 500_000);
    const out = await py(`
ftp.set_pasv(False)
buf = io.BytesIO()
out["retr"] = ftp.retrbinary("RETR act.bin", buf.write)
out["down"] = hashlib.sha256(buf.getvalue()).hexdigest()
payload = b"active upload " * 10000
out["up"] = hashlib.sha256(payload).hexdigest()
out["stor"] = ftp.storbinary("STOR act-up.bin", io.BytesIO(payload))
out["list"] = []
ftp.retrlines("LIST", out["list"].append)
`);
    expect(String(out.retr)).toStartWith("226");
    expect(out.down).toBe(digest(data));
    expect(String(out.stor)).toStartWith("226");
    expect(digest(readFileSync(home("act-up.bin")))).toBe(out.up as string);
    expect((out.list as string[]).join("\n")).toContain("act-up.bin");
  });

  test("rename, delete, mkd with a quote in the name", async () => {
    const out = await py(`
out["rename"] = ftp.rename("hello.txt", "renamed.txt")
out["delete"] = ftp.delete("with space.txt")
out["mkd"] = ftp.mkd('it"s here')
out["cwd"] = ftp.cwd('it"s here')
out["pwd"] = ftp.pwd()
out["missing"] = err(lambda: ftp.delete("no-such-file"))
`);
    expect(String(out.rename)).toStartWith("250");
    expect(existsSync(home("renamed.txt"))).toBe(true);
    expect(existsSync(home("hello.txt"))).toBe(false);
    expect(existsSync(home("with space.txt"))).toBe(false);
    // ftplib's parse257 undoubles the quote: the name comes back as created.
    expect(out.mkd).toBe('/it"s here');
    expect(statSync(home('it"s here')).isDirectory()).toBe(true);
    expect(out.pwd).toBe('/it"s here');
    expect(String(out.missing)).toStartWith("ERR 550");
  });

  test("SIZE via sendcmd and FTP.size", async () => {
    const size = statSync(home("hello.txt")).size;
    const out = await py(`
ftp.voidcmd("TYPE I")
out["sendcmd"] = ftp.sendcmd("SIZE hello.txt")
out["size"] = ftp.size("hello.txt")
out["spaced"] = ftp.size("with space.txt")
out["dir"] = err(lambda: ftp.size("docs"))
`);
    expect(out.sendcmd).toBe(`213 ${size}`);
    expect(out.size).toBe(size);
    expect(out.spaced).toBe(statSync(home("with space.txt")).size);
    expect(String(out.dir)).toStartWith("ERR 550");
  });

  test("UTF-8 names: list, download, upload, rename", async () => {
    const out = await py(`
out["names"] = ftp.nlst()
buf = io.BytesIO()
ftp.retrbinary("RETR café-ü.txt", buf.write)
out["cafe"] = buf.getvalue().decode("utf-8")
ftp.storbinary("STOR 日本語.txt", io.BytesIO("こんにちは".encode("utf-8")))
ftp.rename("日本語.txt", "Ελληνικά.txt")
out["after"] = ftp.nlst()
`);
    expect(out.names).toContain("café-ü.txt");
    expect(out.cafe).toBe(readFileSync(home("café-ü.txt"), "utf8"));
    expect(out.after).toContain("Ελληνικά.txt");
    expect(readFileSync(home("Ελληνικά.txt"), "utf8")).toBe("こんにちは");
  });
});

describe("python3 ftplib and a multi-line welcome", () => {
  test("a welcome line that begins with the reply's code does not end the 220 early", async () => {
    const server = await startTestServer({ options: { welcome: "Welcome\n220\n2200 users at most\nEnd" } });
    const dir = tempDir("ftpkit-ftplib-");
    try {
      const script = join(dir, "script.py");
      writeFileSync(script, `
import ftplib, json, sys
ftp = ftplib.FTP(timeout=10)
out = {"welcome": ftp.connect("127.0.0.1", int(sys.argv[1]))}
out["login"] = ftp.login("alice", "alice-pw")
out["pwd"] = ftp.pwd()
ftp.quit()
print(json.dumps(out))
`);
      const r = await run(["python3", script, String(server.port)], { cwd: dir, timeoutMs: 20_000 });
      expect(r.stderr).toBe("");
      const out = JSON.parse(r.stdout.trim()) as Record<string, string>;
      expect(out.welcome).toBe("220-Welcome\n 220\n 2200 users at most\n220 End");
      expect(out.login).toStartWith("230");
      expect(out.pwd).toBe("/");
    } finally {
      await server.stop();
      removeDir(dir);
    }
  });
});
