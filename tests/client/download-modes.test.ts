// The permission bits of what a download writes: a new file's come from the umask, as for any new file;
// a file it replaces keeps its own (curl -o, wget -O), from the first byte of its part file on.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test, setDefaultTimeout } from "bun:test";
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { killByPid, removeDir, runFtpkit, spawnFtpkit, startFtpkitServer, tempDir, waitFor, type FtpkitPeer } from "../helpers/peers.ts";
import { startFakeServer } from "./fake-server.ts";

setDefaultTimeout(60_000);

let server: FtpkitPeer;
let work = "";
beforeAll(async () => {
  server = await startFtpkitServer();
  mkdirSync(join(server.home, "t"));
  writeFileSync(join(server.home, "hello.txt"), "hello\n");
  writeFileSync(join(server.home, "t", "a.txt"), "a\n");
  writeFileSync(join(server.home, "t", "run.sh"), "#!/bin/sh\n");
  chmodSync(join(server.home, "t", "run.sh"), 0o755);
});
afterAll(() => server.stop());
beforeEach(() => {
  work = tempDir();
});
afterEach(() => removeDir(work));

const modeOf = (path: string) => statSync(path).mode & 0o777;

/** Run ftpkit under `mask` (the child inherits the umask), the test's own restored after. */
async function underUmask(mask: number, args: string[]) {
  const before = process.umask(mask);
  try {
    return await runFtpkit(args, { cwd: work });
  } finally {
    process.umask(before);
  }
}

describe("a new file", () => {
  test("get under umask 002 gives 0664, as curl and touch do", async () => {
    const r = await underUmask(0o002, ["get", server.url("/hello.txt"), "hello.txt"]);
    expect(r.code).toBe(0);
    expect(modeOf(join(work, "hello.txt"))).toBe(0o664);
  });

  test("get -r under umask 002 gives 0664; under 077, 0600", async () => {
    expect((await underUmask(0o002, ["get", "-r", server.url("/t"), "wide"])).code).toBe(0);
    expect(modeOf(join(work, "wide", "a.txt"))).toBe(0o664);
    expect((await underUmask(0o077, ["get", "-r", server.url("/t"), "narrow"])).code).toBe(0);
    expect(modeOf(join(work, "narrow", "a.txt"))).toBe(0o600);
  });
});

/** A local file of `mode` holding "old". */
function existing(path: string, mode: number): string {
  writeFileSync(path, "old");
  chmodSync(path, mode);
  return path;
}

