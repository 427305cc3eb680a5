// Keys other tools put in an S3 home that no FTP path can name ("a//b", "d/./z", "x/../y", "m/.",
// bytes in a directory's marker "k/"): their directories list empty, and RMD says why it cannot
// remove them instead of a bare "Directory not empty" for ever. Skipped only without S3_ENDPOINT.
import { afterEach, describe, expect, test } from "bun:test";
import { freshBucket, HAVE_S3, s3Settings, type TestBucket } from "../helpers/s3.ts";
import { S3Storage } from "../../server/storage/s3.ts";
import { putObject } from "../../server/storage/s3-object.ts";
import { useServers } from "../helpers/server.ts";

const servers = useServers();
let bucket: TestBucket | null = null;
afterEach(async () => {
  await bucket?.drop();
  bucket = null;
});

/** PUT `key` as it is: curl --path-as-is keeps the "." and ".." segments fetch would fold (radosgw stores them so). */
async function putRaw(b: TestBucket, key: string, body: string): Promise<void> {
  const { S3_ENDPOINT, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, S3_REGION } = process.env;
  const sha = new Bun.CryptoHasher("sha256").update(body).digest("hex");
  const curl = Bun.spawn(
    ["curl", "-sS", "--path-as-is", "--aws-sigv4", `aws:amz:${S3_REGION ?? "us-east-1"}:s3`, "--user", `${S3_ACCESS_KEY_ID}:${S3_SECRET_ACCESS_KEY}`,
     "-H", `x-amz-content-sha256: ${sha}`, "-X", "PUT", "--data-binary", body, "-o", "/dev/null", "-w", "%{http_code}", `${S3_ENDPOINT}/${b.name}/${key}`],
    { stdout: "pipe", stderr: "pipe" },
  );
  expect(await new Response(curl.stdout).text()).toBe("200");
}

const ODD = ["alice/a//b", "alice/d/./z", "alice/x/../y", "alice/m/.", "alice/k/"];

