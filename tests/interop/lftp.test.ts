// lftp as a real FTP peer: mirror a nested tree down and back up, compared byte for byte.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { randomFile, removeDir, tempDir } from "../helpers/peers.ts";
import { SERVER_KINDS, startTestServer, type TestServer } from "../helpers/server.ts";
import { run } from "./run.ts";

let ts: TestServer;
let local: string;

for (const kind of SERVER_KINDS) describe(kind.label("lftp"), () => {
  beforeEach(async () => {
    ts = await startTestServer({ workers: kind.workers });
    local = tempDir("ftpkit-lftp-");
  });

  afterEach(async () => {
    await ts.stop();
    removeDir(local);
  });

  function lftp(script: string, extra = "") {
    const settings = "set ftp:ssl-allow no; set net:max-retries 1; set net:timeout 5; set net:reconnect-interval-base 1; set cmd:fail-exit yes; " + extra;
    return run(["lftp", "-u", "alice,alice-pw", "-p", String(ts.port), "-e", `${settings}${script}; bye`, "127.0.0.1"], { cwd: local, timeoutMs: 40_000 });
  }

  /** relative path → contents (directories as "<dir>"), for a byte-for-byte tree comparison. */
  function tree(root: string): Map<string, string> {
    const out = new Map<string, string>();
    const walk = (dir: string) => {
      for (const name of readdirSync(dir).sort()) {
        const p = join(dir, name);
        const st = statSync(p);
        if (st.isDirectory()) {
          out.set(relative(root, p), "<dir>");
          walk(p);
        } else out.set(relative(root, p), readFileSync(p).toString("base64"));
      }
    };
    walk(root);
    return out;
  }

  /** A nested tree with binary files, empty files and directories, spaces and UTF-8 names. */
  function buildTree(root: string): void {
    mkdirSync(join(root, "a/b/c"), { recursive: true });
    mkdirSync(join(root, "empty dir"), { recursive: true });
    mkdirSync(join(root, "ünïcödé"), { recursive: true });
    randomFile(join(root, "top.bin"), 700_000);
    randomFile(join(root, "a/one.bin"), 12_345);
    randomFile(join(root, "a/b/two.bin"), 1);
    writeFileSync(join(root, "a/b/c/empty.txt"), "");
    writeFileSync(join(root, "a/b/c/name with spaces.txt"), "spaces\n");
    writeFileSync(join(root, "ünïcödé/fïlé.txt"), "utf-8 name\n");
  }

  test("mirror downloads a nested tree", async () => {
    const docs = join(ts.home("alice"), "docs");
    buildTree(join(docs, "more"));
    const r = await lftp(`mirror /docs ${join(local, "docs")}`);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(tree(join(local, "docs"))).toEqual(tree(docs));
  }, 60_000);

  test("mirror of a tree holding links back up (up -> .., self -> .) copies each file once and ends; a link to a directory elsewhere in the home is made a link", async () => {
    const t = join(ts.home("alice"), "loopt");
    mkdirSync(join(t, "a"), { recursive: true });
    mkdirSync(join(t, "docs"));
    writeFileSync(join(t, "a/f.txt"), "f\n");
    writeFileSync(join(t, "docs/d.txt"), "d\n");
    symlinkSync("..", join(t, "a/up1"));
    symlinkSync("..", join(t, "a/up2"));
    symlinkSync(".", join(t, "a/self"));
    symlinkSync("../docs", join(t, "a/docs-link"));
    // Before: lftp went ~40 levels down a/up1/a/up2/… (thousands of entries) until the kernel's limit.
    const r = await lftp(`mirror /loopt ${join(local, "loopt")}`);
    expect(r.code).toBe(0);
    expect([...tree(join(local, "loopt")).keys()]).toEqual(["a", "a/docs-link", "a/docs-link/d.txt", "a/f.txt", "docs", "docs/d.txt"]);
    // Listed as a link (OS.unix=slink:../docs), as vsftpd and ProFTPD list it: lftp makes the same link.
    expect(readlinkSync(join(local, "loopt", "a", "docs-link"))).toBe("../docs");
  }, 60_000);

  test("rm -r of a directory holding a link to a directory elsewhere removes the link, not what it names", async () => {
    const home = ts.home("alice");
    mkdirSync(join(home, "site"));
    mkdirSync(join(home, "keep"));
    writeFileSync(join(home, "keep", "important.txt"), "precious\n");
    writeFileSync(join(home, "site", "index.html"), "idx\n");
    symlinkSync("../keep", join(home, "site", "shared"));
    // Before: the link was listed as a directory; lftp emptied keep/ through it, and no command removed the link.
    const r = await lftp("rm -r /site");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(readdirSync(home).includes("site")).toBe(false);
    expect(readFileSync(join(home, "keep", "important.txt"), "utf8")).toBe("precious\n");
  }, 60_000);

  test("mirror -R uploads a nested tree", async () => {
    const src = join(local, "src");
    buildTree(src);
    const r = await lftp(`mirror -R ${src} /uploaded`);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(tree(join(ts.home("alice"), "uploaded"))).toEqual(tree(src));
  }, 60_000);

  test("mirror -R in active mode, then mirror back down: the round trip is identical", async () => {
    const src = join(local, "src");
    buildTree(src);
    const up = await lftp(`mirror -R ${src} /round`, "set ftp:passive-mode off; ");
    expect(up.stderr).toBe("");
    expect(up.code).toBe(0);
    const down = await lftp(`mirror /round ${join(local, "back")}`);
    expect(down.code).toBe(0);
    expect(tree(join(local, "back"))).toEqual(tree(src));
  }, 60_000);

  test("mirror -R keeps the modification time of a file whose name begins with a space (MFMT time-val SP name)", async () => {
    const src = join(local, "src");
    mkdirSync(src);
    const then = new Date("2021-02-03T04:05:06Z");
    for (const name of [" lead.txt", "plain.txt"]) {
      writeFileSync(join(src, name), `${name}\n`);
      utimesSync(join(src, name), then, then);
    }
    const r = await lftp(`mirror -R ${src} /spaced`);
    expect(r.code).toBe(0);
    const up = join(ts.home("alice"), "spaced");
    expect(statSync(join(up, "plain.txt")).mtime.toISOString()).toBe(then.toISOString());
    // Before: "550 No such file or directory" to "MFMT 20210203040506  lead.txt"; the time of the upload stayed.
    expect(statSync(join(up, " lead.txt")).mtime.toISOString()).toBe(then.toISOString());
  }, 60_000);
});
