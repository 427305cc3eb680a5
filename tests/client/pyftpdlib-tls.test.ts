// The client over explicit FTPS (--tls, PROT P) against pyftpdlib's TLS_FTPHandler, TLS required on
// the control and the data connections. pyftpdlib drops a data connection that speaks before the
// transfer command was handled, so these fail when the client starts TLS before the 150.
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { digest, randomFile, removeDir, runFtpkit, startPyftpd, tempDir, TLS_CERT, type Peer } from "../helpers/peers.ts";

setDefaultTimeout(60_000); // a real server and CLI processes; see BUN-NOTES on the preload

let peer: Peer;
let work: string;

/** The flags every run here takes: explicit TLS, the fixture certificate trusted, no retries to hide a failure. */
const TLS = ["--tls", "--ca", TLS_CERT, "--retries", "0"];

/** stderr as the lines a user sees (consola pads with blank lines). */
const lines = (text: string) => text.split("\n").map((l) => l.trim()).filter(Boolean);

/** Every file under `dir`, by its path relative to `dir`, with its SHA-256. */
function digests(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out[relative(dir, p)] = digest(readFileSync(p));
    }
  };
  walk(dir);
  return out;
}

beforeAll(async () => {
  peer = await startPyftpd({ tls: true });
  work = tempDir("ftpkit-pyftpd-tls-");
  mkdirSync(join(peer.root, "up"));
});

afterAll(async () => {
  await peer.stop();
  removeDir(peer.root);
  removeDir(work);
});

describe("explicit FTPS against pyftpdlib (TLS required on control and data)", () => {
  for (const size of [0, 70_001, 3 * 1024 * 1024 + 7]) {
    test(`get and put ${size} bytes over --tls, contents checked by digest`, async () => {
      const name = `tls-${size}.bin`;
      const data = randomFile(join(peer.root, name), size);
      const got = await runFtpkit(["get", ...TLS, peer.url(name), join(work, name)], { cwd: work });
      expect(got.stderr).not.toContain("error");
      expect(got.code).toBe(0);
      expect(digest(readFileSync(join(work, name)))).toBe(digest(data));
      const put = await runFtpkit(["put", ...TLS, join(work, name), peer.url(`/up/${name}`)], { cwd: work });
      expect(put.code).toBe(0);
      expect(digest(readFileSync(join(peer.root, "up", name)))).toBe(digest(data));
    });
  }

  test("ls --tls lists over an encrypted data connection", async () => {
    mkdirSync(join(peer.root, "listed"));
    randomFile(join(peer.root, "listed", "one.bin"), 1234);
    randomFile(join(peer.root, "listed", "two.bin"), 0);
    const r = await runFtpkit(["ls", ...TLS, peer.url("/listed/"), "--json"], { cwd: work });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const entries = JSON.parse(r.stdout) as { name: string; size: number; type: string }[];
    expect(entries.map((e) => [e.name, e.type, e.size]).sort()).toEqual([
      ["one.bin", "file", 1234],
      ["two.bin", "file", 0],
    ]);
  });

  test("get -r of a small tree over --tls (pipelined EPSV + RETR on each connection), every file checked by digest", async () => {
    const tree = join(peer.root, "tree");
    for (const d of ["", "a", "a/b", "c"]) mkdirSync(join(tree, d), { recursive: true });
    for (let i = 0; i < 24; i++) randomFile(join(tree, ["", "a", "a/b", "c"][i % 4]!, `f${i}.bin`), i === 5 ? 0 : 100 + i * 3001);
    const dest = join(work, "tree-copy");
    const r = await runFtpkit(["get", "-r", ...TLS, peer.url("/tree"), dest], { cwd: work });
    expect(r.stderr).not.toContain("error");
    expect(r.code).toBe(0);
    expect(digests(dest)).toEqual(digests(tree));
  });

  test("active mode (--active) under TLS: get and put", async () => {
    const data = randomFile(join(peer.root, "active.bin"), 400_003);
    const local = join(work, "active.bin");
    const got = await runFtpkit(["get", ...TLS, "--active", peer.url("active.bin"), local], { cwd: work });
    expect(got.code).toBe(0);
    expect(digest(readFileSync(local))).toBe(digest(data));
    const put = await runFtpkit(["put", ...TLS, "--active", local, peer.url("/up/active.bin")], { cwd: work });
    expect(put.code).toBe(0);
    expect(digest(readFileSync(join(peer.root, "up", "active.bin")))).toBe(digest(data));
  });
});

