// The client's journal in a working directory another account can reach: a .ftpkit it made (or made
// writable), links planted at the names the journal writes, the API's journal in the temp directory.
// Run as root, the victim, with the attacker's files owned by nobody (65534): a journal another account
// controls is not used (the state directory's is), and no journal file is opened through a link.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, chownSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { journalDir, saveRecord, transferId, type TransferRecord } from "../../client/journal.ts";
import { DoneLog, readLog } from "../../client/tree-journal.ts";
import { displayUrl, parseUrlArg } from "../../client/options.ts";
import { roots } from "../../client/tree-roots.ts";
import type { TreeRequest } from "../../client/tree-roots.ts";
import { removeDir, runFtpkit, startFtpkitServer, tempDir, type FtpkitPeer } from "../helpers/peers.ts";

setDefaultTimeout(60_000);

const NOBODY = 65534;
const asRoot = process.getuid?.() === 0;
const VICTIM_TEXT = "export PATH=/usr/bin\n";

let srv: FtpkitPeer;
const dirs: string[] = [];
const fresh = (prefix: string) => {
  const d = tempDir(prefix);
  dirs.push(d);
  return d;
};

const savedState = process.env.XDG_STATE_HOME;

beforeAll(async () => {
  // The records written here are sealed with a key in the state directory: a test's own, not root's.
  process.env.XDG_STATE_HOME = fresh("ftpkit-state-");
  srv = await startFtpkitServer();
  mkdirSync(join(srv.home, "t"), { recursive: true });
  // A remote name that is a shell command: a line naming it appended to ~/.bashrc ran it.
  for (const n of ["a.txt", "$(id>&2;echo PWNED>&2)"]) writeFileSync(join(srv.home, "t", n), `${n}\n`);
  writeFileSync(join(srv.home, "f.txt"), "file\n");
});
afterAll(async () => {
  if (savedState === undefined) delete process.env.XDG_STATE_HOME;
  else process.env.XDG_STATE_HOME = savedState;
  await srv?.stop();
  for (const d of dirs) removeDir(d);
});

/** The victim's file an attacker's link points at (in a directory of the victim's own). */
function victimFile(): string {
  const f = join(fresh("ftpkit-victim-"), ".bashrc");
  writeFileSync(f, VICTIM_TEXT);
  return f;
}

/** A shared directory (mode 1777, as /tmp) to run in. */
function sharedDir(): string {
  const d = fresh("ftpkit-shared-");
  chmodSync(d, 0o1777);
  return d;
}

/** The id `ftpkit get -r URL LOCAL` records its job under. */
function treeId(url: string, local: string): string {
  const r = roots({ direction: "get", url, local, spec: { mode: "copy", recursive: true } } as TreeRequest);
  return transferId("tree-get-copy", displayUrl(r.url), r.local);
}

/** The attacker's layouts of ./.ftpkit/transfers: `make` returns the directory the job would have written in. */
const layouts: { name: string; make(cwd: string): string }[] = [
  {
    name: "made by another account, mode 0777",
    make(cwd) {
      const t = join(cwd, ".ftpkit", "transfers");
      mkdirSync(t, { recursive: true });
      for (const d of [join(cwd, ".ftpkit"), t]) {
        chownSync(d, NOBODY, NOBODY);
        chmodSync(d, 0o777);
      }
      return t;
    },
  },
  {
    name: "the user's own .ftpkit/transfers left writable by others",
    make(cwd) {
      const t = join(cwd, ".ftpkit", "transfers");
      mkdirSync(t, { recursive: true });
      chmodSync(t, 0o777);
      return t;
    },
  },
  {
    name: "a link to another account's directory",
    make(cwd) {
      const theirs = fresh("ftpkit-attacker-");
      mkdirSync(join(theirs, "transfers"));
      chownSync(theirs, NOBODY, NOBODY);
      chownSync(join(theirs, "transfers"), NOBODY, NOBODY);
      symlinkSync(theirs, join(cwd, ".ftpkit"));
      return join(theirs, "transfers");
    },
  },
];

describe.skipIf(!asRoot)("a working directory's .ftpkit another account can write", () => {
  for (const layout of layouts) {
    test(`is not used (${layout.name}): its planted link leaves the user's file alone, and get -r completes with its journal in the state directory`, async () => {
      const cwd = sharedDir();
      const state = fresh("ftpkit-state-");
      const bashrc = victimFile();
      const url = srv.url("/t");
      const local = join(cwd, "out");
      const planted = layout.make(cwd);
      symlinkSync(bashrc, join(planted, `${treeId(url, local)}.done`));
      const run = await runFtpkit(["get", "-r", url, local], { cwd, env: { XDG_STATE_HOME: state } });
      expect(readFileSync(bashrc, "utf8")).toBe(VICTIM_TEXT);
      expect(run.code).toBe(0);
      expect(readFileSync(join(local, "a.txt"), "utf8")).toBe("a.txt\n");
      // One note, naming why and where the journal went instead.
      expect(run.stderr.match(/not keeping resume records in/g)).toHaveLength(1);
      expect(run.stderr).toContain(join(state, "ftpkit", "journals"));
      expect(readdirSync(planted).every((n) => lstatSync(join(planted, n)).isSymbolicLink())).toBe(true);
    });
  }

  test("a working directory another account owns (not sticky: it may rename .ftpkit) keeps its journal in the state directory", () => {
    const cwd = fresh("ftpkit-theirs-");
    chownSync(cwd, NOBODY, NOBODY);
    chmodSync(cwd, 0o755);
    expect(journalDir(cwd).startsWith(join(cwd, ".ftpkit"))).toBe(false);
    const own = fresh("ftpkit-own-");
    expect(journalDir(own)).toBe(join(own, ".ftpkit", "transfers"));
  });
});

