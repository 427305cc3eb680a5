// FTP over an S3 home (radosgw): real clients (curl, lftp, ftplib) and raw commands against a user
// whose home is s3://BUCKET/alice. Skipped only when S3_ENDPOINT is unset (.ci/run sets it).
import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Storage, WriteMode } from "../../server/storage/backend.ts";
import { MAX_DIR_RENAME_OBJECTS, S3Storage } from "../../server/storage/s3.ts";
import { run } from "../interop/run.ts";
import { digest, randomFile } from "../helpers/peers.ts";
import { freshBucket, HAVE_S3, s3Settings, type TestBucket } from "../helpers/s3.ts";
import { useServers } from "../helpers/server.ts";
import { spawnServe, type ServeProcess } from "../helpers/serve-proc.ts";
import { makeUsersFile, type UserSpec } from "../helpers/users.ts";
import { Wire } from "../helpers/wire.ts";
import { scrape } from "../ops/helpers.ts";
import { parseHashReply } from "../../protocol/hash.ts";

const servers = useServers();
/** Error lines the server logged. */
const logged: Array<{ event: string; fields?: Record<string, any> }> = [];
let bucket: TestBucket | null = null;
afterEach(async () => {
  await bucket?.drop();
  bucket = null;
});

/** A server whose alice has her home in a fresh bucket (prefix "alice"); returns that home as storage. */
async function s3Server(extra: UserSpec[] = [], alice: Partial<UserSpec> = {}): Promise<{ home: Storage; port: number; work: string }> {
  bucket = await freshBucket();
  logged.length = 0;
  const logger = { info() {}, warn() {}, error: (event: string, fields?: Record<string, any>) => void logged.push({ event, fields }) };
  const ts = await servers.start({
    users: [{ name: "alice", password: "alice-pw", home: `s3://${bucket.name}/alice`, ...alice }, ...extra],
    options: { logger },
  });
  const work = join(ts.root, "work");
  mkdirSync(work);
  return { home: new S3Storage(s3Settings(), { bucket: bucket.name, prefix: "alice" }), port: ts.port, work };
}

async function put(s: Storage, key: string, data: Uint8Array | string, mode: WriteMode = { kind: "truncate" }): Promise<void> {
  await using up = await s.openWrite(key, mode);
  await up.write(typeof data === "string" ? new TextEncoder().encode(data) : data);
  await up.commit();
}

async function get(s: Storage, key: string): Promise<Uint8Array> {
  const h = await s.openRead(key);
  try {
    const out = new Uint8Array(h.size);
    for (let pos = 0; pos < h.size; ) pos += await h.read(out.subarray(pos), pos);
    return out;
  } finally {
    h.close();
  }
}

const url = (port: number, path = "") => `ftp://alice:alice-pw@127.0.0.1:${port}/${path}`;

