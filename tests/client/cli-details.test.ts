// Small CLI behaviours against real servers: an ls glob shows what a plain ls shows (pyftpdlib sends
// UNIX.mode only after OPTS MLST), and a get of a link to a directory says "use get -r" (vsftpd).
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { removeDir, runFtpkit, startPyftpd, tempDir, type Peer } from "../helpers/peers.ts";
import { chownTo, startVsftpd, vsftpdAvailable, type SystemFtpd } from "../helpers/system-ftpd.ts";

setDefaultTimeout(60_000);

let work: string;
beforeAll(() => {
  work = tempDir("ftpkit-cli-details-");
});
afterAll(() => removeDir(work));

/** The mode column of the line naming `name` in ls output. */
const modeOf = (stdout: string, name: string) => stdout.split("\n").find((l) => l.endsWith(` ${name}`))?.split(" ")[0];

describe("ls with a glob against pyftpdlib", () => {
  let peer: Peer;
  beforeAll(async () => {
    peer = await startPyftpd();
    mkdirSync(join(peer.root, "bin/sub"), { recursive: true });
    writeFileSync(join(peer.root, "bin/run.sh"), "#!/bin/sh\n");
    chmodSync(join(peer.root, "bin/run.sh"), 0o755);
    writeFileSync(join(peer.root, "bin/notes.txt"), "n\n");
    chmodSync(join(peer.root, "bin/notes.txt"), 0o640);
  });
  afterAll(async () => {
    await peer.stop();
    removeDir(peer.root);
  });

  test("shows the same full mode columns (execute bits included) as a plain ls of the directory", async () => {
    const plain = await runFtpkit(["ls", peer.url("/bin")], { cwd: work });
    const glob = await runFtpkit(["ls", peer.url("/bin/*")], { cwd: work });
    expect(plain.code).toBe(0);
    expect(glob.code).toBe(0);
    expect(modeOf(plain.stdout, "run.sh")).toBe("-rwxr-xr-x");
    for (const name of ["run.sh", "notes.txt", "sub"]) expect(modeOf(glob.stdout, name)).toBe(modeOf(plain.stdout, name)!);
    expect(modeOf(glob.stdout, "notes.txt")).toBe("-rw-r-----");
  });
});

describe.skipIf(!vsftpdAvailable())("get of a link to a directory against vsftpd", () => {
  let vs: SystemFtpd;
  beforeAll(async () => {
    vs = await startVsftpd();
    mkdirSync(join(vs.home, "real"));
    writeFileSync(join(vs.home, "real", "f.txt"), "f\n");
    symlinkSync("real", join(vs.home, "alias"));
    chownTo(vs.home, vs.user);
  });
  afterAll(() => vs.stop());

  test("says it is a directory and to use get -r (exit 2), as for the directory itself", async () => {
    const real = await runFtpkit(["get", vs.url("/real"), "out-real"], { cwd: work });
    const alias = await runFtpkit(["get", vs.url("/alias"), "out-alias"], { cwd: work });
    expect(real.code).toBe(2);
    expect(real.stderr).toContain("/real is a directory: fetch it with get -r");
    expect(alias.stderr.trim().split("\n")).toHaveLength(1);
    expect(alias.stderr).toContain("/alias is a directory: fetch it with get -r");
    expect(alias.code).toBe(2);
    // The suggestion works: get -r of the link fetches what it leads to.
    const tree = await runFtpkit(["get", "-r", vs.url("/alias"), "out-tree"], { cwd: work });
    expect(tree.code).toBe(0);
    expect(await Bun.file(join(work, "out-tree", "f.txt")).text()).toBe("f\n");
  });

  test("a link to nothing is still not found (exit 8)", async () => {
    symlinkSync("nowhere", join(vs.home, "dangling"));
    const r = await runFtpkit(["get", vs.url("/dangling"), "out-dangling"], { cwd: work });
    expect(r.code).toBe(8);
    expect(r.stderr).not.toContain("is a directory");
  });
});
