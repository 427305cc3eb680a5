// One storage contract, two backends: the local directory and S3 (a fresh bucket per test) must
// answer the same way, so they cannot drift apart. The S3 half runs when S3_ENDPOINT is set.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StorageError, type Storage, type StorageErrorKind, type WriteMode } from "../../server/storage/backend.ts";
import { LocalStorage } from "../../server/storage/local.ts";
import { TEMP_DIR } from "../../server/storage/local-temp.ts";
import { isReservedName } from "../../server/vfs/resolve.ts";
import { replyForError } from "../../server/commands/errors.ts";
import { S3Storage } from "../../server/storage/s3.ts";
import { lockedKeys } from "../../server/storage/s3-key-lock.ts";
import { READ_AHEAD } from "../../server/storage/s3-read.ts";
import { PART_SIZE } from "../../server/storage/s3-upload.ts";
import { answerLosingProxy } from "../helpers/proxy.ts";
import { freshBucket, HAVE_S3, s3Settings, type TestBucket } from "../helpers/s3.ts";

interface Place {
  /** Storage rooted at ".../a". */
  storage: Storage;
  /** Storage rooted at the sibling ".../ab" (a prefix of "a" as text): the jail must keep them apart. */
  sibling: Storage;
  /** Pending multipart uploads (S3 only). */
  pending?: () => Promise<unknown[]>;
}

interface Backend {
  name: string;
  enabled: boolean;
  /** In-place modes (create/append/offset) keep the bytes of an aborted upload (local disk); an object store keeps none. */
  keepsPartial: boolean;
  make(): Promise<Place>;
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

const backends: Backend[] = [
  {
    name: "local",
    enabled: true,
    keepsPartial: true,
    async make() {
      const base = mkdtempSync(join(tmpdir(), "ftpkit-contract-"));
      cleanups.push(() => rmSync(base, { recursive: true, force: true }));
      mkdirSync(join(base, "a"));
      mkdirSync(join(base, "ab"));
      return { storage: new LocalStorage(join(base, "a")), sibling: new LocalStorage(join(base, "ab")) };
    },
  },
  {
    name: "s3",
    enabled: HAVE_S3,
    keepsPartial: false,
    async make() {
      const bucket: TestBucket = await freshBucket();
      cleanups.push(() => bucket.drop());
      return {
        storage: new S3Storage(s3Settings(), { bucket: bucket.name, prefix: "a" }),
        sibling: new S3Storage(s3Settings(), { bucket: bucket.name, prefix: "ab" }),
        pending: () => bucket.pending(),
      };
    },
  },
];

/** Deterministic bytes (crypto.getRandomValues is capped at 64 KiB a call). */
function bytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed * 2654435761;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}
const text = (s: string) => new TextEncoder().encode(s);
const sha256 = (b: Uint8Array) => new Bun.CryptoHasher("sha256").update(b).digest("hex");

async function put(s: Storage, key: string, data: Uint8Array, mode: WriteMode = { kind: "truncate" }): Promise<number> {
  await using up = await s.openWrite(key, mode);
  // In chunks, as a data connection delivers them.
  for (let off = 0; off < data.length; off += 256 * 1024) await up.write(data.subarray(off, off + 256 * 1024));
  return up.commit();
}

async function read(s: Storage, key: string, from = 0, length?: number): Promise<Uint8Array> {
  const h = await s.openRead(key);
  try {
    const end = length === undefined ? h.size : Math.min(h.size, from + length);
    const out = new Uint8Array(Math.max(0, end - from));
    let pos = from;
    while (pos < end) {
      const n = await h.read(out.subarray(pos - from, Math.min(out.length, pos - from + 1024 * 1024)), pos);
      if (n <= 0) break;
      pos += n;
    }
    return out.subarray(0, pos - from);
  } finally {
    h.close();
  }
}

async function kindOf(p: Promise<unknown>): Promise<StorageErrorKind | "ok"> {
  try {
    await p;
    return "ok";
  } catch (err) {
    if (err instanceof StorageError) return err.kind;
    throw err;
  }
}

/** Names as a client sees them: the resolver hides the backends' own reserved names (local temp files). */
const names = async (s: Storage, key: string) =>
  (await s.list(key)).filter((e) => !isReservedName(e.name)).map((e) => `${e.name}${e.type === "dir" ? "/" : ""}`);

