// The client against a foreign server: Debian's pyftpdlib (no HASH, so verification falls back to size).
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { getFile, putFile, type TransferOptions } from "../../client/operations.ts";
import { listUrl } from "../../client/list-url.ts";
import { FtpClient } from "../../client/client.ts";
import { digest, randomFile, removeDir, runFtpkit, spawnFtpkit, startPyftpd, tempDir, type Peer, transferOptions, waitFor } from "../helpers/peers.ts";

setDefaultTimeout(60_000); // real servers and CLI processes; see BUN-NOTES on the preload

let peer: Peer;
let work: string;

const base = (over: Partial<TransferOptions> = {}) => transferOptions(work, over);

beforeAll(async () => {
  peer = await startPyftpd();
  work = tempDir();
  mkdirSync(join(peer.root, "up"));
});

afterAll(async () => {
  await peer.stop();
  removeDir(peer.root);
  removeDir(work);
});

describe("round trips against pyftpdlib", () => {
  const sizes = [0, 1, 4095, 65537, 10 * 1024 * 1024 + 3];
  for (const size of sizes) {
    for (const hash of ["sha256", "md5"] as const) {
      // alwaysDigest (the CLI's --hash given): the digest is computed although the server has none.
      test(`get and put ${size} bytes with ${hash} asked for`, async () => {
        const name = `f-${size}-${hash}.bin`;
        const data = randomFile(join(peer.root, name), size);
        const local = join(work, name);
        const got = await getFile(peer.url(name), local, base({ hash, alwaysDigest: true }));
        expect(got.size).toBe(size);
        expect(got.digest).toBe(digest(data, hash));
        expect(got.verifiedBy).toBe("size verified only");
        expect(digest(readFileSync(local), hash)).toBe(digest(data, hash));
        expect(existsSync(local + ".ftpkit-part")).toBe(false);

        const put = await putFile(local, peer.url(`/up/${name}`), base({ hash, alwaysDigest: true }));
        expect(put.digest).toBe(digest(data, hash));
        expect(digest(readFileSync(join(peer.root, "up", name)), hash)).toBe(digest(data, hash));
        expect(readdirSync(join(work, ".journal"))).toEqual([]);
      });
    }
  }

  test("without --hash nothing is hashed for a server with no digest: get and put say \"size verified only\" and report no digest", async () => {
    const data = randomFile(join(peer.root, "plain.bin"), 20 * 1024 * 1024 + 5); // big enough for the hashing thread
    const local = join(work, "plain.bin");
    const got = await runFtpkit(["get", peer.url("plain.bin"), local], { cwd: work });
    expect(got.code).toBe(0);
    expect(got.stderr).toContain("the server offers no hash; verified size only");
    expect(got.stderr).toMatch(/plain\.bin: .*, size verified only/);
    expect(got.stderr).not.toContain("sha256");
    expect(digest(readFileSync(local))).toBe(digest(data));
    const put = await runFtpkit(["put", local, peer.url("/up/plain-json.bin"), "--json"], { cwd: work });
    expect(put.code).toBe(0);
    const report = JSON.parse(put.stdout) as { files: { result: string; digest?: string }[] };
    expect(report.files[0]!.result).toBe("size verified only");
    expect(report.files[0]!.digest).toBeUndefined();
    expect(digest(readFileSync(join(peer.root, "up", "plain-json.bin")))).toBe(digest(data));
    // --hash given: the digest of what moved is computed and shown, still checked by size only.
    const asked = await runFtpkit(["get", peer.url("plain.bin"), join(work, "plain2.bin"), "--hash", "sha256"], { cwd: work });
    expect(asked.code).toBe(0);
    expect(asked.stderr).toContain(`sha256 ${digest(data)} (size verified only)`);
  });

  test("active mode (EPRT) download and upload", async () => {
    const data = randomFile(join(peer.root, "active.bin"), 300_001);
    const local = join(work, "active.bin");
    await getFile(peer.url("active.bin"), local, base({ active: true }));
    expect(digest(readFileSync(local))).toBe(digest(data));
    await putFile(local, peer.url("/up/"), base({ active: true }));
    expect(digest(readFileSync(join(peer.root, "up", "active.bin")))).toBe(digest(data));
  });

  test("a rate limit slows the transfer down to about the limit", async () => {
    randomFile(join(peer.root, "slow.bin"), 200_000);
    const t0 = performance.now();
    await getFile(peer.url("slow.bin"), join(work, "slow.bin"), base({ rate: 400_000 }));
    const secs = (performance.now() - t0) / 1000;
    expect(secs).toBeGreaterThan(0.3);
    expect(secs).toBeLessThan(3);
  });

  test("anonymous login reads; FEAT, SIZE and MDTM are parsed", async () => {
    writeFileSync(join(peer.root, "hello.txt"), "hello\n");
    const c = await FtpClient.connect({ host: "127.0.0.1", port: peer.port });
    await c.login("anonymous", () => "anonymous@");
    const feat = await c.feat();
    expect(feat.has("EPSV")).toBe(true);
    expect(feat.has("MLST")).toBe(true);
    await c.binary();
    expect(await c.size("/hello.txt")).toBe(6);
    expect(await c.mdtm("/hello.txt")).toMatch(/^\d{14}$/);
    expect(await c.remoteDigest("/hello.txt", "sha256")).toBeNull();
    await c.quit();
  });

  test("ls with a glob lists the matching entries; a name with brackets that matches nothing stands for itself", async () => {
    mkdirSync(join(peer.root, "globbed"), { recursive: true });
    for (const name of ["a.csv", "b.csv", "c.txt", ".hidden.csv", "d[1].csv"]) writeFileSync(join(peer.root, "globbed", name), "x");
    const csv = await runFtpkit(["ls", peer.url("/globbed/*.csv"), "--json"], { cwd: work });
    expect(csv.code).toBe(0);
    expect((JSON.parse(csv.stdout) as { name: string }[]).map((e) => e.name)).toEqual(["a.csv", "b.csv", "d[1].csv"]);
    const literal = await runFtpkit(["ls", peer.url("/globbed/d[1].csv"), "--json"], { cwd: work });
    expect((JSON.parse(literal.stdout) as { name: string }[]).map((e) => e.name)).toEqual(["d[1].csv"]);
    const none = await runFtpkit(["ls", peer.url("/globbed/*.nope")], { cwd: work });
    expect(none.code).toBe(8);
    expect(none.stderr).toContain('no remote file matches "*.nope" in /globbed');
  });

  test("ls lists a directory (MLSD) and one file, as text and JSON", async () => {
    writeFileSync(join(peer.root, "listed.txt"), "12345");
    const entries = await listUrl(peer.url("/"), { active: false });
    const e = entries.find((x) => x.name === "listed.txt")!;
    expect(e).toMatchObject({ type: "file", size: 5 });
    expect(entries.find((x) => x.name === "up")?.type).toBe("dir");

    const one = await runFtpkit(["ls", peer.url("/listed.txt"), "--json"], { cwd: work });
    expect(one.code).toBe(0);
    const parsed = JSON.parse(one.stdout);
    expect(parsed).toEqual([{ name: "listed.txt", type: "file", size: 5, mtime: expect.any(String), mtimePrecision: "second" }]);

    // The file's own mode (pyftpdlib sends UNIX.mode once asked by OPTS MLST), aligned like ls -l.
    chmodSync(join(peer.root, "listed.txt"), 0o640);
    const text = await runFtpkit(["ls", peer.url("/", { anonymous: true })], { cwd: work });
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^-rw-r----- +5 \w{3} [ \d]\d [ \d:]{5} listed\.txt$/m);
    expect(text.stdout).toMatch(/^d\S+ +\d+ .* up$/m);
  });

  test("ls falls back to LIST when the server has no MLSD", async () => {
    const plain = await startPyftpd({ root: peer.root, noMlsd: true });
    try {
      const entries = await listUrl(plain.url("/"), { active: false });
      expect(entries.find((x) => x.name === "listed.txt")).toMatchObject({ type: "file", size: 5 });
      expect(entries.find((x) => x.name === "up")?.type).toBe("dir");
    } finally {
      await plain.stop();
    }
  });

  test("over LIST, a file dated more than 6 months ahead (listed without its year) is not copied again by every sync, either way", async () => {
    // pyftpdlib lists a future time as "Jan 01 00:00", no year: read as this year's, it differed from
    // the file's real time, and every sync copied the file again ("time differs").
    const plain = await startPyftpd({ root: peer.root, noMlsd: true });
    try {
      const ahead = new Date(Date.UTC(new Date().getUTCFullYear() + 3, 0, 1, 0, 0, 0));
      mkdirSync(join(peer.root, "ahead"));
      writeFileSync(join(peer.root, "ahead/f.txt"), "ahead\n");
      utimesSync(join(peer.root, "ahead/f.txt"), ahead, ahead);
      mkdirSync(join(work, "ahead-up"));
      writeFileSync(join(work, "ahead-up/g.txt"), "up\n");
      utimesSync(join(work, "ahead-up/g.txt"), ahead, ahead);
      for (const args of [["sync", plain.url("/ahead"), "ahead-down"], ["sync", "ahead-up", plain.url("/ahead-up")]]) {
        const first = await runFtpkit([...args, "--json"], { cwd: work });
        expect(first.code).toBe(0);
        expect(JSON.parse(first.stdout)).toMatchObject({ copied: 1 });
        const again = await runFtpkit([...args, "--json"], { cwd: work });
        expect(again.code).toBe(0);
        expect(JSON.parse(again.stdout)).toMatchObject({ copied: 0, skipped: 1 });
      }
      expect(statSync(join(work, "ahead-down/f.txt")).mtime.toISOString()).toBe(ahead.toISOString());
      expect(statSync(join(peer.root, "ahead-up/g.txt")).mtime.toISOString()).toBe(ahead.toISOString());
    } finally {
      await plain.stop();
    }
  });

  test("the password comes from ~/.netrc (honouring $HOME) when the URL has none", async () => {
    const home = tempDir("ftpkit-home-");
    try {
      writeFileSync(join(home, ".netrc"), `machine other login x password y\nmachine 127.0.0.1 login user password ${peer.password}\n`);
      writeFileSync(join(peer.root, "netrc.txt"), "via netrc\n");
      const r = await runFtpkit(["get", peer.url("/netrc.txt", { password: false }), join(work, "netrc.txt")], {
        cwd: work,
        env: { HOME: home },
      });
      expect(r.stderr).toContain("netrc.txt");
      expect(r.code).toBe(0);
      expect(readFileSync(join(work, "netrc.txt"), "utf8")).toBe("via netrc\n");

      // "default" applies to any host, and the login comes from it when the URL names no user.
      writeFileSync(join(home, ".netrc"), `default login user password ${peer.password}\n`);
      const r2 = await runFtpkit(["get", peer.url("/netrc.txt", { anonymous: true }), join(work, "netrc2.txt")], {
        cwd: work,
        env: { HOME: home },
      });
      expect(r2.code).toBe(0);
    } finally {
      removeDir(home);
    }
  });

  test("the password comes from $FTPKIT_PASSWORD", async () => {
    writeFileSync(join(peer.root, "env.txt"), "via env\n");
    const r = await runFtpkit(["get", peer.url("/env.txt", { password: false }), join(work, "env.txt"), "-q"], {
      cwd: work,
      env: { FTPKIT_PASSWORD: peer.password, HOME: work },
    });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    expect(readFileSync(join(work, "env.txt"), "utf8")).toBe("via env\n");
  });
});

describe("--limit-rate on an upload", () => {
  test("the bytes go out paced, not in a burst per MiB read: at 64K the server has data within 3 s", async () => {
    writeFileSync(join(work, "paced.bin"), Buffer.from(crypto.getRandomValues(new Uint8Array(65536))).toString("hex").repeat(16)); // 2 MiB
    const target = join(peer.root, "up", "paced.bin");
    const proc = spawnFtpkit(["put", "paced.bin", peer.url("/up/paced.bin"), "--limit-rate", "64K"], { cwd: work });
    try {
      // One wait per 1 MiB read held the first byte back for 16 s at this rate.
      await waitFor(() => existsSync(target) && statSync(target).size >= 64 * 1024, 3_000, "the first paced bytes on the server");
    } finally {
      proc.kill(9);
      await proc.exited;
    }
  });
});