describe("journal files are never opened through a link planted at their name", () => {
  const record = (dir: string): TransferRecord => ({
    id: "0123456789abcdef",
    direction: "get",
    url: "ftp://127.0.0.1:21/f",
    local: join(dir, "f"),
    remoteSize: 1,
    remoteMtime: null,
    hash: "crc32",
    verify: false,
    startedAt: new Date().toISOString(),
  } as TransferRecord);

  test("a record's temp file: the write lands in the record, not in the link's target", () => {
    const dir = fresh("ftpkit-journal-");
    const bashrc = victimFile();
    // The temp name an earlier ftpkit used: predictable from the pid.
    symlinkSync(bashrc, join(dir, `.0123456789abcdef.json.${process.pid}.tmp`));
    saveRecord(record(dir), dir);
    expect(readFileSync(bashrc, "utf8")).toBe(VICTIM_TEXT);
    expect(lstatSync(join(dir, "0123456789abcdef.json")).isFile()).toBe(true);
  });

  test("a tree job's log of finished files: refused as a link, its target untouched and unread", () => {
    const dir = fresh("ftpkit-journal-");
    const bashrc = victimFile();
    writeFileSync(bashrc, `${VICTIM_TEXT}{"rel":"x","size":1,"digest":"d"}\n`);
    const before = readFileSync(bashrc, "utf8");
    symlinkSync(bashrc, join(dir, "0123456789abcdef.done"));
    expect(readLog("0123456789abcdef", dir).done.size).toBe(0);
    expect(() => new DoneLog("0123456789abcdef", dir).append({ rel: "$(id)", size: 1, digest: "d" })).toThrow();
    expect(readFileSync(bashrc, "utf8")).toBe(before);
    expect(readlinkSync(join(dir, "0123456789abcdef.done"))).toBe(bashrc);
  });
});

// An earlier ftpkit made it with the umask's 0755: refused as not private, every call got a fresh
// directory of its own, and a get() cut off in one process was no longer resumed by the next.
test("the API's journal directory an earlier release made 0755 is the user's: kept (tightened to 0700), not replaced by a fresh one per process", async () => {
  const tmp = fresh("ftpkit-tmp-");
  const ours = join(tmp, `ftpkit-transfers-${process.getuid!()}`);
  mkdirSync(ours);
  chmodSync(ours, 0o755);
  const local = join(fresh("ftpkit-api-"), "f.txt");
  const script = `const api = await import(${JSON.stringify(join(import.meta.dir, "../../cli/api.ts"))}); await api.get(${JSON.stringify(srv.url("/f.txt"))}, ${JSON.stringify(local)});`;
  const proc = Bun.spawn(["bun", "-e", script], { env: { ...process.env, TMPDIR: tmp }, stdout: "pipe", stderr: "pipe" });
  expect(await proc.exited).toBe(0);
  expect(readFileSync(local, "utf8")).toBe("file\n");
  expect(lstatSync(ours).mode & 0o777).toBe(0o700);
  expect(readdirSync(tmp)).toEqual([`ftpkit-transfers-${process.getuid!()}`]);
});

describe.skipIf(!asRoot)("the API's journal in the temp directory", () => {
  test("one another account made first (mode 0777) is not used: get works, and nothing of the user's lands there", async () => {
    const tmp = sharedDir();
    const theirs = join(tmp, `ftpkit-transfers-${process.getuid!()}`);
    mkdirSync(theirs);
    chownSync(theirs, NOBODY, NOBODY);
    chmodSync(theirs, 0o777);
    const bashrc = victimFile();
    const url = srv.url("/f.txt");
    const local = join(fresh("ftpkit-api-"), "f.txt");
    const link = join(theirs, `${transferId("get", displayUrl(parseUrlArg(url)), local)}.json`);
    symlinkSync(bashrc, link);
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = tmp;
    try {
      const api = await import("../../cli/api.ts");
      await api.get(url, local);
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
    }
    expect(readFileSync(local, "utf8")).toBe("file\n");
    expect(readFileSync(bashrc, "utf8")).toBe(VICTIM_TEXT);
    // The link is as the attacker left it: the record was written (and removed) elsewhere.
    expect(readlinkSync(link)).toBe(bashrc);
  });
});
