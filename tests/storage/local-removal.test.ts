// Removals under --workers: another process's removal of the same file holds its lock for a moment,
// and that lock is not an upload's; the file's bytes are given back to the quota once.
import { afterEach, expect, test } from "bun:test";
import { chownSync, closeSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StorageError } from "../../server/storage/backend.ts";
import { LocalStorage } from "../../server/storage/local.ts";
import { freedByRemoval, RemovalBusy, removing, renameToFree, verdictNow } from "../../server/storage/local-removal.ts";
import { verdictLocks } from "../../server/storage/local-name-lock.ts";
import { TEMP_DIR } from "../../server/storage/local-temp.ts";

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

/**
 * Another worker's DELE of `file`, held at its lock: it locks the file, says "locked", and on a line
 * from stdin removes it (its removal, which gives the bytes back) and says "removed".
 */
function removerElsewhere(file: string) {
  const jailTs = join(import.meta.dir, "../../server/storage/local-jail.ts");
  const script = `import { tryLockExclusive } from ${JSON.stringify(jailTs)}; import * as fs from "node:fs";
const fd = fs.openSync(${JSON.stringify(file)}, "r");
if (!tryLockExclusive(fd)) throw new Error("not locked");
console.log("locked");
for await (const _ of console) { fs.unlinkSync(${JSON.stringify(file)}); console.log("removed"); process.exit(0); }`;
  return Bun.spawn(["bun", "-e", script], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
}

async function line(reader: { read(): Promise<{ done: boolean; value?: Uint8Array }> }): Promise<string> {
  const next = await reader.read();
  return next.done ? "" : new TextDecoder().decode(next.value).trim();
}

test("a DELE racing another process's removal of the file waits for it and fails, so only one gives the bytes back", async () => {
  const root = mkdtempSync(join(tmpdir(), "ftpkit-removal-"));
  roots.push(root);
  writeFileSync(join(root, "f"), new Uint8Array(10_000));
  const storage = new LocalStorage(root);
  const other = removerElsewhere(join(root, "f"));
  const out = other.stdout.getReader();
  try {
    expect(await line(out)).toBe("locked");
    const mine = storage.remove("f").then(
      (freed) => ({ freed }),
      (err) => ({ kind: err instanceof StorageError ? err.kind : String(err) }),
    );
    await Bun.sleep(1); // this removal has met the lock, and waits
    other.stdin.write("go\n");
    await other.stdin.flush();
    // Before: the lock was taken for an upload's, this DELE removed the file giving back nothing
    // ({ freed: 0 }), and the other one's removal failed: the 10,000 bytes were never given back.
    expect(await mine).toEqual({ kind: "not-found" });
    expect(await line(out)).toBe("removed");
    expect(await other.exited).toBe(0);
    expect(existsSync(join(root, "f"))).toBe(false);
  } finally {
    other.kill(9);
  }
}, 30_000);

test("a lock held longer (an in-place upload's) still counts as the upload's: the DELE goes through and gives back nothing now", async () => {
  const root = mkdtempSync(join(tmpdir(), "ftpkit-removal-"));
  roots.push(root);
  const storage = new LocalStorage(root);
  const upload = await storage.openWrite("f", { kind: "append" });
  await upload.write(new Uint8Array(5_000));
  expect(await storage.remove("f")).toBe(0);
  // The upload settles for the file it lost: it gives back what it had when it opened (nothing).
  expect(await upload.commit()).toBe(0);
}, 30_000);

test("a rename to a name found free never replaces a file put there since: busy, and the next look sees it", () => {
  const root = mkdtempSync(join(tmpdir(), "ftpkit-removal-"));
  roots.push(root);
  writeFileSync(join(root, "a"), "a");
  writeFileSync(join(root, "b"), "another worker's upload");
  expect(() => renameToFree(join(root, "a"), join(root, "b"))).toThrow(RemovalBusy);
  expect(readFileSync(join(root, "b"), "utf8")).toBe("another worker's upload");
  renameToFree(join(root, "a"), join(root, "c"));
  expect(readFileSync(join(root, "c"), "utf8")).toBe("a");
});

/**
 * Another worker's APPE of `file` (LocalStorage, shared root): it writes 5,000 bytes and says
 * "writing"; once `endFile` exists it commits and writes its delta to `doneFile`.
 */
function appenderElsewhere(root: string, endFile: string, doneFile: string) {
  const localTs = join(import.meta.dir, "../../server/storage/local.ts");
  const script = `import { LocalStorage } from ${JSON.stringify(localTs)}; import * as fs from "node:fs";
const storage = new LocalStorage(${JSON.stringify(root)}, { sharedNames: true });
const upload = await storage.openWrite("f", { kind: "append" });
await upload.write(new Uint8Array(5_000));
console.log("writing");
while (!fs.existsSync(${JSON.stringify(endFile)})) await Bun.sleep(1);
fs.writeFileSync(${JSON.stringify(doneFile)}, String(await upload.commit()));`;
  return Bun.spawn(["bun", "-e", script], { stdout: "pipe", stderr: "inherit" });
}

test("--workers: an APPE ending on another worker while a DELE here removes its file, after finding its lock held, is given back once", async () => {
  const root = mkdtempSync(join(tmpdir(), "ftpkit-removal-"));
  roots.push(root);
  const file = join(root, "f");
  writeFileSync(file, new Uint8Array(10_000));
  mkdirSync(join(root, TEMP_DIR));
  const verdicts = verdictLocks(() => openSync(join(root, TEMP_DIR), "r"));
  const [endFile, doneFile] = [join(root, "end"), join(root, "done")];
  const other = appenderElsewhere(root, endFile, doneFile);
  try {
    expect(await line(other.stdout.getReader())).toBe("writing");
    // This DELE's removal (LocalStorage.remove's), the other worker's APPE ending in the moment
    // between its verdict (the lock held: the upload gives the bytes back) and the unlink.
    const freed = await removing((lastTry) =>
      freedByRemoval(
        file,
        lstatSync(file),
        () => {
          writeFileSync(endFile, "");
          for (let i = 0; i < 300 && !existsSync(doneFile); i++) Bun.sleepSync(1);
          unlinkSync(file);
        },
        lastTry,
        verdicts,
      ),
    );
    expect(await other.exited).toBe(0);
    const delta = Number(readFileSync(doneFile, "utf8"));
    // The quota: 10,000 bytes before, then the two changes; the file is gone. Before, the APPE found
    // its file still there and kept its bytes (+5,000), the DELE gave back nothing: 15,000 for good.
    expect({ freed, delta, used: 10_000 + delta - freed }).toEqual({ freed: 0, delta: -10_000, used: 0 });
  } finally {
    other.kill(9);
  }
}, 30_000);

/**
 * Another worker's RNTO of `root`/f to g (holdingLock, as LocalStorage.rename runs it): it says
 * "moving" holding the file's lock (and verdict lock), and renames once `goFile` exists.
 */
function moverElsewhere(root: string, goFile: string) {
  const removalTs = join(import.meta.dir, "../../server/storage/local-removal.ts");
  const lockTs = join(import.meta.dir, "../../server/storage/local-name-lock.ts");
  const script = `import { holdingLock } from ${JSON.stringify(removalTs)}; import { verdictLocks } from ${JSON.stringify(lockTs)};
import * as fs from "node:fs";
const verdicts = verdictLocks(() => fs.openSync(${JSON.stringify(join(root, TEMP_DIR))}, "r"));
holdingLock(${JSON.stringify(join(root, "f"))}, false, () => {
  console.log("moving");
  for (let i = 0; i < 3000 && !fs.existsSync(${JSON.stringify(goFile)}); i++) Bun.sleepSync(1);
  fs.renameSync(${JSON.stringify(join(root, "f"))}, ${JSON.stringify(join(root, "g"))});
}, verdicts);`;
  return Bun.spawn(["bun", "-e", script], { stdout: "pipe", stderr: "inherit" });
}

test("--workers: a DELE meeting another worker's RNTO of the file, holding its lock, never removes it giving back nothing", async () => {
  const root = mkdtempSync(join(tmpdir(), "ftpkit-removal-"));
  roots.push(root);
  writeFileSync(join(root, "f"), new Uint8Array(10_000));
  mkdirSync(join(root, TEMP_DIR));
  const goFile = join(root, "go");
  const other = moverElsewhere(root, goFile);
  try {
    expect(await line(other.stdout.getReader())).toBe("moving");
    const storage = new LocalStorage(root, { sharedNames: true });
    const mine = storage.remove("f").then(
      (freed) => ({ freed }),
      (err) => ({ kind: err instanceof StorageError ? err.kind : String(err) }),
    );
    await Bun.sleep(150); // past the ~50 ms after which a lock still held counts as an upload's
    writeFileSync(goFile, "");
    // Before: the DELE took the move's lock for an upload's and unlinked f giving back nothing (its
    // upload would), and the move then failed: the file's 10,000 bytes stayed in the quota for good.
    expect(await mine).toEqual({ kind: "not-found" });
    expect(await other.exited).toBe(0);
    expect(readFileSync(join(root, "g")).length).toBe(10_000);
  } finally {
    other.kill(9);
  }
}, 30_000);

test("a removal's last try that finds the name gone acts on nothing: it looks again", () => {
  const root = mkdtempSync(join(tmpdir(), "ftpkit-removal-"));
  roots.push(root);
  const file = join(root, "f");
  writeFileSync(file, "x");
  const st = lstatSync(file);
  unlinkSync(file); // another worker's DELE, between this removal's lstat and its look
  let acted = false;
  // Before: it unlinked (or renamed over) the name unseen, and whatever file had come under it
  // since (another worker's upload) went with nothing given back.
  expect(() => freedByRemoval(file, st, () => (acted = true), true)).toThrow(RemovalBusy);
  expect(acted).toBe(false);
});

test("--workers: an RNTO onto another name of the same file (a hard link) changes nothing and gives back nothing", async () => {
  const root = mkdtempSync(join(tmpdir(), "ftpkit-removal-"));
  roots.push(root);
  writeFileSync(join(root, "a"), "12345");
  linkSync(join(root, "a"), join(root, "b"));
  const storage = new LocalStorage(root, { sharedNames: true });
  expect(await storage.rename("a", "b")).toBe(0);
  expect([readFileSync(join(root, "a"), "utf8"), readFileSync(join(root, "b"), "utf8")]).toEqual(["12345", "12345"]);
});

test("an unreadable file (mode 000, the server not root) deleted while an APPE writes it is given back once, by the upload; with no upload, by the DELE", async () => {
  // Root opens a mode-000 file all the same: the removal runs as nobody then, in a process of its own.
  const isRoot = process.getuid?.() === 0;
  const root = mkdtempSync(join(tmpdir(), "ftpkit-removal-"));
  roots.push(root);
  const local = join(import.meta.dir, "../../server/storage/local.ts");
  const script = `import { LocalStorage } from ${JSON.stringify(local)}; import * as fs from "node:fs";
const storage = new LocalStorage(${JSON.stringify(root)});
fs.writeFileSync(${JSON.stringify(join(root, "f"))}, new Uint8Array(3000));
fs.writeFileSync(${JSON.stringify(join(root, "alone"))}, new Uint8Array(700));
fs.chmodSync(${JSON.stringify(join(root, "alone"))}, 0);
const upload = await storage.openWrite("f", { kind: "append" });
await upload.write(new Uint8Array(5000));
fs.chmodSync(${JSON.stringify(join(root, "f"))}, 0);
const freed = await storage.remove("f");
const settled = await upload.commit();
console.log(JSON.stringify({ freed, settled, alone: await storage.remove("alone") }));`;
  if (isRoot) chownSync(root, 65534, 65534);
  const cmd = ["bun", "-e", script];
  const proc = Bun.spawn(isRoot ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", ...cmd] : cmd, { cwd: root, stdout: "pipe", stderr: "inherit" });
  const timer = setTimeout(() => proc.kill(9), 20_000);
  const out = await new Response(proc.stdout).text();
  clearTimeout(timer);
  expect(await proc.exited).toBe(0);
  // Before: the DELE gave back the lstat's 8,000 bytes and the upload its 3,000 (11,000 for a 3,000-byte file).
  expect(JSON.parse(out)).toEqual({ freed: 0, settled: -3000, alone: 700 });
}, 30_000);

test("--workers: a writer's start asks for a verdict lock held elsewhere for ~10 ms before going on without it, not under 1 ms", () => {
  const root = mkdtempSync(join(tmpdir(), "ftpkit-removal-"));
  roots.push(root);
  writeFileSync(join(root, "f"), "x");
  mkdirSync(join(root, TEMP_DIR));
  const verdicts = verdictLocks(() => openSync(join(root, TEMP_DIR), "r"));
  const fd = openSync(join(root, "f"), "r");
  try {
    // Held by another session (its own descriptor of the lock file): for flock, another holder.
    const held = verdicts(fd);
    if (held === "busy") throw new Error("the verdict lock was not free");
    const t = performance.now();
    const release = verdictNow(fd, verdicts);
    const waited = performance.now() - t;
    release(); // unguarded: lets nothing go
    expect(verdicts(fd)).toBe("busy");
    held();
    // Before: Bun.sleepSync(0.1) sleeps not at all (whole milliseconds only), and 100 tries took ~0.8 ms.
    expect(waited).toBeGreaterThanOrEqual(9.5);
    expect(waited).toBeLessThan(1_000);
    const free = verdicts(fd);
    expect(free).not.toBe("busy");
    if (free !== "busy") free();
  } finally {
    closeSync(fd);
  }
});