describe.skipIf(!HAVE_S3)("FTP over an S3 home", () => {
  test("LIST, SIZE, MDTM and RETR (whole and after REST) of objects; no permission bits", async () => {
    const { home, port, work } = await s3Server();
    const data = randomFile(join(work, "src.bin"), 20 * 1024 * 1024 + 333); // three read chunks
    await put(home, "data.bin", data);
    await home.mkdir("docs");
    const w = await servers.login();
    const list = (await w.transfer("LIST")).data.toString();
    expect(list).toContain("data.bin");
    expect(list).toMatch(/^d.* docs\r?$/m);
    const size = await w.cmd("SIZE data.bin");
    expect([size.code, size.lines[0]]).toEqual([213, String(data.length)]);
    expect((await w.cmd("MDTM data.bin")).code).toBe(213);
    // An object has no permission bits: none is listed, and SITE CHMOD says it cannot set them.
    expect((await w.cmd("MLST data.bin")).lines[1]).not.toContain("UNIX.mode");
    expect(await w.cmd("SITE CHMOD 755 data.bin")).toEqual({ code: 550, lines: ["Permissions cannot be set here"] });
    const r = await run(["curl", "-sS", "-o", join(work, "down.bin"), url(port, "data.bin")], { timeoutMs: 60_000 });
    expect(r.code).toBe(0);
    expect(digest(readFileSync(join(work, "down.bin")))).toBe(digest(data));
    expect((await w.cmd("REST 10000000")).code).toBe(350);
    const tail = await w.transfer("RETR data.bin");
    expect(tail.final?.code).toBe(226);
    expect(digest(tail.data)).toBe(digest(data.subarray(10_000_000)));
  }, 60_000);

  test("MKD, CWD, RNFR/RNTO of a file and a directory, DELE, RMD", async () => {
    const { home } = await s3Server();
    await put(home, "a.txt", "hello");
    const w = await servers.login();
    expect((await w.cmd("MKD dir")).code).toBe(257);
    expect((await w.cmd("MKD dir")).code).toBe(550);
    expect((await w.cmd("CWD dir")).code).toBe(250);
    expect((await w.cmd("CWD /")).code).toBe(250);
    expect((await w.cmd("RNFR a.txt")).code).toBe(350);
    expect((await w.cmd("RNTO dir/b.txt")).code).toBe(250);
    expect(new TextDecoder().decode(await get(home, "dir/b.txt"))).toBe("hello");
    expect((await w.cmd("RMD dir")).code).toBe(550); // not empty
    expect((await w.cmd("RNFR dir")).code).toBe(350);
    expect((await w.cmd("RNTO moved")).code).toBe(250);
    const size = await w.cmd("SIZE moved/b.txt");
    expect([size.code, size.lines[0]]).toEqual([213, "5"]);
    expect((await w.cmd("DELE moved/b.txt")).code).toBe(250);
    expect((await w.cmd("DELE moved/b.txt")).code).toBe(550);
    expect((await w.cmd("RMD moved")).code).toBe(250);
    expect(await bucket!.keys()).toEqual([]);
  }, 60_000);

  test(`RNFR/RNTO of a directory of more than ${MAX_DIR_RENAME_OBJECTS} objects is refused with a clear 550 and moves nothing; ${MAX_DIR_RENAME_OBJECTS} move`, async () => {
    await s3Server();
    const client = bucket!.api.client();
    const keys = Array.from({ length: MAX_DIR_RENAME_OBJECTS + 1 }, (_, i) => `alice/big/f${String(i).padStart(4, "0")}`);
    for (let i = 0; i < keys.length; i += 64) await Promise.all(keys.slice(i, i + 64).map((k) => client.write(k, "x")));
    const w = await servers.login();
    expect((await w.cmd("RNFR big")).code).toBe(350);
    const refused = await w.cmd("RNTO moved");
    expect(refused.code).toBe(550);
    expect(refused.lines.join(" ")).toContain(`directory too large to rename (over ${MAX_DIR_RENAME_OBJECTS} objects)`);
    expect((await bucket!.keys()).sort()).toEqual(keys);
    // At the limit the tree moves.
    await client.delete(keys[0]!);
    expect((await w.cmd("RNFR big")).code).toBe(350);
    expect((await w.cmd("RNTO moved", 110_000)).code).toBe(250);
    const moved = (await bucket!.keys()).sort();
    expect(moved).toEqual(keys.slice(1).map((k) => k.replace("alice/big/", "alice/moved/")));
    // Emptied here, in parallel: the afterEach hook deletes one key at a time within its own deadline.
    for (let i = 0; i < moved.length; i += 64) await Promise.all(moved.slice(i, i + 64).map((k) => client.delete(k)));
  }, 120_000);

  test("HASH and XMD5 of an object match its bytes", async () => {
    const { home } = await s3Server();
    const data = crypto.getRandomValues(new Uint8Array(50_000));
    await put(home, "f.bin", data);
    const w = await servers.login();
    const r = await w.cmd("HASH f.bin");
    expect(r.code).toBe(213);
    expect(r.lines[0]).toContain(digest(data));
    const md5 = await w.cmd("XMD5 f.bin"); // no stored MD5: streamed from the object
    expect([md5.code, md5.lines[0]]).toEqual([250, digest(data, "md5")]);
  }, 60_000);

  test("a HASH right after a download of an object another tool stored is answered from the digest the download computed, not by reading the object again; a changed object gets its new digest", async () => {
    bucket = await freshBucket();
    const ts = await servers.start({
      users: [{ name: "alice", password: "alice-pw", home: `s3://${bucket.name}/alice` }],
      options: { ops: { metrics: { host: "127.0.0.1", port: 0 } } },
    });
    const hashRead = async () => (await scrape(ts.server.ops.metricsPort!)).get("ftpkit_hash_read_bytes_total") ?? NaN;
    // Stored by another tool: no digest of ftpkit's in its metadata or tags.
    const data = crypto.getRandomValues(new Uint8Array(300_000));
    await bucket.api.client().write("alice/f.bin", data);
    const w = await servers.login();
    expect((await w.cmd("OPTS HASH SHA-256")).code).toBe(200);
    expect((await w.transfer("RETR f.bin")).data.equals(Buffer.from(data))).toBe(true);
    const r = await w.cmd("HASH f.bin");
    expect([r.code, parseHashReply(r.lines[0]!).hex]).toEqual([213, digest(data)]);
    // Before: the object was read a second time (its 300,000 bytes) for the HASH.
    expect(await hashRead()).toBe(0);
    const changed = crypto.getRandomValues(new Uint8Array(300_000));
    await bucket.api.client().write("alice/f.bin", changed);
    const again = await w.cmd("HASH f.bin");
    expect([again.code, parseHashReply(again.lines[0]!).hex]).toEqual([213, digest(changed)]);
    expect(await hashRead()).toBe(300_000);
  }, 60_000);

  test("the jail: a sibling prefix is never reachable", async () => {
    const { home } = await s3Server();
    const sibling = new S3Storage(s3Settings(), { bucket: bucket!.name, prefix: "alice2" });
    await put(sibling, "secret", "s");
    await put(home, "mine", "m");
    const w = await servers.login();
    expect((await w.transfer("NLST")).data.toString().trim()).toBe("mine");
    for (const p of ["../alice2/secret", "/../alice2/secret", "..%2falice2/secret"]) {
      expect((await w.cmd(`SIZE ${p}`)).code).toBe(550);
    }
  }, 60_000);

  test("a bucket deleted while the user is logged in: listings and uploads say 550 Directory not available, not an empty home and 'No such file' (nor 450, which clients retry for ever)", async () => {
    const { home } = await s3Server();
    await put(home, "a.txt", "hello");
    const w = await servers.login();
    expect((await w.transfer("NLST")).data.toString().trim()).toBe("a.txt");
    await bucket!.drop();
    const list = await w.transfer("LIST");
    expect([list.first.code, list.final?.code ?? list.first.code]).toContain(550);
    expect(list.data.length).toBe(0);
    const stor = await w.transfer("STOR b.txt", new TextEncoder().encode("x"));
    expect(stor.final?.code ?? stor.first.code).toBe(550);
    for (const c of ["MKD d", "SIZE a.txt", "CWD d"]) {
      const r = await w.cmd(c);
      expect(`${r.code} ${r.lines.join(" ")}`).toBe("550 Directory not available");
    }
  }, 60_000);

  test("a mount in a missing bucket answers 550 Directory not available, as a local mount whose directory is missing (450 to everything kept lftp retrying for ever), and names no bucket", async () => {
    await s3Server([], { mounts: [{ vpath: "/arch", dir: "s3://ftpkit-no-such-bucket-3/x", perms: ["read", "write", "modify"], quota: 0 }] });
    const w = await servers.login();
    for (const c of ["CWD /arch", "SIZE /arch/a.txt", "MLST /arch", "MKD /arch/d"]) {
      const r = await w.cmd(c);
      expect(`${c}: ${r.code} ${r.lines.join(" ")}`).toBe(`${c}: 550 Directory not available`);
    }
    const list = await w.transfer("LIST /arch", undefined);
    expect(list.final?.code ?? list.first.code).toBe(550);
    expect(JSON.stringify(list)).not.toContain("ftpkit-no-such-bucket");
    // The rest of the account works.
    expect((await w.cmd("PWD")).code).toBe(257);
  }, 60_000);

  test("a missing bucket refuses only that user's login, without naming the bucket, and says why in the log", async () => {
    await s3Server([{ name: "bob", password: "bob-pw", home: "s3://ftpkit-no-such-bucket/bob" }]);
    const w = await servers.connect();
    await w.read();
    await w.cmd("USER bob");
    const refused = await w.cmd("PASS bob-pw");
    expect(refused.code).toBe(530);
    expect(refused.lines.join(" ")).not.toContain("ftpkit-no-such-bucket");
    const alice = await servers.login();
    expect((await alice.cmd("PWD")).code).toBe(257);
    const lines = logged.filter((l) => l.fields?.user === "bob" || l.fields?.place?.includes("ftpkit-no-such-bucket"));
    expect(lines).toContainEqual({ event: "login refused: home directory unavailable", fields: expect.objectContaining({ reason: "the bucket does not exist" }) });
    expect(lines).toContainEqual({ event: "object store unavailable", fields: { place: "s3://ftpkit-no-such-bucket/bob", reason: "the bucket does not exist" } });
  }, 60_000);
});