describe.skipIf(!HAVE_S3)("keys no FTP path reaches", () => {
  test("RMD of a directory that lists empty but holds such keys says why it fails, and deletes none of them; an ordinary non-empty directory gets the plain reply", async () => {
    bucket = await freshBucket();
    for (const key of ODD) await putRaw(bucket, key, "data");
    await putRaw(bucket, "alice/n/f", "data");
    await servers.start({ users: [{ name: "alice", password: "alice-pw", home: `s3://${bucket.name}/alice` }] });
    const w = await servers.login();
    const names = async (dir: string) => (await w.transfer(`NLST ${dir}`)).data.toString().split("\r\n").filter(Boolean);
    expect((await names("")).sort()).toEqual(["a", "d", "k", "m", "n", "x"]);
    for (const dir of ["a", "d", "k", "m", "x"]) {
      expect(await names(dir)).toEqual([]);
      const r = await w.cmd(`RMD ${dir}`);
      // Before: "550 Directory not empty", as for n, though LIST showed nothing to remove.
      expect(r.code).toBe(550);
      expect(r.lines[0]).toStartWith("Directory not empty: it holds objects another tool named so that no FTP path reaches them");
      expect(r.lines.join(" ")).not.toContain(bucket.name);
    }
    expect(await w.cmd("RMD n")).toEqual({ code: 550, lines: ["Directory not empty"] });
    expect((await bucket.keys()).sort()).toEqual([...ODD, "alice/n/f"].sort());
  }, 60_000);

  test("a directory holding keys with \".\" and \"..\" segments renames with all of them, bytes intact", async () => {
    bucket = await freshBucket();
    const b = bucket;
    const inside = ["f", "./dot", "../up", "m/.", "m/..", "q/./r"];
    for (const k of inside) await putRaw(b, `alice/r/${k}`, `body of ${k}`);
    await servers.start({ users: [{ name: "alice", password: "alice-pw", home: `s3://${b.name}/alice` }] });
    const w = await servers.login();
    expect((await w.cmd("RNFR r")).code).toBe(350);
    // Before: "550 Permission denied" (fetch sent /r/./dot as /r/dot, signed for another path: 403).
    expect(await w.cmd("RNTO s")).toEqual({ code: 250, lines: ["Rename successful"] });
    expect((await b.keys()).sort()).toEqual(inside.map((k) => `alice/s/${k}`).sort());
    for (const k of inside) {
      const res = await b.api.send({ method: "GET", key: `alice/s/${k}` });
      expect(await res.text()).toBe(`body of ${k}`);
    }
    expect((await w.transfer("RETR s/f")).data.toString()).toBe("body of f");
  }, 60_000);

  test("a file x and a directory x/ on different pages of a listing (1,000 keys each): the file alone is listed, as on one page", async () => {
    bucket = await freshBucket();
    const b = bucket;
    // "x", then 1,000 keys "x-0000"… that sort before "x/" ('-' is below '/'): page 1 ends at x-0998, page 2 holds x-0999 and x/.
    const keys = ["h/x", ...Array.from({ length: 1000 }, (_, i) => `h/x-${String(i).padStart(4, "0")}`), "h/x/f", "h/y", "h/y/f"];
    for (let i = 0; i < keys.length; i += 32) await Promise.all(keys.slice(i, i + 32).map((k) => putObject(b.api, k, new TextEncoder().encode("1"))));
    const storage = new S3Storage(s3Settings(), { bucket: b.name, prefix: "h" });
    const pages: string[][] = [];
    for await (const batch of await storage.listBatches("")) pages.push(batch.map((e) => `${e.name}${e.type === "dir" ? "/" : ""}`));
    expect(pages.map((p) => p.length)).toEqual([1000, 2]);
    // Before: page 2 was ["x-0999", "x/", "y"], a directory x beside the file x of page 1 (y and y/ share a page: y alone).
    expect(pages[1]).toEqual(["x-0999", "y"]);
    expect(pages[0]![0]).toBe("x");
    expect((await storage.stat("x")).type).toBe("file");
  }, 120_000);

  test("STOR, APPE and REST+STOR of a key that is also a directory, or under a key that is also a file, are refused before the 150; the objects are kept", async () => {
    bucket = await freshBucket();
    const b = bucket;
    for (const key of ["alice/dual", "alice/dual/x"]) await putObject(b.api, key, new TextEncoder().encode("v"));
    await servers.start({ users: [{ name: "alice", password: "alice-pw", home: `s3://${b.name}/alice` }] });
    const w = await servers.login();
    // Planned as an overwrite of the object "dual" (or "dual/x"); the upload's open found the prefix
    // "dual/" (or the object "dual" as the parent) only after the 150 and the client's data.
    for (const [pre, line, text] of [["", "STOR dual", "Is a directory"], ["", "APPE dual", "Is a directory"], ["REST 1", "STOR dual", "Is a directory"], ["", "STOR dual/x", "Not a directory"], ["", "APPE dual/x", "Not a directory"]] as const) {
      if (pre) expect((await w.cmd(pre)).code).toBe(350);
      const r = await w.transfer(line, new TextEncoder().encode("new"));
      expect({ line, first: r.first }).toEqual({ line, first: { code: 550, lines: [text] } });
    }
    expect((await b.keys()).sort()).toEqual(["alice/dual", "alice/dual/x"]);
    // Both still read as before.
    expect((await w.transfer("RETR dual/x")).data.toString()).toBe("v");
  }, 60_000);
});

test("through an https:// endpoint (fetch only), a key with a \".\" segment is refused at once, not sent as another key", async () => {
  const { S3Api } = await import("../../server/storage/s3-request.ts");
  const api = new S3Api({ endpoint: "https://127.0.0.1:1", accessKeyId: "k", secretAccessKey: "s", region: "us-east-1" }, "b");
  const started = Date.now();
  const err = await api.send({ method: "GET", key: "h/./x" }).catch((e: unknown) => e);
  expect(err).toMatchObject({ kind: "unsupported", detail: 'a key with a "." or ".." segment is reachable only through a plain http:// endpoint' });
  // Not retried as a transport failure (100 + 400 + 1,600 ms of pauses).
  expect(Date.now() - started).toBeLessThan(100);
  expect(api.signed({ method: "GET", key: "h/./x/.." }).target).toBe("/b/h/%2E/x/%2E%2E");
});