describe("a data connection whose TLS handshake fails", () => {
  /** pyftpdlib whose first `n` data connections are offered only TLS 1.0, which the client refuses. */
  async function withBrokenDataTls(n: number, body: (broken: Peer) => Promise<void>): Promise<void> {
    const broken = await startPyftpd({ tls: true, breakDataTls: n });
    try {
      await body(broken);
    } finally {
      await broken.stop();
      removeDir(broken.root);
    }
  }

  test("is one line and exit 5 without --retries, and is retried (and succeeds) with them", async () => {
    await withBrokenDataTls(2, async (broken) => {
      const data = randomFile(join(broken.root, "f.bin"), 200_000);
      const once = await runFtpkit(["get", ...TLS, broken.url("f.bin"), join(work, "broken-once.bin")], { cwd: work });
      expect(once.code).toBe(5);
      const out = lines(once.stderr);
      expect(out).toHaveLength(1);
      expect(out[0]).toMatch(/TLS handshake on the data connection with 127\.0\.0\.1 failed: /);
      expect(once.stderr).not.toMatch(/\bat .*\.ts:\d+/); // no stack trace
      // The second broken data connection fails this run's first try; a reconnection gets a good one.
      const local = join(work, "broken-retried.bin");
      const retried = await runFtpkit(["get", "--tls", "--ca", TLS_CERT, "--retries", "2", broken.url("f.bin"), local], { cwd: work });
      expect(retried.stderr).toMatch(/TLS handshake on the data connection with 127\.0\.0\.1 failed: .*reconnecting \(attempt 1 of 2\)/);
      expect(retried.code).toBe(0);
      expect(digest(readFileSync(local))).toBe(digest(data));
    });
  });

  test("under get -r (the root's listing fails) is retried too, not taken for a missing directory", async () => {
    await withBrokenDataTls(1, async (broken) => {
      const tree = join(broken.root, "tree");
      mkdirSync(join(tree, "sub"), { recursive: true });
      for (let i = 0; i < 6; i++) randomFile(join(tree, i % 2 ? "sub" : "", `g${i}.bin`), 1000 + i);
      const dest = join(work, "broken-tree");
      const r = await runFtpkit(["get", "-r", "--tls", "--ca", TLS_CERT, "--retries", "2", broken.url("/tree"), dest], { cwd: work });
      expect(r.stderr).toMatch(/TLS handshake on the data connection with 127\.0\.0\.1 failed: .*reconnecting \(attempt 1 of 2\)/);
      expect(r.code).toBe(0);
      expect(digests(dest)).toEqual(digests(tree));
    });
  });
});

describe("a PROT P download that ends without TLS close_notify (a bare TCP FIN, as one forged on the path)", () => {
  /** pyftpdlib that answers no SIZE (and has no HASH): nothing but the TLS ending can tell a cut file. */
  async function withServer(opts: { cutDataTls?: number; noSize: boolean }, body: (p: Peer) => Promise<void>): Promise<void> {
    const p = await startPyftpd({ tls: true, ...opts });
    try {
      await body(p);
    } finally {
      await p.stop();
      removeDir(p.root);
    }
  }

  test("with no size and no digest to check it by, fails as a cut download (exit 4, part kept for resume), not accepted", async () => {
    await withServer({ cutDataTls: 100_000, noSize: true }, async (p) => {
      randomFile(join(p.root, "cut.bin"), 300_000);
      const local = join(work, "cut.bin");
      const r = await runFtpkit(["get", ...TLS, p.url("cut.bin"), local], { cwd: work });
      // Before: exit 0, and a 100,000-byte file published as cut.bin.
      expect(r.code).toBe(4);
      const out = lines(r.stderr);
      expect(out).toHaveLength(1);
      expect(out[0]).toContain("without TLS close_notify");
      expect(out[0]).toContain("100000 bytes kept, run `ftpkit resume` to continue");
      expect(readdirSync(work).filter((n) => n.startsWith("cut.bin"))).not.toContain("cut.bin");
      // To standard output: the same failure, after the bytes that came.
      const piped = await runFtpkit(["get", ...TLS, p.url("cut.bin"), "-"], { cwd: work });
      expect(piped.code).toBe(4);
      expect(piped.out.length).toBe(100_000);
      expect(piped.stderr).toContain("without TLS close_notify");
    });
  });

  test("with no size but a close_notify (pyftpdlib's own ending), the download is complete", async () => {
    await withServer({ noSize: true }, async (p) => {
      const data = randomFile(join(p.root, "whole.bin"), 300_000);
      const local = join(work, "whole-no-size.bin");
      const r = await runFtpkit(["get", ...TLS, p.url("whole.bin"), local], { cwd: work });
      expect(r.stderr).not.toContain("close_notify");
      expect(r.code).toBe(0);
      expect(digest(readFileSync(local))).toBe(digest(data));
    });
  });

  test("a listing ended so (no size or digest can check one) fails as cut short under ls and get -r, not taken as whole", async () => {
    await withServer({ cutDataTls: 1_000_000, noSize: true }, async (p) => {
      mkdirSync(join(p.root, "tree"));
      for (const name of ["a.txt", "b.txt"]) randomFile(join(p.root, "tree", name), 10);
      const ls = await runFtpkit(["ls", ...TLS, "--retries", "0", p.url("/tree/")], { cwd: work });
      // Before: exit 0 with the listing as it came.
      expect(ls.code).toBe(4);
      expect(lines(ls.stderr)).toEqual([expect.stringContaining("the listing of /tree was cut short: the data connection ended after")]);
      expect(ls.stderr).toContain("without TLS close_notify");
      const tree = await runFtpkit(["get", "-r", ...TLS, "--retries", "0", p.url("/tree"), join(work, "cut-tree")], { cwd: work });
      expect(tree.code).toBe(4);
      expect(tree.stderr).toContain("without TLS close_notify");
    });
  });

  test("with SIZE, the size decides as before: a whole file ended by a bare FIN is accepted, a cut one is 'ended early'", async () => {
    await withServer({ cutDataTls: 300_000, noSize: false }, async (p) => {
      const data = randomFile(join(p.root, "sized.bin"), 300_000);
      const local = join(work, "sized.bin");
      const r = await runFtpkit(["get", ...TLS, p.url("sized.bin"), local], { cwd: work });
      expect(r.code).toBe(0);
      expect(digest(readFileSync(local))).toBe(digest(data));
      randomFile(join(p.root, "sized-cut.bin"), 400_000);
      const cut = await runFtpkit(["get", ...TLS, p.url("sized-cut.bin"), join(work, "sized-cut.bin")], { cwd: work });
      expect(cut.code).toBe(4);
      expect(cut.stderr).toContain("ended early at 300000 of 400000 bytes");
    });
  });
});