for (const b of backends) {
  describe(`storage contract: ${b.name}`, () => {
    const t = (name: string, fn: (p: Place) => Promise<void>, timeout = 30_000) =>
      test.skipIf(!b.enabled)(name, async () => fn(await b.make()), timeout);

    t("the root is an empty directory; a missing name is not-found", async ({ storage }) => {
      expect((await storage.stat("")).type).toBe("dir");
      expect(await storage.list("")).toEqual([]);
      expect(await kindOf(storage.stat("nope"))).toBe("not-found");
      expect(await kindOf(storage.list("nope"))).toBe("not-found");
      expect(await kindOf(storage.openRead("nope"))).toBe("not-found");
      expect(await kindOf(storage.remove("nope"))).toBe("not-found");
    });

    t("a stored file reads back whole and by ranges", async ({ storage }) => {
      const data = bytes(300_000);
      expect(await put(storage, "f.bin", data)).toBe(300_000);
      const st = await storage.stat("f.bin");
      expect(st.type).toBe("file");
      expect(st.size).toBe(300_000);
      expect(sha256(await read(storage, "f.bin"))).toBe(sha256(data));
      expect(await read(storage, "f.bin", 123_456, 1000)).toEqual(data.subarray(123_456, 124_456));
      expect(await read(storage, "f.bin", 299_990)).toEqual(data.subarray(299_990));
      const h = await storage.openRead("f.bin");
      expect(await h.read(new Uint8Array(10), 300_000)).toBe(0);
      h.close();
    });

    t("a file of several upload parts round-trips by sha256", async ({ storage, pending }) => {
      const data = bytes(2 * PART_SIZE + 12345, 7);
      expect(await put(storage, "big.bin", data)).toBe(data.length);
      expect((await storage.stat("big.bin")).size).toBe(data.length);
      expect(sha256(await read(storage, "big.bin"))).toBe(sha256(data));
      expect(await read(storage, "big.bin", PART_SIZE - 5, 10)).toEqual(data.subarray(PART_SIZE - 5, PART_SIZE + 5));
      if (pending) expect(await pending()).toEqual([]);
    });

    t("create refuses an existing name; truncate replaces it and reports the size change", async ({ storage }) => {
      await put(storage, "f", text("hello world"));
      expect(await kindOf(storage.openWrite("f", { kind: "create" }))).toBe("exists");
      expect(await put(storage, "f", text("hi"))).toBe(2 - 11);
      expect(new TextDecoder().decode(await read(storage, "f"))).toBe("hi");
      expect(await put(storage, "new", text("abc"), { kind: "create" })).toBe(3);
    });

    t("an overwrite is invisible to readers until commit", async ({ storage }) => {
      await put(storage, "f", text("old content"));
      const up = await storage.openWrite("f", { kind: "truncate" });
      await up.write(text("new"));
      expect(new TextDecoder().decode(await read(storage, "f"))).toBe("old content");
      await up.commit();
      expect(new TextDecoder().decode(await read(storage, "f"))).toBe("new");
    });

    t("abort and disposal of an overwrite leave the old file and no pending upload", async ({ storage, pending }) => {
      await put(storage, "f", text("keep me"));
      const up = await storage.openWrite("f", { kind: "truncate" });
      await up.write(bytes(PART_SIZE + 1000)); // past one part: S3 has a multipart upload going
      expect(await up.abort()).toBe(0);
      {
        await using up2 = await storage.openWrite("f", { kind: "truncate" });
        await up2.write(bytes(PART_SIZE * 2 + 10));
      }
      expect(new TextDecoder().decode(await read(storage, "f"))).toBe("keep me");
      {
        await using up3 = await storage.openWrite("g", { kind: "truncate" });
        await up3.write(bytes(PART_SIZE + 10));
      }
      expect(await kindOf(storage.stat("g"))).toBe("not-found");
      expect(await names(storage, "")).toEqual(["f"]);
      if (pending) expect(await pending()).toEqual([]);
    });

    t("an aborted new file with no bytes: nothing on an object store, an empty file on disk", async ({ storage }) => {
      const up = await storage.openWrite("n", { kind: "create" });
      expect(await up.abort()).toBe(0);
      if (b.keepsPartial) expect(await storage.stat("n")).toMatchObject({ type: "file", size: 0 });
      else expect(await kindOf(storage.stat("n"))).toBe("not-found");
    });

    t("an upload ends once: commit after abort and writes after commit are refused", async ({ storage }) => {
      const up = await storage.openWrite("x", { kind: "truncate" });
      await up.write(text("a"));
      await up.commit();
      expect(await kindOf((async () => up.write(text("b")))())).toBe("transient");
      expect(await kindOf((async () => up.abort())())).toBe("transient");
      expect(new TextDecoder().decode(await read(storage, "x"))).toBe("a");
    });

    t("append adds to the end (a missing file is created) and reports the bytes added", async ({ storage }) => {
      expect(await put(storage, "log", text("one,"), { kind: "append" })).toBe(4);
      expect(await put(storage, "log", text("two"), { kind: "append" })).toBe(3);
      expect(new TextDecoder().decode(await read(storage, "log"))).toBe("one,two");
    });

    t("offset (REST+STOR) keeps the bytes before it and drops the rest; beyond the end is refused", async ({ storage }) => {
      await put(storage, "r", text("0123456789"));
      expect(await put(storage, "r", text("ab"), { kind: "offset", offset: 4 })).toBe(6 - 10);
      expect(new TextDecoder().decode(await read(storage, "r"))).toBe("0123ab");
      expect(await kindOf(storage.openWrite("r", { kind: "offset", offset: 7 }))).toBe("unsupported");
      // The client is told why (the file shrank after the server's check before its 150), not "Operation not supported" alone.
      const past = await storage.openWrite("r", { kind: "offset", offset: 7 }).then(() => null, (err: unknown) => err);
      expect(replyForError(past).text).toBe("Operation not supported: restart offset beyond end of file (the file shrank meanwhile)");
    });

    t("resume of a big file (kept part over 5 MiB) composes the old bytes and the new", async ({ storage, pending }) => {
      const data = bytes(PART_SIZE + 3 * 1024 * 1024, 3); // 11 MiB
      const cut = 6 * 1024 * 1024;
      await put(storage, "big", data.subarray(0, cut + 777));
      expect(await put(storage, "big", data.subarray(cut), { kind: "offset", offset: cut })).toBe(data.length - (cut + 777));
      expect(sha256(await read(storage, "big"))).toBe(sha256(data));
      expect(await put(storage, "big", text("tail"), { kind: "append" })).toBe(4);
      const all = await read(storage, "big");
      expect(all.length).toBe(data.length + 4);
      expect(new TextDecoder().decode(all.subarray(-4))).toBe("tail");
      if (pending) expect(await pending()).toEqual([]);
    });

    t("abort of an append keeps the file as the backend promises", async ({ storage, pending }) => {
      await put(storage, "a", text("base"));
      const up = await storage.openWrite("a", { kind: "append" });
      await up.write(text("+partial"));
      const delta = await up.abort();
      const now = new TextDecoder().decode(await read(storage, "a"));
      if (b.keepsPartial) {
        expect(now).toBe("base+partial");
        expect(delta).toBe(8);
      } else {
        expect(now).toBe("base");
        expect(delta).toBe(0);
      }
      if (pending) expect(await pending()).toEqual([]);
    });

    t("abort of an offset upload (REST+STOR) never shortens the file: the old bytes stay, plus what was written in place", async ({ storage, pending }) => {
      await put(storage, "r", text("0123456789"));
      const none = await storage.openWrite("r", { kind: "offset", offset: 4 });
      expect(await none.abort()).toBe(0);
      expect(new TextDecoder().decode(await read(storage, "r"))).toBe("0123456789");
      const some = await storage.openWrite("r", { kind: "offset", offset: 8 });
      await some.write(text("abcd"));
      const delta = await some.abort();
      const now = new TextDecoder().decode(await read(storage, "r"));
      if (b.keepsPartial) {
        expect(now).toBe("01234567abcd");
        expect(delta).toBe(2);
      } else {
        expect(now).toBe("0123456789");
        expect(delta).toBe(0);
      }
      if (pending) expect(await pending()).toEqual([]);
    });

    if (b.keepsPartial) {
      t("one in-place upload of a file at a time: a second one is transient until the first ends", async () => {
        const root = mkdtempSync(join(tmpdir(), "ftpkit-contract-"));
        cleanups.push(() => rmSync(root, { recursive: true, force: true }));
        const storage = new LocalStorage(root);
        await put(storage, "f", text("0123456789"));
        const first = await storage.openWrite("f", { kind: "offset", offset: 2 });
        for (const mode of [{ kind: "offset", offset: 1 }, { kind: "append" }] as const) {
          expect(await kindOf(storage.openWrite("f", mode))).toBe("transient");
        }
        // Another process (a --workers worker) on the same directory is refused too (flock(2)).
        const backendTs = join(import.meta.dir, "../../server/storage/local.ts");
        const other = Bun.spawn(
          ["bun", "-e", `import { LocalStorage } from ${JSON.stringify(backendTs)}; new LocalStorage(${JSON.stringify(root)}).openWrite("f", { kind: "append" }).then(() => console.log("opened"), (e) => console.log(e.kind));`],
          { stdout: "pipe", stderr: "inherit" },
        );
        expect((await new Response(other.stdout).text()).trim()).toBe("transient");
        await first.write(text("ab"));
        expect(await first.commit()).toBe(4 - 10);
        expect(await put(storage, "f", text("!"), { kind: "append" })).toBe(1);
        expect(new TextDecoder().decode(await read(storage, "f"))).toBe("01ab!");
      });

      t("with sharedNames (--workers, --state), a new name reserved in one process is busy for another until let go, or until the holder dies; no lock file stays", async () => {
        const root = mkdtempSync(join(tmpdir(), "ftpkit-contract-"));
        cleanups.push(() => rmSync(root, { recursive: true, force: true }));
        const backendTs = join(import.meta.dir, "../../server/storage/local.ts");
        // Another process claims "n" and reports; with `hold` it keeps the claim until killed.
        const claimElsewhere = (hold: boolean) =>
          Bun.spawn(
            ["bun", "-e", `import { LocalStorage } from ${JSON.stringify(backendTs)}; new LocalStorage(${JSON.stringify(root)}, { sharedNames: true }).claimWrite("n", { kind: "create" }).then((c) => { console.log("claimed"); if (${hold}) setInterval(() => {}, 1000); else c.release(); }, (e) => console.log(e.kind));`],
            { stdout: "pipe", stderr: "inherit" },
          );
        const storage = new LocalStorage(root, { sharedNames: true });
        const mine = (await storage.claimWrite("n", { kind: "create" }))!;
        expect((await new Response(claimElsewhere(false).stdout).text()).trim()).toBe("transient");
        mine.release();
        expect((await new Response(claimElsewhere(false).stdout).text()).trim()).toBe("claimed");
        // A holder killed with its claim: the name is free, and the next sweep removes its lock file.
        const holder = claimElsewhere(true);
        const reader = holder.stdout.getReader();
        expect(new TextDecoder().decode((await reader.read()).value).trim()).toBe("claimed");
        expect(await kindOf(storage.claimWrite("n", { kind: "create" }))).toBe("transient");
        holder.kill(9);
        await holder.exited;
        expect(readdirSync(join(root, TEMP_DIR))).toHaveLength(1); // the dead holder's lock file
        (await new LocalStorage(root, { sharedNames: true }).claimWrite("other", { kind: "create" }))!.release(); // a new server's first claim sweeps
        expect(readdirSync(join(root, TEMP_DIR))).toEqual([]);
        const after = (await storage.claimWrite("n", { kind: "create" }))!;
        const created = await storage.openWrite("n", { kind: "create" }, after);
        await created.write(text("new"));
        expect(await created.commit()).toBe(3);
        expect(readdirSync(join(root, TEMP_DIR))).toEqual([]);
      });

      t("claimWrite locks an existing in-place target without touching it, and reserves a new name (STOR, or APPE of a missing one); the upload starts from the claim, or disposal lets it go", async () => {
        const root = mkdtempSync(join(tmpdir(), "ftpkit-contract-"));
        cleanups.push(() => rmSync(root, { recursive: true, force: true }));
        const storage = new LocalStorage(root);
        await put(storage, "f", text("0123456789"));
        // A new name is reserved, nothing created: a second claim of it is refused until the first is let go.
        const fresh = (await storage.claimWrite("n", { kind: "create" }))!;
        expect(fresh).not.toBeNull();
        expect(await kindOf(storage.stat("n"))).toBe("not-found");
        expect(await kindOf(storage.claimWrite("n", { kind: "create" }))).toBe("transient");
        expect(fresh.release()).toBe(0);
        const created = await storage.openWrite("n", { kind: "create" }, (await storage.claimWrite("n", { kind: "create" }))!);
        await created.write(text("new"));
        expect(await created.commit()).toBe(3);
        // Nothing to lock: an overwrite.
        expect(await storage.claimWrite("f", { kind: "truncate" })).toBeNull();
        // APPE to a missing name would create it: the name is reserved as a STOR's, nothing created.
        const appending = (await storage.claimWrite("missing", { kind: "append" }))!;
        expect(appending).not.toBeNull();
        expect(await kindOf(storage.stat("missing"))).toBe("not-found");
        expect(await kindOf(storage.claimWrite("missing", { kind: "create" }))).toBe("transient");
        expect(appending.release()).toBe(0);
        (await storage.claimWrite("missing", { kind: "create" }))!.release();
        const claim = (await storage.claimWrite("f", { kind: "offset", offset: 2 }))!;
        expect(claim).not.toBeNull();
        expect(new TextDecoder().decode(await read(storage, "f"))).toBe("0123456789");
        for (const mode of [{ kind: "offset", offset: 1 }, { kind: "append" }] as const) {
          expect(await kindOf(storage.claimWrite("f", mode))).toBe("transient");
          expect(await kindOf(storage.openWrite("f", mode))).toBe("transient");
        }
        // Released unstarted: the file is free again, unchanged, and nothing to give back.
        expect(claim.release()).toBe(0);
        const again = (await storage.claimWrite("f", { kind: "offset", offset: 2 }))!;
        const up = await storage.openWrite("f", { kind: "offset", offset: 2 }, again);
        expect(again.release()).toBe(0); // spent: a no-op, the upload holds the lock
        expect(await kindOf(storage.openWrite("f", { kind: "append" }))).toBe("transient");
        await up.write(text("ab"));
        expect(await up.commit()).toBe(4 - 10);
        expect(await put(storage, "f", text("!"), { kind: "append" })).toBe(1);
        expect(new TextDecoder().decode(await read(storage, "f"))).toBe("01ab!");
        // Removed while claimed: the remover frees nothing for it, the release gives its size back.
        const held = (await storage.claimWrite("f", { kind: "append" }))!;
        expect(await storage.remove("f")).toBe(0);
        expect(held.release()).toBe(5);
      });

      t("a file removed or renamed over while written in place frees nothing itself; the upload gives back what the file had", async ({ storage }) => {
        await put(storage, "f", text("0123456789"));
        const up = await storage.openWrite("f", { kind: "append" });
        await up.write(text("abc"));
        expect(await storage.remove("f")).toBe(0);
        await up.write(text("def"));
        expect(await up.commit()).toBe(-10);
        await put(storage, "g", text("xyz"));
        await put(storage, "h", text("12345"));
        const fresh = await storage.openWrite("n", { kind: "create" });
        await fresh.write(text("abc"));
        expect(await storage.rename("g", "n")).toBe(0);
        expect(await fresh.abort()).toBe(0);
        // Once no upload writes it, a file frees its size as before.
        expect(await storage.remove("n")).toBe(3);
        expect(await storage.rename("h", "f2")).toBe(0);
      });
    }

    t("rmdir of a directory holding only reserved names (.ftpkit-…) says so, without naming them; with another name too, the plain not-empty", async ({ storage }) => {
      const detail = async (p: Promise<unknown>) => p.then(() => "ok", (err: StorageError) => `${err.kind}: ${err.detail ?? ""}`);
      await storage.mkdir("d");
      await put(storage, "d/.ftpkit-other-tool", text("x"));
      expect(await names(storage, "d")).toEqual([]);
      // Before: a bare not-empty for a directory that lists empty (local and S3 alike).
      expect(await detail(storage.rmdir("d"))).toBe("not-empty: it holds only names the server reserves (.ftpkit-…), which FTP neither lists nor removes");
      await put(storage, "d/f", text("x"));
      expect(await detail(storage.rmdir("d"))).toBe("not-empty: ");
      expect(await storage.remove("d/f")).toBe(1);
      expect(await storage.remove("d/.ftpkit-other-tool")).toBe(1);
      await storage.rmdir("d");
      expect(await names(storage, "")).toEqual([]);
    });

    t("mkdir makes an empty directory that stays listed; rmdir refuses a non-empty one", async ({ storage }) => {
      await storage.mkdir("d");
      expect(await kindOf(storage.mkdir("d"))).toBe("exists");
      expect(await kindOf(storage.mkdir("no/such"))).toBe("not-found");
      expect((await storage.stat("d")).type).toBe("dir");
      expect(await names(storage, "")).toEqual(["d/"]);
      expect(await storage.list("d")).toEqual([]);
      await put(storage, "d/f", text("x"));
      await storage.mkdir("d/sub");
      expect(await names(storage, "d")).toEqual(["f", "sub/"]);
      expect(await kindOf(storage.rmdir("d"))).toBe("not-empty");
      expect(await kindOf(storage.rmdir("d/f"))).toBe("not-a-directory");
      expect(await kindOf(storage.rmdir("nope"))).toBe("not-found");
      expect(await kindOf(storage.list("d/f"))).toBe("not-a-directory");
      await storage.rmdir("d/sub");
      expect(await storage.remove("d/f")).toBe(1);
      await storage.rmdir("d");
      expect(await kindOf(storage.stat("d"))).toBe("not-found");
      expect(await names(storage, "")).toEqual([]);
    });

    t("files and directories cannot take each other's place", async ({ storage }) => {
      await storage.mkdir("d");
      await put(storage, "f", text("x"));
      // Refused when it opens or, at the latest, when it commits.
      expect(await kindOf(put(storage, "d", text("x")))).toBe("is-a-directory");
      expect(await kindOf(storage.openRead("d"))).toBe("is-a-directory");
      expect(await kindOf(storage.remove("d"))).toBe("is-a-directory");
      expect(await kindOf(storage.mkdir("f"))).toBe("exists");
      expect(await kindOf(put(storage, "missing/f", text("x")))).toBe("not-found");
    });

    t("remove reports the bytes it freed", async ({ storage }) => {
      await put(storage, "f", bytes(1234));
      expect(await storage.remove("f")).toBe(1234);
      expect(await kindOf(storage.stat("f"))).toBe("not-found");
    });

    t("rename moves a file, replacing a target and reporting the bytes replaced", async ({ storage }) => {
      const data = bytes(5000, 9);
      await put(storage, "a", data);
      await put(storage, "b", bytes(70));
      await storage.mkdir("d");
      expect(await storage.rename("a", "b")).toBe(70);
      expect(await kindOf(storage.stat("a"))).toBe("not-found");
      expect(sha256(await read(storage, "b"))).toBe(sha256(data));
      expect(await storage.rename("b", "d/c")).toBe(0);
      expect(sha256(await read(storage, "d/c"))).toBe(sha256(data));
      expect(await kindOf(storage.rename("nope", "x"))).toBe("not-found");
      expect(await kindOf(storage.rename("d/c", "missing/c"))).toBe("not-found");
    });

    t("rename moves a small directory tree; not into itself", async ({ storage }) => {
      await storage.mkdir("d");
      await storage.mkdir("d/e");
      await put(storage, "d/e/f", text("deep"));
      await put(storage, "d/g", text("g"));
      await storage.rename("d", "m");
      expect(await kindOf(storage.stat("d"))).toBe("not-found");
      expect(await names(storage, "m")).toEqual(["e/", "g"]);
      expect(new TextDecoder().decode(await read(storage, "m/e/f"))).toBe("deep");
      expect(await kindOf(storage.rename("m", "m/e/x"))).toBe("denied");
    });

    t("usage counts the bytes of every file below a directory", async ({ storage }) => {
      await storage.mkdir("d");
      await put(storage, "d/a", bytes(100));
      await put(storage, "b", bytes(23));
      expect(await storage.usage()).toBe(123);
      expect(await storage.usage("d")).toBe(100);
    });

    t("a listing comes in name order, in batches with every entry", async ({ storage }) => {
      for (const n of ["b", "a-b", "c.txt"]) await put(storage, n, text(n));
      await storage.mkdir("a");
      const got: string[] = [];
      for await (const batch of await storage.listBatches!("")) for (const e of batch) if (!isReservedName(e.name)) got.push(e.name);
      expect(got).toEqual(["a", "a-b", "b", "c.txt"]);
    });

    t("a directory of more than one listing page comes whole, in name order", async ({ storage }) => {
      await storage.mkdir("many");
      const want = Array.from({ length: 1100 }, (_, i) => `f${String(i).padStart(4, "0")}`);
      for (let i = 0; i < want.length; i += 100) await Promise.all(want.slice(i, i + 100).map((n) => put(storage, `many/${n}`, text("x"))));
      const got: string[] = [];
      for await (const batch of await storage.listBatches!("many")) for (const e of batch) got.push(e.name);
      expect(got).toEqual(want);
      expect(await storage.usage("many")).toBe(1100);
    }, 120_000);

    t("changes of one file at once count it once: four DELEs free its bytes once, two overwrites report the change they made", async ({ storage }) => {
      await put(storage, "f", bytes(10_000));
      const results = await Promise.all([1, 2, 3, 4].map(() => storage.remove("f").then((n) => n, (e: StorageError) => e.kind)));
      expect(results.sort()).toEqual([10_000, "not-found", "not-found", "not-found"]);
      await put(storage, "g", bytes(20_000));
      const ups = await Promise.all([1, 2].map(() => storage.openWrite("g", { kind: "truncate" })));
      for (const up of ups) await up.write(bytes(5_000, 2));
      const deltas = await Promise.all(ups.map((up) => up.commit()));
      // 20,000 → 5,000 → 5,000: whichever lands first made the whole change.
      expect(deltas.reduce((a, d) => a + d, 0)).toBe(5_000 - 20_000);
      await put(storage, "h", bytes(3_000));
      const [moved, freed] = await Promise.all([storage.rename("h", "h2").then((n) => n, (e: StorageError) => e.kind), storage.remove("h").then((n) => n, (e: StorageError) => e.kind)]);
      // Either the rename or the DELE got the file, never both: what is stored and what was freed agree.
      const stored = (await kindOf(storage.stat("h2"))) === "ok" ? 3_000 : 0;
      expect(stored + (typeof freed === "number" ? freed : 0)).toBe(3_000);
      expect([moved, freed]).toContainEqual("not-found");
      expect(lockedKeys()).toBe(0); // every per-key lock (S3) was given back
    });

    t("a name longer than the backend allows is name-too-long (553), not a failure to try again (S3: 1,024 bytes with the root)", async ({ storage }) => {
      const long = "n".repeat(1100);
      for (const p of [storage.stat(long), storage.openWrite(long, { kind: "create" }), storage.mkdir(long)]) expect(await kindOf(p)).toBe("name-too-long");
    });

    t("the jail: no key reaches a sibling whose name starts with the root's", async ({ storage, sibling }) => {
      await put(sibling, "secret", text("s"));
      await put(storage, "mine", text("m"));
      expect(await names(storage, "")).toEqual(["mine"]);
      expect(await names(sibling, "")).toEqual(["secret"]);
      expect(await storage.usage()).toBe(1);
      for (const key of ["../ab/secret", "a/../../ab/secret", "x\0y", "./mine"]) {
        expect(await kindOf(storage.stat(key))).toBe("denied");
        expect(await kindOf(storage.openWrite(key, { kind: "truncate" }))).toBe("denied");
      }
    });
  });
}

