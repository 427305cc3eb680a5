// Real clients a user already has (rclone, lftp, curl, ftplib) against a home moved onto S3 (radosgw):
// what worked on a local home keeps working. Skipped only when S3_ENDPOINT is unset (.ci/run sets it).
import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "../interop/run.ts";
import { freshBucket, HAVE_S3, type TestBucket } from "../helpers/s3.ts";
import { useServers } from "../helpers/server.ts";
import type { UserSpec } from "../helpers/users.ts";

const servers = useServers();
let bucket: TestBucket | null = null;
afterEach(async () => {
  await bucket?.drop();
  bucket = null;
});

/** A server whose alice has her home in a fresh bucket (prefix "alice"); returns its port and a local work folder. */
async function s3Server(extra: UserSpec[] = []): Promise<{ port: number; work: string }> {
  bucket = await freshBucket();
  const ts = await servers.start({ users: [{ name: "alice", password: "alice-pw", home: `s3://${bucket.name}/alice` }, ...extra] });
  const work = join(ts.root, "work");
  mkdirSync(work);
  return { port: ts.port, work };
}

const features = async (user?: string) => {
  const w = user ? await servers.login(user, `${user}-pw`) : await servers.connect();
  if (!user) await w.read();
  return (await w.cmd("FEAT")).lines.map((l) => l.trim());
};

describe.skipIf(!HAVE_S3)("clients on an S3 home", () => {
  test("rclone copy and sync exit 0: after login FEAT offers no MFMT an S3 home cannot do (rclone counted each 550 as a failed upload)", async () => {
    const { port, work } = await s3Server([{ name: "bob", password: "bob-pw" }]);
    mkdirSync(join(work, "src"));
    writeFileSync(join(work, "src/a.txt"), "version one\n");
    writeFileSync(join(work, "src/b.txt"), "bee\n");
    const obscured = (await run(["rclone", "obscure", "alice-pw"])).stdout.trim();
    const remote = `:ftp,host=127.0.0.1,port=${port},user=alice,pass=${obscured}:up`;
    const rclone = (...args: string[]) =>
      run(["rclone", "--config", "/dev/null", "--contimeout", "5s", "--timeout", "20s", "--retries", "1", ...args], { cwd: work, timeoutMs: 50_000 });
    const copy = await rclone("copy", "src", remote);
    expect(copy.stderr).not.toContain("SetModTime: 550");
    expect(copy.code).toBe(0);
    expect((await bucket!.keys()).sort()).toEqual(["alice/up/", "alice/up/a.txt", "alice/up/b.txt"]) // rclone MKDs "up" first;
    writeFileSync(join(work, "src/a.txt"), "version two, longer\n");
    const sync = await rclone("sync", "src", remote);
    expect(sync.code).toBe(0);
    expect(await bucket!.api.client().file("alice/up/a.txt").text()).toBe("version two, longer\n");
    // Before login nothing is known of the user's tree: MFMT is offered; a local home keeps it.
    expect(await features()).toContain("MFMT");
    expect(await features("alice")).not.toContain("MFMT");
    expect(await features("bob")).toContain("MFMT");
  }, 120_000);

  test("after login an all-S3 user is offered no MLST fact S3 cannot give (unique, UNIX.mode), and HELP does not list the MFMT FEAT hides", async () => {
    await s3Server([{ name: "bob", password: "bob-pw" }]);
    const mlst = async (user: string) => (await features(user)).find((l) => l.startsWith("MLST "));
    // Before: "MLST type*;size*;sizd*;modify*;perm*;unique*;UNIX.mode*;" for every user.
    expect(await mlst("alice")).toBe("MLST type*;size*;sizd*;modify*;perm*;");
    expect(await mlst("bob")).toBe("MLST type*;size*;sizd*;modify*;perm*;unique*;UNIX.mode*;");
    const help = async (user: string) => (await (await servers.login(user, `${user}-pw`)).cmd("HELP")).lines.join(" ");
    expect(await help("alice")).not.toContain("MFMT");
    expect(await help("bob")).toContain("MFMT");
  }, 60_000);

  test("a tree another tool uploaded (no directory markers) is removed by lftp rm -r and rclone purge: its directories stay until their RMD", async () => {
    const { port, work } = await s3Server();
    const client = bucket!.api.client();
    // As `aws s3 sync` or rclone's S3 backend copy a home in: objects only, no "dir/" markers.
    const tree = ["t1/a.txt", "t1/sub dir/b.txt", "t1/sub dir/deep/c.txt"];
    for (const home of ["alice/x/", "alice/y/"]) for (const k of tree) await client.write(home + k, k);
    const lftp = await run(["lftp", "-u", "alice,alice-pw", "-p", String(port), "127.0.0.1", "-e", "set net:max-retries 1; rm -r x/t1; quit"], { cwd: work, timeoutMs: 50_000 });
    // Before: each directory vanished with its last object, and its RMD got 550 No such file or directory.
    expect(lftp.stderr).toBe("");
    expect(lftp.code).toBe(0);
    const obscured = (await run(["rclone", "obscure", "alice-pw"])).stdout.trim();
    const remote = `:ftp,host=127.0.0.1,port=${port},user=alice,pass=${obscured}:y/t1`;
    const purge = await run(["rclone", "--config", "/dev/null", "--contimeout", "5s", "--timeout", "20s", "--retries", "1", "purge", remote], { cwd: work, timeoutMs: 50_000 });
    expect(purge.stderr).not.toContain("ERROR");
    expect(purge.code).toBe(0);
    // What stays are the two parents, which held nothing else: each keeps its marker, as a disk keeps an empty directory.
    expect((await bucket!.keys()).sort()).toEqual(["alice/x/", "alice/y/"]);
  }, 120_000);

  test("two uploads that each fit the quota but not together: one is stored (the refused one gives its booking back before its abort's round trip)", async () => {
    const MB = 1_000_000;
    bucket = await freshBucket();
    await servers.start({ users: [{ name: "alice", password: "alice-pw", home: `s3://${bucket.name}/alice`, quota: 30 * MB }] });
    const [x, y] = [await servers.login(), await servers.login()];
    const fill = (n: number) => crypto.getRandomValues(new Uint8Array(n));
    expect((await x.transfer("STOR keep.bin", fill(15 * MB))).final?.code).toBe(226);
    for (let round = 0; round < 4; round++) {
      const replies = await Promise.all([x.transfer("STOR a.bin", fill(12 * MB)), y.transfer("STOR b.bin", fill(9 * MB))]);
      const codes = replies.map((r) => r.final?.code ?? r.first.code);
      // Before: both often got 552, the one refused first holding its bytes until the store confirmed its abort.
      expect(codes.filter((c) => c === 226)).toHaveLength(1);
      expect(codes.filter((c) => c === 552)).toHaveLength(1);
      const stored = (await bucket!.keys()).filter((k) => k !== "alice/keep.bin");
      expect(stored).toHaveLength(1);
      expect((await x.cmd(`DELE ${stored[0]!.slice("alice/".length)}`)).code).toBe(250);
    }
    expect(await bucket!.pending()).toEqual([]);
  }, 120_000);
});