describe.skipIf(!HAVE_S3)("ftpkit serve", () => {
  test("--s3-endpoint wins over S3_ENDPOINT", async () => {
    bucket = await freshBucket();
    const dir = mkdtempSync(join(tmpdir(), "ftpkit-s3serve-"));
    const real = process.env.S3_ENDPOINT!;
    let serve: ServeProcess | null = null;
    try {
      const file = await makeUsersFile(dir, [{ name: "alice", password: "alice-pw", home: `s3://${bucket.name}/alice` }]);
      process.env.S3_ENDPOINT = "http://127.0.0.1:9"; // nothing listens there: only the flag can work
      try {
        serve = await spawnServe(["--users", file, "--s3-endpoint", real], { cwd: dir });
      } finally {
        process.env.S3_ENDPOINT = real;
      }
      const w = await Wire.connect(serve.port);
      try {
        expect((await w.login("alice", "alice-pw")).code).toBe(230);
        expect((await w.cmd("MKD made")).code).toBe(257);
      } finally {
        w.close();
      }
      expect(await bucket.keys()).toEqual(["alice/made/"]);
    } finally {
      await serve?.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

/** Wait (bounded) until `check` holds, polling the output of a spawned server. */
async function until(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(25);
  }
}

describe.skipIf(!HAVE_S3)("ftpkit serve start-up report", () => {
  let dir = "";
  let serve: ServeProcess | null = null;
  afterEach(async () => {
    await serve?.kill();
    serve = null;
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = "";
  });

  const users = (name: string): UserSpec[] => [
    { name: "alice", password: "alice-pw", home: `s3://${name}/alice` },
    { name: "bob", password: "bob-pw", home: "s3://ftpkit-no-such-bucket/bob" },
    { name: "carl", password: "carl-pw", mounts: [{ vpath: "/arch", dir: "s3://ftpkit-no-such-bucket-2/x", perms: ["read"], quota: 0 }] },
  ];

  test("one line names the endpoint and buckets of S3 homes and mounts, never the secret; missing buckets are one error line (and bob's login 530)", async () => {
    bucket = await freshBucket();
    dir = mkdtempSync(join(tmpdir(), "ftpkit-s3report-"));
    serve = await spawnServe(["--users", await makeUsersFile(dir, users(bucket.name))], { cwd: dir });
    const out = () => serve!.stdout() + serve!.stderr();
    await until(() => out().includes("object store unavailable"), "the probe's error line");
    const lines = out().split("\n");
    const info = lines.filter((l) => l.includes("object storage"));
    expect(info).toHaveLength(1);
    expect(info[0]).toContain(`endpoint=${process.env.S3_ENDPOINT}`);
    expect(info[0]).toContain(`buckets="ftpkit-no-such-bucket, ftpkit-no-such-bucket-2, ${bucket.name}"`);
    expect(info[0]).toContain("S3_ACCESS_KEY_ID");
    expect(out()).not.toContain(process.env.S3_SECRET_ACCESS_KEY!);
    const errors = lines.filter((l) => l.includes("object store unavailable"));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('buckets="ftpkit-no-such-bucket, ftpkit-no-such-bucket-2"');
    expect(errors[0]).toContain('reason="the bucket does not exist"');
    const w = await Wire.connect(serve.port);
    try {
      expect((await w.login("alice", "alice-pw")).code).toBe(230);
    } finally {
      w.close();
    }
    const b = await Wire.connect(serve.port);
    try {
      expect((await b.login("bob", "bob-pw")).code).toBe(530);
    } finally {
      b.close();
    }
  }, 60_000);

  test("an unreachable endpoint is one error line for all its buckets, a user with a local home keeps working, and one on the store gets 421", async () => {
    dir = mkdtempSync(join(tmpdir(), "ftpkit-s3report-"));
    serve = await spawnServe(["--users", await makeUsersFile(dir, users("ftpkit-some-bucket")), "--s3-endpoint", "http://127.0.0.1:9"], { cwd: dir });
    const out = () => serve!.stdout() + serve!.stderr();
    await until(() => out().includes("object store unavailable"), "the probe's error line");
    const errors = out()
      .split("\n")
      .filter((l) => l.includes("object store unavailable"));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain("endpoint=http://127.0.0.1:9");
    expect(errors[0]).toContain('reason="the object store is unreachable"');
    const w = await Wire.connect(serve.port);
    try {
      expect((await w.login("carl", "carl-pw")).code).toBe(230);
      expect((await w.cmd("PWD")).code).toBe(257);
    } finally {
      w.close();
    }
    // A home on the store that does not answer: 421, come back later (it was 530, a refused login,
    // and clients gave up); a missing bucket on a store that answers stays 530 (the test above).
    const a = await Wire.connect(serve.port);
    try {
      const r = await a.login("alice", "alice-pw");
      expect([r.code, r.lines[0]]).toEqual([421, "Service not available (storage unreachable), try again later"]);
    } finally {
      a.close();
    }
  }, 60_000);
});

describe.skipIf(!HAVE_S3)("/readyz", () => {
  test("checks S3 homes on their object store: a home in an existing bucket is reachable, one in a missing bucket is not (503)", async () => {
    bucket = await freshBucket();
    const ts = await servers.start({
      users: [
        { name: "alice", password: "alice-pw", home: `s3://${bucket.name}/alice` },
        { name: "bob", password: "bob-pw", home: "s3://ftpkit-no-such-bucket/bob" },
      ],
      options: { ops: { metrics: { host: "127.0.0.1", port: 0 } } },
    });
    const r = await fetch(`http://127.0.0.1:${ts.server.ops.metricsPort}/readyz`);
    expect(r.status).toBe(503);
    expect(await r.text()).toContain("storage FAIL: 1/2 homes reachable");
  }, 60_000);
});

describe.skipIf(!HAVE_S3)("an S3 mount in a local home", () => {
  test("the mount is listed, takes uploads into the bucket and keeps its own quota", async () => {
    bucket = await freshBucket();
    await servers.start({
      users: [
        {
          name: "alice",
          password: "alice-pw",
          mounts: [{ vpath: "/archive", dir: `s3://${bucket.name}/2026`, perms: ["read", "write", "modify"], quota: 10_000 }],
        },
      ],
    });
    const w = await servers.login();
    expect((await w.transfer("NLST")).data.toString()).toContain("archive");
    const ok = await w.transfer("STOR /archive/a.bin", new Uint8Array(6_000).fill(1));
    expect(ok.final?.code).toBe(226);
    expect(await bucket.keys()).toEqual(["2026/a.bin"]);
    const over = await w.transfer("STOR /archive/b.bin", new Uint8Array(6_000).fill(2));
    expect(over.final?.code ?? over.first.code).toBe(552);
    expect(await bucket.keys()).toEqual(["2026/a.bin"]);
    expect(await bucket.pending()).toEqual([]);
    // The home is still the local directory.
    expect((await w.transfer("STOR local.txt", new TextEncoder().encode("here"))).final?.code).toBe(226);
    expect(await bucket.keys()).toEqual(["2026/a.bin"]);
  }, 60_000);
});

describe.skipIf(!HAVE_S3)("AVBL on S3", () => {
  test("an S3 home without a quota answers 550 (the store cannot tell), not 2^53-1; with a quota, the room left", async () => {
    await s3Server();
    const w = await servers.login();
    const r = await w.cmd("AVBL");
    // Before: 213 9007199254740991, a made-up number a client could trust to decide an upload fits.
    expect(r.code).toBe(550);
    expect(r.lines.join(" ")).not.toMatch(/\d{6,}/);
    expect((await w.cmd("NOOP")).code).toBe(200);
    w.close();
    await bucket!.drop();
    const { home } = await s3Server([], { quota: 100_000 });
    await put(home, "have.bin", new Uint8Array(30_000));
    const q = await servers.login();
    const a = await q.cmd("AVBL");
    expect([a.code, a.lines[0]]).toEqual([213, "70000"]);
  }, 60_000);

  test("S3 mounts in a local home: the one without a quota answers 550, the one with a quota its room, the local home its free disk", async () => {
    bucket = await freshBucket();
    const ts = await servers.start({
      users: [
        {
          name: "alice",
          password: "alice-pw",
          mounts: [
            { vpath: "/open", dir: `s3://${bucket.name}/open`, perms: ["read", "write", "modify"], quota: 0 },
            { vpath: "/boxed", dir: `s3://${bucket.name}/boxed`, perms: ["read", "write", "modify"], quota: 10_000 },
          ],
        },
      ],
    });
    const w = await servers.login();
    expect((await w.cmd("AVBL /open")).code).toBe(550);
    expect((await w.cmd("CWD /open")).code).toBe(250);
    expect((await w.cmd("AVBL")).code).toBe(550);
    const boxed = await w.cmd("AVBL /boxed");
    expect([boxed.code, boxed.lines[0]]).toEqual([213, "10000"]);
    // The local home: statfs's free bytes, as before.
    const local = await w.cmd("AVBL /");
    expect(local.code).toBe(213);
    const st = statfsSync(ts.home("alice"));
    expect(Math.abs(Number(local.lines[0]) - st.bavail * st.bsize)).toBeLessThan(64 * 1024 * 1024);
  }, 60_000);
});

describe.skipIf(!HAVE_S3)("uploads to an S3 home", () => {
  test("curl, lftp and ftplib uploads round-trip by sha256", async () => {
    const { home, port, work } = await s3Server();
    const data = randomFile(join(work, "up.bin"), 12 * 1024 * 1024 + 5); // two parts
    expect((await run(["curl", "-sS", "-T", join(work, "up.bin"), url(port, "curl.bin")], { timeoutMs: 60_000 })).code).toBe(0);
    expect(digest(await get(home, "curl.bin"))).toBe(digest(data));
    const lftp = await run(
      ["lftp", "-u", "alice,alice-pw", "-p", String(port), "-e", "set ftp:ssl-allow no; set net:max-retries 1; set cmd:fail-exit yes; put up.bin -o lftp.bin; bye", "127.0.0.1"],
      { cwd: work, timeoutMs: 60_000 },
    );
    expect(lftp.code).toBe(0);
    expect(digest(await get(home, "lftp.bin"))).toBe(digest(data));
    const py = `
import ftplib, sys
ftp = ftplib.FTP(timeout=30); ftp.connect("127.0.0.1", int(sys.argv[1])); ftp.login("alice", "alice-pw")
with open("up.bin", "rb") as f: ftp.storbinary("STOR py.bin", f)
ftp.quit()`;
    writeFileSync(join(work, "up.py"), py);
    expect((await run(["python3", "up.py", String(port)], { cwd: work, timeoutMs: 60_000 })).code).toBe(0);
    expect(digest(await get(home, "py.bin"))).toBe(digest(data));
    expect(await bucket!.pending()).toEqual([]);
  }, 60_000);

  test("resume both ways: REST+RETR with curl -C, APPE and REST+STOR", async () => {
    const { home, port, work } = await s3Server();
    const data = randomFile(join(work, "full.bin"), 9 * 1024 * 1024);
    await put(home, "full.bin", data);
    writeFileSync(join(work, "part.bin"), data.subarray(0, 3_000_000));
    const down = await run(["curl", "-sS", "-C", "-", "-o", join(work, "part.bin"), url(port, "full.bin")], { timeoutMs: 60_000 });
    expect(down.code).toBe(0);
    expect(digest(readFileSync(join(work, "part.bin")))).toBe(digest(data));
    // Upload resume: the server has the first 6 MiB (over S3's 5 MiB part minimum: copied server-side).
    await put(home, "up.bin", data.subarray(0, 6 * 1024 * 1024));
    const up = await run(["curl", "-sS", "-C", "-", "-T", join(work, "full.bin"), url(port, "up.bin")], { timeoutMs: 60_000 });
    expect(up.code).toBe(0);
    expect(digest(await get(home, "up.bin"))).toBe(digest(data));
    const w = await servers.login();
    await put(home, "r.bin", data.subarray(0, 1000));
    expect((await w.cmd("REST 500")).code).toBe(350);
    const st = await w.transfer("STOR r.bin", data.subarray(500, 2000));
    expect(st.final?.code).toBe(226);
    expect(digest(await get(home, "r.bin"))).toBe(digest(data.subarray(0, 2000)));
    expect(await bucket!.pending()).toEqual([]);
  }, 60_000);

  test("an object being appended to takes no second APPE or REST+STOR: 450 before its 150, and the first completes", async () => {
    const { home } = await s3Server();
    await put(home, "log.txt", "line 1\n");
    const a = await servers.login();
    const port = Number(/\|\|\|(\d+)\|/.exec((await a.cmd("EPSV")).lines[0]!)![1]);
    const data = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
    expect((await a.cmd("APPE log.txt")).code).toBe(150);
    const b = await servers.login();
    for (const [pre, line] of [["", "APPE log.txt"], ["REST 3", "STOR log.txt"]] as const) {
      if (pre) expect((await b.cmd(pre)).code).toBe(350);
      const r = await b.transfer(line, new TextEncoder().encode("theirs\n"));
      // Before: 150, all the data, then 450 at the commit.
      expect([r.first.code, r.final?.code ?? null]).toEqual([450, null]);
      expect(r.first.lines.join(" ")).toContain("being uploaded by another session");
    }
    data.write("line 2\n");
    data.end();
    expect((await a.read(10_000))?.code).toBe(226);
    expect(new TextDecoder().decode(await get(home, "log.txt"))).toBe("line 1\nline 2\n");
    // Free again once it ended.
    expect((await b.transfer("APPE log.txt", new TextEncoder().encode("line 3\n"))).final?.code).toBe(226);
    expect(new TextDecoder().decode(await get(home, "log.txt"))).toBe("line 1\nline 2\nline 3\n");
  }, 60_000);

  test("two directory renames at once: onto one new name, one gets 250 and the other 550, nothing merged or lost; one directory to two names, only one succeeds", async () => {
    const { home } = await s3Server();
    for (const d of ["P", "Q", "D"]) await home.mkdir(d);
    for (const d of ["P", "Q"]) for (let i = 0; i < 8; i++) await put(home, `${d}/f${i}`, d.repeat(10));
    await put(home, "D/x", "x");
    const [a, b] = [await servers.login(), await servers.login()];
    const race = async (pairs: Array<[Wire, string, string]>) => {
      for (const [w, from] of pairs) expect((await w.cmd(`RNFR ${from}`)).code).toBe(350);
      for (const [w, , to] of pairs) w.raw(`RNTO ${to}\r\n`); // sent together: both checks before either move
      return Promise.all(pairs.map(async ([w]) => (await w.read(30_000))?.code));
    };
    // Before: 250 and 250, T held 8 files of one source and the other's 8 were gone.
    expect((await race([[a, "P", "T"], [b, "Q", "T"]])).sort()).toEqual([250, 550]);
    const names = async (dir: string) => new TextDecoder().decode((await (await servers.login()).transfer(`NLST ${dir}`)).data).trim().split("\r\n").filter(Boolean).sort();
    expect(await names("T")).toHaveLength(8);
    const left = (await names("P")).length ? "P" : "Q";
    expect(await names(left)).toHaveLength(8);
    // Before: 250 and 250, one of the names did not exist.
    expect((await race([[a, "D", "D1"], [b, "D", "D2"]])).sort()).toEqual([250, 550]);
    expect([(await names("D1")).length, (await names("D2")).length].sort()).toEqual([0, 1]);
  }, 60_000);

  test("quota: an upload past the limit gets 552 and leaves no object", async () => {
    const { home } = await s3Server([], { quota: 100_000 });
    await put(home, "have.bin", new Uint8Array(60_000));
    const w = await servers.login();
    const r = await w.transfer("STOR big.bin", new Uint8Array(80_000));
    expect(r.final?.code ?? r.first.code).toBe(552);
    expect(await bucket!.keys()).toEqual(["alice/have.bin"]);
    expect(await bucket!.pending()).toEqual([]);
  }, 60_000);

  test("a killed upload leaves no object and no pending multipart upload", async () => {
    const { port, work } = await s3Server();
    randomFile(join(work, "big.bin"), 40 * 1024 * 1024);
    const proc = Bun.spawn(["curl", "-s", "--limit-rate", "8M", "-T", join(work, "big.bin"), url(port, "killed.bin")], { stdout: "ignore", stderr: "ignore" });
    try {
      // Past the first parts: a multipart upload exists on the server.
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline && (await bucket!.pending()).length === 0) await Bun.sleep(100);
      expect((await bucket!.pending()).length).toBe(1);
    } finally {
      proc.kill(9);
      await proc.exited;
    }
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && (await bucket!.pending()).length > 0) await Bun.sleep(100);
    expect(await bucket!.pending()).toEqual([]);
    expect(await bucket!.keys()).toEqual([]);
  }, 60_000);
});
