// tnftp (NetBSD's classic ftp client) as a real peer: mdelete/mget act on the files NLST names,
// wildcards expand on the server, and TYPE A (`ascii`) converts line ends.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { removeDir, tempDir } from "../helpers/peers.ts";
import { SERVER_KINDS, startTestServer, type TestServer } from "../helpers/server.ts";
import { run } from "./run.ts";

let ts: TestServer;
let local: string;

for (const kind of SERVER_KINDS) describe(kind.label("tnftp"), () => {
  beforeEach(async () => {
    ts = await startTestServer({ workers: kind.workers });
    local = tempDir("ftpkit-tnftp-");
  });

  afterEach(async () => {
    await ts.stop();
    removeDir(local);
  });

  const home = (p: string) => join(ts.home("alice"), p);

  /** Run tnftp non-interactively (-n: no auto-login, -i: no prompts, -d: the wire on stdout). */
  async function tnftp(commands: string[]) {
    const script = ["user alice alice-pw", ...commands, "bye", ""].join("\n");
    const r = await run(["tnftp", "-n", "-i", "-d", "-p", "127.0.0.1", String(ts.port)], { cwd: local, stdin: script, timeoutMs: 30_000 });
    return { ...r, sent: r.stdout.split("\n").filter((l) => l.startsWith("---> ")).map((l) => l.slice(5)) };
  }

  function repro(): void {
    mkdirSync(home("repro/a"), { recursive: true });
    mkdirSync(home("repro/b"), { recursive: true });
    writeFileSync(home("repro/a/x.txt"), "in a\n");
    writeFileSync(home("repro/b/x.txt"), "in b\n");
  }

  test("mdelete of an absolute path from another directory deletes that file, not the one in the cwd", async () => {
    repro();
    const r = await tnftp(["cd /repro/b", "mdelete /repro/a/x.txt"]);
    expect(r.sent).toContain("NLST /repro/a/x.txt");
    expect(r.sent).toContain("DELE /repro/a/x.txt");
    expect(existsSync(home("repro/a/x.txt"))).toBe(false);
    expect(readFileSync(home("repro/b/x.txt"), "utf8")).toBe("in b\n");
  });

  test("mget of a path in a subdirectory fetches that file (NLST answers the path as given)", async () => {
    repro();
    writeFileSync(home("repro/x.txt"), "in repro\n");
    mkdirSync(join(local, "a")); // tnftp stores a/x.txt under the local a/ and skips absolute names
    const r = await tnftp(["cd /repro", "mget a/x.txt"]);
    expect(r.sent).toContain("NLST a/x.txt");
    expect(r.sent).toContain("RETR a/x.txt");
    expect(readFileSync(join(local, "a/x.txt"), "utf8")).toBe("in a\n");
    expect(existsSync(join(local, "x.txt"))).toBe(false);
  });

  test("mget f*.bin expands the wildcard on the server and fetches only the matches", async () => {
    mkdirSync(home("bins"));
    for (const n of ["f1.bin", "f2.bin", "g1.bin", "f3.txt"]) writeFileSync(home(`bins/${n}`), n);
    const r = await tnftp(["cd /bins", "mget f*.bin"]);
    expect(r.sent).toContain("NLST f*.bin");
    expect(readFileSync(join(local, "f1.bin"), "utf8")).toBe("f1.bin");
    expect(readFileSync(join(local, "f2.bin"), "utf8")).toBe("f2.bin");
    expect(existsSync(join(local, "g1.bin"))).toBe(false);
    expect(existsSync(join(local, "f3.txt"))).toBe(false);
  });

  test("mdelete with a wildcard and a directory part deletes only the matches there", async () => {
    mkdirSync(home("bins"));
    for (const n of ["f1.bin", "f2.bin", "keep.bin"]) writeFileSync(home(`bins/${n}`), n);
    writeFileSync(home("f1.bin"), "top");
    await tnftp(["mdelete /bins/f?.bin"]);
    expect(existsSync(home("bins/f1.bin"))).toBe(false);
    expect(existsSync(home("bins/f2.bin"))).toBe(false);
    expect(existsSync(home("bins/keep.bin"))).toBe(true);
    expect(existsSync(home("f1.bin"))).toBe(true);
  });

  test("ascii mode: put stores LF line ends, get brings back the same text file; binary mode is untouched", async () => {
    const text = "first line\nsecond line\n\nlast\n";
    writeFileSync(join(local, "notes.txt"), text);
    const r = await tnftp(["ascii", "put notes.txt", "get notes.txt back.txt", "binary", "get notes.txt raw.txt"]);
    expect(r.sent).toContain("TYPE A");
    expect(readFileSync(home("notes.txt"), "utf8")).toBe(text); // tnftp sent CRLF; LF is stored
    expect(readFileSync(join(local, "back.txt"), "utf8")).toBe(text); // sent as CRLF, tnftp makes it LF
    expect(readFileSync(join(local, "raw.txt"), "utf8")).toBe(text);
  });
});