describe.skipIf(!HAVE_S3)("S3 only", () => {
  test("HASH needs no download: the upload stored its SHA-256 (small and multipart), rename keeps it", async () => {
    const bucket = await freshBucket();
    cleanups.push(() => bucket.drop());
    const s = new S3Storage(s3Settings(), { bucket: bucket.name, prefix: "h" });
    const small = bytes(1000);
    const big = bytes(PART_SIZE + 100, 5);
    await put(s, "small", small);
    await put(s, "big", big);
    expect(await s.storedDigest("small", "SHA-256")).toBe(sha256(small));
    expect(await s.storedDigest("big", "SHA-256")).toBe(sha256(big));
    expect(await s.storedDigest("big", "MD5")).toBeNull();
    await s.rename("big", "moved");
    expect(await s.storedDigest("moved", "SHA-256")).toBe(sha256(big));
    // An overwrite never inherits the old digest.
    await put(s, "moved", text("x"));
    expect(await s.storedDigest("moved", "SHA-256")).toBe(sha256(text("x")));
  });

  test("keys put by other tools: one with a control character is listed (and counted) instead of failing its directory; '.', '..' and 'x/../y' are not listed", async () => {
    const bucket = await freshBucket();
    cleanups.push(() => bucket.drop());
    const s = new S3Storage(s3Settings(), { bucket: bucket.name, prefix: "p" });
    await put(s, "ok", text("fine"));
    await (await bucket.api.send({ method: "PUT", key: "p/esc\x1b[31mred", body: "12345" })).arrayBuffer();
    // Paths fetch would normalise: curl sends them as they are (radosgw stores them so).
    const { S3_ENDPOINT, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, S3_REGION } = process.env;
    for (const key of ["p/.", "p/..", "p/x/../y", "p/d/./z"]) {
      const curl = Bun.spawn(
        ["curl", "-sS", "--path-as-is", "--aws-sigv4", `aws:amz:${S3_REGION ?? "us-east-1"}:s3`, "--user", `${S3_ACCESS_KEY_ID}:${S3_SECRET_ACCESS_KEY}`,
         "-H", `x-amz-content-sha256: ${sha256(text("b"))}`, "-X", "PUT", "--data-binary", "b", "-o", "/dev/null", "-w", "%{http_code}", `${S3_ENDPOINT}/${bucket.name}/${key}`],
        { stdout: "pipe", stderr: "pipe" },
      );
      expect(await new Response(curl.stdout).text()).toBe("200");
    }
    // Bun's S3Client refused the whole listing ("not a well-formed document"): 450 for ever, and a quota measured from 0.
    expect(await names(s, "")).toEqual(["d/", "esc\x1b[31mred", "ok", "x/"]);
    expect(await names(s, "x")).toEqual([]);
    expect(await names(s, "d")).toEqual([]);
    expect(await s.usage()).toBe(4 + 5 + 4);
    expect(new TextDecoder().decode(await read(s, "esc\x1b[31mred"))).toBe("12345");
  });

  test("RMD of a directory whose marker object holds bytes (another tool's) refuses instead of deleting them", async () => {
    const bucket = await freshBucket();
    cleanups.push(() => bucket.drop());
    const s = new S3Storage(s3Settings(), { bucket: bucket.name, prefix: "p" });
    await (await bucket.api.send({ method: "PUT", key: "p/d/", body: "data" })).arrayBuffer();
    await s.mkdir("e");
    expect(await kindOf(s.rmdir("d"))).toBe("not-empty");
    expect((await bucket.keys()).sort()).toEqual(["p/d/", "p/e/"]);
    await s.rmdir("e"); // an ordinary empty marker goes
    expect(await bucket.keys()).toEqual(["p/d/"]);
  });

  test("a multipart upload whose completion answer was lost counts as stored, not failed", async () => {
    const bucket = await freshBucket();
    cleanups.push(() => bucket.drop());
    const settings = s3Settings();
    const proxy = await answerLosingProxy(Number(new URL(settings.endpoint).port), /^POST \S*\?uploadId=/);
    cleanups.push(() => proxy.stop());
    const s = new S3Storage({ ...settings, endpoint: `http://127.0.0.1:${proxy.port}` }, { bucket: bucket.name, prefix: "" });
    const data = bytes(PART_SIZE + 100, 3);
    const up = await s.openWrite("big", { kind: "create" });
    await up.write(data);
    await up.seal?.();
    expect(await up.commit()).toBe(data.length);
    expect(proxy.losses()).toBe(1);
    expect(sha256(await read(s, "big"))).toBe(sha256(data));
    expect(await bucket.pending()).toEqual([]);
  });

  test("a resume is refused when the object changed since the upload opened", async () => {
    const bucket = await freshBucket();
    cleanups.push(() => bucket.drop());
    const s = new S3Storage(s3Settings(), { bucket: bucket.name, prefix: "" });
    await put(s, "f", text("first"));
    const up = await s.openWrite("f", { kind: "append" });
    await up.write(text("+mine"));
    await put(s, "f", text("someone else"));
    expect(await kindOf(up.commit())).toBe("transient");
    expect(new TextDecoder().decode(await read(s, "f"))).toBe("someone else");
    expect(await bucket.pending()).toEqual([]);
  });

  test("a download hands out the right bytes from any offset, also to a reader slower than the store", async () => {
    const bucket = await freshBucket();
    cleanups.push(() => bucket.drop());
    const s = new S3Storage(s3Settings(), { bucket: bucket.name, prefix: "r" });
    const data = bytes(3 * READ_AHEAD + 12_345, 9);
    await put(s, "f", data);
    const h = await s.openRead("f");
    try {
      expect(h.chunks).toBeDefined();
      for (const [from, to] of [[0, data.length], [READ_AHEAD + 7, data.length - 5], [data.length - 3, data.length]] as const) {
        const parts: Uint8Array[] = [];
        // Sleeping between pieces lets the read-ahead fill up, so the GET is paused and resumed.
        for await (const piece of h.chunks!(from, to)) {
          parts.push(piece);
          if (parts.length % 2 === 0) await Bun.sleep(20);
        }
        expect(sha256(Buffer.concat(parts))).toBe(sha256(data.subarray(from, to)));
      }
      // read() at an explicit position after chunks() stopped elsewhere.
      const some = new Uint8Array(1000);
      let n = 0;
      while (n < some.length) n += await h.read(some.subarray(n), 5000 + n);
      expect(sha256(some)).toBe(sha256(data.subarray(5000, 6000)));
    } finally {
      h.close();
    }
  });

  test("a download never mixes versions: an overwrite or a delete after the open fails the read", async () => {
    const bucket = await freshBucket();
    cleanups.push(() => bucket.drop());
    const s = new S3Storage(s3Settings(), { bucket: bucket.name, prefix: "" });
    await put(s, "f", bytes(1000));
    const h = await s.openRead("f");
    await put(s, "f", bytes(1000, 2));
    expect(await kindOf(Promise.resolve(h.read(new Uint8Array(100), 0)))).toBe("transient");
    h.close();
    const h2 = await s.openRead("f");
    await s.remove("f");
    const drain = async () => {
      for await (const _ of h2.chunks!(0, 1000));
    };
    expect(await kindOf(drain())).toBe("not-found");
    h2.close();
  });

  test("a missing bucket, bad credentials or an unreachable endpoint fail with clear kinds and no names", async () => {
    const base = s3Settings();
    const cases: Array<[S3Storage, StorageErrorKind]> = [
      [new S3Storage(base, { bucket: "no-such-bucket-ftpkit", prefix: "x" }), "unavailable"],
      [new S3Storage({ ...base, secretAccessKey: "wrong" }, { bucket: "no-such-bucket-ftpkit", prefix: "" }), "denied"],
      [new S3Storage({ ...base, endpoint: "http://127.0.0.1:9" }, { bucket: "no-such-bucket-ftpkit", prefix: "" }), "transient"],
      [new S3Storage({ ...base, accessKeyId: "" }, { bucket: "no-such-bucket-ftpkit", prefix: "" }), "denied"],
    ];
    for (const [s, kind] of cases) {
      const err = await s.stat("").then(
        () => null,
        (e) => e,
      );
      expect(err).toBeInstanceOf(StorageError);
      expect(err.kind).toBe(kind);
      expect(err.message).not.toContain("no-such-bucket");
      expect(err.message).not.toContain("127.0.0.1");
    }
  });
});