describe("a replaced file keeps its mode", () => {
  test("also bits the umask would mask: a 0664 file replaced under umask 022 stays 0664 (get, get -r)", async () => {
    const one = existing(join(work, "shared.txt"), 0o664);
    expect((await underUmask(0o022, ["get", server.url("/hello.txt"), "shared.txt"])).code).toBe(0);
    // Before: 0644, the part file created under the umask and its mode never set again.
    expect(modeOf(one)).toBe(0o664);
    mkdirSync(join(work, "out"));
    const a = existing(join(work, "out", "a.txt"), 0o660);
    expect((await underUmask(0o022, ["get", "-r", server.url("/t"), "out"])).code).toBe(0);
    expect(modeOf(a)).toBe(0o660);
  });

  test("a link to a 0600 file that a sync replaces gives the new file its target's mode", async () => {
    mkdirSync(join(work, "out"));
    const target = existing(join(work, "secret.txt"), 0o600);
    symlinkSync(target, join(work, "out", "a.txt"));
    expect((await underUmask(0o022, ["sync", server.url("/t"), "out"])).code).toBe(0);
    // Before: a 0644 file in the link's place.
    expect(modeOf(join(work, "out", "a.txt"))).toBe(0o600);
  });

  for (const mode of [0o600, 0o755, 0o444, 0o640]) {
    test(`get over a ${mode.toString(8)} file`, async () => {
      const key = existing(join(work, "key.pem"), mode);
      const r = await runFtpkit(["get", server.url("/hello.txt"), "key.pem"], { cwd: work });
      expect(r.code).toBe(0);
      expect(readFileSync(key, "utf8")).toBe("hello\n");
      expect(modeOf(key)).toBe(mode);
    });
  }

  test("get -r and sync over existing files: each keeps its mode; a remote executable adds x only where the file is readable", async () => {
    mkdirSync(join(work, "out"));
    const a = existing(join(work, "out", "a.txt"), 0o600);
    const run = existing(join(work, "out", "run.sh"), 0o640);
    expect((await runFtpkit(["get", "-r", server.url("/t"), "out"], { cwd: work })).code).toBe(0);
    expect(readFileSync(a, "utf8")).toBe("a\n");
    expect(modeOf(a)).toBe(0o600);
    expect(modeOf(run)).toBe(0o750);
    existing(a, 0o444);
    expect((await runFtpkit(["sync", server.url("/t"), "out"], { cwd: work })).code).toBe(0);
    expect(readFileSync(a, "utf8")).toBe("a\n");
    expect(modeOf(a)).toBe(0o444);
  });

  test("the part file has the replaced file's mode while the bytes come, and a wider one left by an earlier run is narrowed", async () => {
    const fake = startFakeServer({ files: new Map([["/key.pem", Buffer.alloc(100_000, 0x6b)]]), feat: ["SIZE", "REST STREAM"], stallRetrAfter: 20_000 });
    try {
      const key = existing(join(work, "key.pem"), 0o600);
      const part = existing(join(work, "key.pem.ftpkit-part"), 0o644);
      // --restart: the part file is no pending job's; it is started over, as a new download.
      const proc = spawnFtpkit(["get", `ftp://u:p@127.0.0.1:${fake.port}/key.pem`, "key.pem", "--restart", "--stall-timeout", "30"], { cwd: work });
      try {
        await waitFor(() => existsSync(part) && statSync(part).size === 20_000, 20_000, "the first 20000 bytes");
        expect(modeOf(part)).toBe(0o600);
        expect(modeOf(key)).toBe(0o600);
      } finally {
        await killByPid(proc);
      }
    } finally {
      fake.stop();
    }
  });
});

// Only root may give a file to another user; elsewhere there is nothing to check (a user's download is theirs).
describe.skipIf(process.getuid?.() !== 0)("run as root, a replaced file keeps its owner and group", () => {
  test("get, get -r, sync and get --segments over files of another user: each stays that user's, with its mode", async () => {
    const nobody = 65534;
    const owned = (path: string) => {
      existing(path, 0o640);
      chownSync(path, nobody, nobody);
      return path;
    };
    const ownerOf = (path: string) => ({ uid: statSync(path).uid, gid: statSync(path).gid, mode: modeOf(path) });
    const theirs = { uid: nobody, gid: nobody, mode: 0o640 };
    const one = owned(join(work, "hello.txt"));
    expect((await runFtpkit(["get", server.url("/hello.txt"), "hello.txt"], { cwd: work })).code).toBe(0);
    // Before: uid 0, gid 0 (the part file, root's, renamed over it); mode 0640 was kept.
    expect(ownerOf(one)).toEqual(theirs);
    expect(readFileSync(one, "utf8")).toBe("hello\n");
    mkdirSync(join(work, "out"));
    const a = owned(join(work, "out", "a.txt"));
    expect((await runFtpkit(["get", "-r", server.url("/t"), "out"], { cwd: work })).code).toBe(0);
    expect(ownerOf(a)).toEqual(theirs);
    owned(a);
    expect((await runFtpkit(["sync", server.url("/t"), "out"], { cwd: work })).code).toBe(0);
    expect(ownerOf(a)).toEqual(theirs);
    const seg = owned(join(work, "seg.txt"));
    expect((await runFtpkit(["get", server.url("/hello.txt"), "seg.txt", "--segments", "2"], { cwd: work })).code).toBe(0);
    expect(ownerOf(seg)).toEqual(theirs);
    // A file of root's own stays root's, and a new file is root's.
    expect((await runFtpkit(["get", server.url("/t/run.sh"), "new.sh"], { cwd: work })).code).toBe(0);
    expect({ uid: statSync(join(work, "new.sh")).uid, gid: statSync(join(work, "new.sh")).gid }).toEqual({ uid: 0, gid: 0 });
  });
});
