// Every bad input ends with one clear line on stderr, the exit status of its kind (README), and nothing left behind.
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanEnv, FTPKIT, removeDir, runFtpkit, startPyftpd, tempDir, type Peer } from "../helpers/peers.ts";
import { startFakeServer } from "./fake-server.ts";

setDefaultTimeout(60_000); // real servers and CLI processes; see BUN-NOTES on the preload

let peer: Peer;
let work: string;
let closedPort: number;

beforeAll(async () => {
  peer = await startPyftpd();
  writeFileSync(join(peer.root, "exists.txt"), "x");
  mkdirSync(join(peer.root, "a-dir"));
  work = tempDir();
  Bun.spawnSync(["mkfifo", join(work, "pipe")]);
  mkdirSync(join(work, "holder", "exists.txt"), { recursive: true }); // a directory where a download's file would go
  mkdirSync(join(work, "photos [2024]", "sub"), { recursive: true });
  writeFileSync(join(work, "photos [2024]", "top.jpg"), "jpg");
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  closedPort = l.port;
  l.stop(true);
});

afterAll(async () => {
  await peer.stop();
  removeDir(peer.root);
  removeDir(work);
});

/** A directory this process cannot write to (root ignores mode bits; /proc/1 refuses even root). */
function unwritableDir(): string {
  if (process.getuid?.() === 0) return "/proc/1";
  const d = join(work, "ro");
  mkdirSync(d, { recursive: true });
  chmodSync(d, 0o555);
  return d;
}

describe("clear errors and non-zero exits", () => {
  const cases: { name: string; status: number; args: () => string[]; message: RegExp }[] = [
    { name: "a malformed URL", status: 2, args: () => ["get", "http://example.com/x"], message: /invalid FTP URL/ },
    { name: "a URL without a file", status: 2, args: () => ["get", peer.url("/")], message: /names a directory/ },
    { name: "an unknown host", status: 4, args: () => ["get", "ftp://no-such-host.invalid/x"], message: /unknown host "no-such-host\.invalid"/ },
    { name: "a closed port", status: 4, args: () => ["get", `ftp://127.0.0.1:${closedPort}/x`], message: /connection refused/ },
    { name: "a wrong password", status: 6, args: () => ["get", `ftp://user:wrong@127.0.0.1:${peer.port}/exists.txt`], message: /login failed for user "user"/ },
    { name: "a missing remote file", status: 8, args: () => ["get", peer.url("/missing.txt")], message: /remote file not found.*\/missing\.txt/ },
    { name: "an unwritable local directory", status: 3, args: () => ["get", peer.url("/exists.txt"), unwritableDir() + "/"], message: /cannot write to .*(permission denied|not permitted)/ },
    { name: "get -r into a directory that cannot be created", status: 3, args: () => ["get", "-r", peer.url("/a-dir"), unwritableDir() + "/tree"], message: /cannot create .*\/tree: (permission denied|no such file or directory)$/ },
    { name: "get -r under a file", status: 3, args: () => ["get", "-r", peer.url("/a-dir"), "local.txt/sub"], message: /cannot create .*local\.txt\/sub: a file stands in its path$/ },
    // Before: the whole file came, then "EISDIR: illegal operation on a directory, rename …", its part file and record kept.
    { name: "a directory where the file would go", status: 3, args: () => ["get", peer.url("/exists.txt"), "holder/"], message: /cannot write .*\/holder\/exists\.txt: a directory stands there \(give the download another name: ftpkit get URL NAME\)$/ },
    { name: "a local directory that does not exist", status: 3, args: () => ["get", peer.url("/exists.txt"), join(work, "nope", "f")], message: /no such directory/ },
    { name: "a missing local file to upload", status: 3, args: () => ["put", "nothing-here.bin", peer.url("/up.bin")], message: /cannot read .*nothing-here\.bin: no such file/ },
    { name: "an empty local path to upload (an unset variable)", status: 2, args: () => ["put", "", peer.url("/up.bin")], message: /LOCAL is empty: put uploads a local file or directory/ },
    { name: "an empty LOCAL given to resume --list", status: 2, args: () => ["resume", "", "--list"], message: /LOCAL is empty/ },
    { name: "an empty local path to download to", status: 2, args: () => ["get", peer.url("/exists.txt"), ""], message: /LOCAL is empty: get downloads to a local path/ },
    { name: "a named pipe to upload (without waiting for a writer)", status: 3, args: () => ["put", "pipe", peer.url("/up.bin")], message: /cannot upload .*pipe: not a regular file/ },
    { name: "a remote glob that matches nothing (no directory created)", status: 8, args: () => ["get", peer.url("/*.nope"), "out"], message: /no remote file matches "\*\.nope" in \// },
    { name: "a glob with a reversed range (matches nothing, no stack trace)", status: 8, args: () => ["get", peer.url("/[z-a]*"), "out"], message: /no remote file matches "\[z-a\]\*" in \// },
    { name: "get -r of a file", status: 2, args: () => ["get", "-r", peer.url("/exists.txt"), "out"], message: /\/exists\.txt is a file, not a directory: fetch it without -r/ },
    { name: "sync from a remote file", status: 2, args: () => ["sync", peer.url("/exists.txt"), "out"], message: /\/exists\.txt is a file, not a directory: sync mirrors a directory; fetch a file with get$/ },
    { name: "put -r of a file", status: 2, args: () => ["put", "-r", "local.txt", peer.url("/")], message: /local\.txt is a file, not a directory: upload it without -r/ },
    { name: "sync of a local file", status: 2, args: () => ["sync", "local.txt", peer.url("/")], message: /local\.txt is a file, not a directory: sync mirrors directories; ftpkit put uploads one file/ },
    { name: "put of a directory without -r", status: 2, args: () => ["put", ".", peer.url("/")], message: /is a directory: upload a tree with put -r/ },
    // Before: its top-level files went into the URL as a glob's matches, its subdirectories dropped, exit 0.
    { name: "put of a directory named like a pattern, without -r", status: 2, args: () => ["put", "photos [2024]", peer.url("/")], message: /photos \[2024\] is a directory: upload a tree with put -r/ },
    { name: "a local glob that matches nothing", status: 3, args: () => ["put", "*.nope", peer.url("/")], message: /no local file matches "\*\.nope" in / },
    { name: "an upload onto a remote directory's name", status: 2, args: () => ["put", "local.txt", peer.url("/a-dir")], message: /\/a-dir is a directory on the server: end the URL with "\/" to upload into it/ },
    { name: "an upload into a missing remote directory", status: 8, args: () => ["put", "local.txt", peer.url("/no/dir/x")], message: /STOR \/no\/dir\/x: .*550/ },
    { name: "a bad --hash", status: 2, args: () => ["get", peer.url("/exists.txt"), "--hash", "crc"], message: /--hash must be sha256, md5 or crc32, not "crc"/ },
    { name: "a bad --limit-rate", status: 2, args: () => ["get", peer.url("/exists.txt"), "--limit-rate", "fast"], message: /invalid size "fast"/ },
    // The flag is named, and the units listed include curl's K, M, G, which --limit-rate takes.
    { name: "a --limit-rate with no such unit", status: 2, args: () => ["get", peer.url("/exists.txt"), "--limit-rate", "2XB"], message: /\] --limit-rate: invalid size unit in "2XB" \(use B, K, KB, KiB, M, MB, MiB, G, GB, GiB, T, TB or TiB\)$/ },
    { name: "ls of a missing path", status: 8, args: () => ["ls", peer.url("/missing/")], message: /550/ },
    { name: "resume of a file with no record", status: 1, args: () => ["resume", "nothing.bin"], message: /no interrupted transfer/ },
    { name: "an unknown flag (a typo)", status: 2, args: () => ["get", peer.url("/exists.txt"), "--limit-rat", "1M"], message: /unknown option --limit-rat/ },
    { name: "an unknown short flag", status: 2, args: () => ["put", "-x", "local.txt", peer.url("/up.bin")], message: /unknown option -x/ },
    { name: "an extra argument", status: 2, args: () => ["ls", peer.url("/"), "extra"], message: /unexpected argument "extra"/ },
    { name: "get of a remote directory without -r", status: 2, args: () => ["get", peer.url("/a-dir"), "out"], message: /\/a-dir is a directory: fetch it with get -r$/ },
    { name: "--exclude for a single file", status: 2, args: () => ["get", peer.url("/exists.txt"), "--exclude", "*.txt"], message: /--exclude filters tree jobs/ },
    { name: "a bad --parallel for a single file", status: 2, args: () => ["get", peer.url("/exists.txt"), "--parallel", "0"], message: /--parallel must be a whole number from 1 to 64/ },
    { name: "--parallel for a single file (was accepted and ignored)", status: 2, args: () => ["get", peer.url("/exists.txt"), "--parallel", "4"], message: /--parallel sets the connections of tree jobs/ },
    { name: "--parallel= for a single upload", status: 2, args: () => ["put", "local.txt", peer.url("/up.bin"), "--parallel=2"], message: /--parallel sets the connections of tree jobs/ },
    { name: "--dry-run for a single file", status: 2, args: () => ["get", peer.url("/exists.txt"), "--dry-run"], message: /--dry-run plans tree jobs/ },
    { name: "--segments with -r", status: 2, args: () => ["get", "-r", peer.url("/a-dir"), "out", "--segments", "4"], message: /--segments splits one file over several connections; a tree or a glob moves many files/ },
    { name: "--segments with a glob", status: 2, args: () => ["get", peer.url("/*.txt"), "out", "--segments=2"], message: /--segments splits one file over several connections/ },
    { name: "--segments 1 with -r (any --segments is refused with a tree)", status: 2, args: () => ["get", "-r", peer.url("/a-dir"), "out", "--segments", "1"], message: /--segments splits one file over several connections; a tree or a glob moves many files/ },
    { name: "--exclude followed by a flag (its value left out)", status: 2, args: () => ["get", "-r", peer.url("/a-dir"), "out", "--exclude", "--quiet"], message: /^.*--exclude needs a value, and --quiet looks like an option; for a value that starts with "-", write --exclude=--quiet$/ },
    { name: "--hash followed by a flag, refused the same way", status: 2, args: () => ["get", peer.url("/exists.txt"), "--hash", "--quiet"], message: /--hash needs a value, and --quiet looks like an option/ },
    { name: "--parallel followed by a short flag", status: 2, args: () => ["put", "-r", ".", peer.url("/"), "--parallel", "-r"], message: /--parallel needs a value, and -r looks like an option; for a value that starts with "-", write --parallel=-r/ },
    { name: "--no-verify with --hash", status: 2, args: () => ["get", peer.url("/exists.txt"), "--no-verify", "--hash", "md5"], message: /--no-verify and --hash contradict/ },
    { name: "put --no-verify with --hash", status: 2, args: () => ["put", "local.txt", peer.url("/up.txt"), "--hash=crc32", "--no-verify"], message: /--no-verify and --hash contradict/ },
    { name: "--retries last without its value", status: 2, args: () => ["get", peer.url("/exists.txt"), "x", "--retries"], message: /--retries needs a value: a whole number from 0 to 100$/ },
    { name: "--stall-timeout last without its value", status: 2, args: () => ["get", peer.url("/exists.txt"), "x", "--stall-timeout"], message: /--stall-timeout needs a value: a number of seconds up to 86400 \(0: never\)$/ },
    { name: "--limit-rate last without its value", status: 2, args: () => ["get", peer.url("/exists.txt"), "x", "--limit-rate"], message: /--limit-rate needs a value/ },
    { name: "an empty --retries=", status: 2, args: () => ["get", peer.url("/exists.txt"), "--retries="], message: /--retries needs a value/ },
    { name: "an empty --stall-timeout=", status: 2, args: () => ["put", "local.txt", peer.url("/up.txt"), "--stall-timeout="], message: /--stall-timeout needs a value/ },
    { name: "a hexadecimal --parallel", status: 2, args: () => ["get", "-r", peer.url("/a-dir"), "out", "--parallel=0x10"], message: /--parallel must be a whole number from 1 to 64/ },
    { name: "a --retries with a leading space", status: 2, args: () => ["get", peer.url("/exists.txt"), "--retries", " 2"], message: /--retries must be a whole number from 0 to 100/ },
    { name: "a --segments in exponent notation", status: 2, args: () => ["get", peer.url("/exists.txt"), "--segments", "1e1"], message: /--segments must be a whole number from 1 to 32/ },
    { name: "a --stall-timeout in hexadecimal", status: 2, args: () => ["get", peer.url("/exists.txt"), "--stall-timeout", "0x10"], message: /--stall-timeout must be a number of seconds up to 86400 \(0: never\)/ },
    { name: "a --stall-timeout past a day (its timer would overflow and fire at once)", status: 2, args: () => ["get", peer.url("/exists.txt"), "--stall-timeout", "3000000"], message: /--stall-timeout must be a number of seconds up to 86400 \(0: never\)/ },
  ];
  for (const c of cases) {
    test(`reports ${c.name} with exit status ${c.status}`, async () => {
      writeFileSync(join(work, "local.txt"), "local");
      const listing = () => readdirSync(work).filter((n) => n !== ".ftpkit").sort();
      const before = listing();
      const r = await runFtpkit(c.args(), { cwd: work, timeoutMs: 20_000 });
      expect(r.code).toBe(c.status);
      const lines = r.stderr.trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(c.message);
      expect(r.stderr).not.toMatch(/\bat .*\.ts:\d+/); // no stack trace
      expect(r.stdout).toBe("");
      expect(listing()).toEqual(before);
      if (existsSync(join(work, ".ftpkit", "transfers"))) expect(readdirSync(join(work, ".ftpkit", "transfers"))).toEqual([]);
      expect(existsSync(join(work, "exists.txt"))).toBe(false);
      expect(existsSync(join(work, "exists.txt.ftpkit-part"))).toBe(false);
    });
  }
});

describe("a glob whose every match is left out", () => {
  const cases: { name: string; make: (dir: string) => void; message: string }[] = [
    {
      name: "a FIFO and a link to nothing",
      make: (dir) => {
        Bun.spawnSync(["mkfifo", join(dir, "p1")]);
        symlinkSync("/nonexistent/ftpkit", join(dir, "dangling"));
      },
      message: 'nothing to copy: all 2 local entries matching "*" in DIR were left out: dangling (a symbolic link to nothing), p1 (not a regular file: a FIFO, socket or device)',
    },
    { name: "a directory without -r", make: (dir) => mkdirSync(join(dir, "sub")), message: 'nothing to copy: the one local entry matching "*" in DIR was left out: sub (a directory, not copied without -r)' },
  ];
  for (const c of cases) {
    test(`put: ${c.name}: exit 3, the error names each and why, not "no local file matches"`, async () => {
      const dir = tempDir("ftpkit-glob-left-out-");
      try {
        c.make(dir);
        const r = await runFtpkit(["put", join(dir, "*"), peer.url("/")], { cwd: work, timeoutMs: 20_000 });
        expect(r.code).toBe(3);
        expect(r.stderr.trim().split("\n").at(-1)).toBe(`[error] ${c.message.replace("DIR", dir)}`);
      } finally {
        removeDir(dir);
      }
    });
  }
});

describe("a local name with a line break, put into a directory URL", () => {
  test("exit 3 before connecting, one line naming the file and why, as the glob form says it; under a name the URL gives, it uploads", async () => {
    const dir = tempDir("ftpkit-newline-name-");
    try {
      writeFileSync(join(dir, "nl\nname"), "x");
      // A closed port: a connection attempt would end in a network error (exit 4).
      const r = await runFtpkit(["put", "nl\nname", `ftp://u:p@127.0.0.1:${closedPort}/`], { cwd: dir, timeoutMs: 20_000 });
      // Before: exit 1, "CR/LF in command argument" and a stack trace, after logging in.
      expect(r.stderr).toBe(`[error] "nl\\nname": a name with a line break cannot be sent over FTP; give the remote file another name (ftpkit put FILE ftp://u@127.0.0.1:${closedPort}/NAME)\n`);
      expect(r.code).toBe(3);
      const json = await runFtpkit(["put", "nl\nname", `ftp://u:p@127.0.0.1:${closedPort}/sub/`, "--json"], { cwd: dir, timeoutMs: 20_000 });
      expect(json.code).toBe(3);
      expect(JSON.parse(json.stdout).error).toContain('"nl\\nname": a name with a line break cannot be sent over FTP');
      const named = await runFtpkit(["put", "nl\nname", peer.url("/nl-renamed.txt"), "--quiet"], { cwd: dir, timeoutMs: 20_000 });
      expect(named.code).toBe(0);
      expect(readFileSync(join(peer.root, "nl-renamed.txt"), "utf8")).toBe("x");
    } finally {
      removeDir(dir);
    }
  });
});

describe("a local path whose bytes are not UTF-8 (a Latin-1 name)", () => {
  /**
   * ftpkit with `before`, the path "caf\xe9" (raw bytes, as a Latin-1 terminal passes them: the
   * shell's printf writes them) and `after` as arguments, in a directory holding a file of that name.
   */
  const withLatin1 = async (before: string[], after: string[]) => {
    const dir = tempDir("ftpkit-latin1-arg-");
    writeFileSync(Buffer.concat([Buffer.from(`${dir}/caf`), Buffer.from([0xe9])]), "latin-1 name\n");
    const script = `exec bun "$0" ${before.map((_, i) => `"\${${i + 1}}"`).join(" ")} "$(printf 'caf\\351')" ${after.map((_, i) => `"\${${before.length + i + 1}}"`).join(" ")}`;
    const proc = Bun.spawn(["sh", "-c", script, FTPKIT, ...before, ...after], { cwd: dir, env: { ...cleanEnv(), NO_COLOR: "1" }, stdout: "pipe", stderr: "pipe" });
    const timer = setTimeout(() => proc.kill(9), 20_000);
    const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    clearTimeout(timer);
    // As bytes: read as strings, the Latin-1 name and a written "caf\uFFFD" look the same.
    const names = readdirSync(dir, { encoding: "buffer" }).map((n) => n.toString("hex")).filter((n) => n !== Buffer.from(".ftpkit").toString("hex"));
    removeDir(dir);
    return { stderr, code, names };
  };
  const refusal = (role: string) => `[error] ${role} holds bytes that are not valid UTF-8 (caf\uFFFD): arguments are read as UTF-8, so it would name another file; rename it, or name its directory\n`;

  test("get URL LOCAL: exit 2, one line, and no file of another name (caf\\uFFFD) is written", async () => {
    const r = await withLatin1(["get", peer.url("/exists.txt")], []);
    // Before: exit 0, the download written as "caf\xef\xbf\xbd".
    expect(r.stderr).toBe(refusal("LOCAL"));
    expect(r.code).toBe(2);
    expect(r.names).toEqual([Buffer.from("caf\xe9", "latin1").toString("hex")]);
  });

  test("put LOCAL URL: exit 2 with that line, not \"no such file\" for a file that is there", async () => {
    const r = await withLatin1(["put"], [peer.url("/latin1-up.txt")]);
    expect(r.stderr).toBe(refusal("LOCAL"));
    expect(r.code).toBe(2);
  });

  test("a name that holds a real U+FFFD (valid UTF-8) is no such path: put uploads it and get writes to it", async () => {
    const dir = tempDir("ftpkit-fffd-arg-");
    try {
      writeFileSync(join(dir, "caf\uFFFD"), "a real U+FFFD\n");
      const put = await runFtpkit(["put", "caf\uFFFD", peer.url("/fffd-up.txt"), "--quiet"], { cwd: dir, timeoutMs: 20_000 });
      // Before: exit 2, "LOCAL holds bytes that are not valid UTF-8".
      expect(put.stderr).toBe("");
      expect(put.code).toBe(0);
      expect(readFileSync(join(peer.root, "fffd-up.txt"), "utf8")).toBe("a real U+FFFD\n");
      const get = await runFtpkit(["get", peer.url("/exists.txt"), "x\uFFFD.txt", "--quiet"], { cwd: dir, timeoutMs: 20_000 });
      expect(get.stderr).toBe("");
      expect(get.code).toBe(0);
      expect(readFileSync(join(dir, "x\uFFFD.txt"), "utf8")).toBe("x");
    } finally {
      removeDir(dir);
    }
  });
});

test("a pattern that starts with \"-\" is given as --exclude=-PATTERN", async () => {
  mkdirSync(join(peer.root, "dashes"), { recursive: true });
  writeFileSync(join(peer.root, "dashes", "-draft.txt"), "d");
  writeFileSync(join(peer.root, "dashes", "keep.txt"), "k");
  const r = await runFtpkit(["get", "-r", peer.url("/dashes"), "dashes-out", "--exclude=-draft.txt", "--quiet"], { cwd: work, timeoutMs: 20_000 });
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  expect(readdirSync(join(work, "dashes-out"))).toEqual(["keep.txt"]);
});

test("get --help says that --stall-timeout 0 means never", async () => {
  const r = await runFtpkit(["get", "--help"], { cwd: work, timeoutMs: 15_000 });
  expect(r.stdout + r.stderr).toMatch(/--stall-timeout[^\n]*0: never/);
});

describe("a password in a mistaken argument is never printed", () => {
  const at = () => `u:SeCrEt@127.0.0.1:${peer.port}`;
  const masked = () => `u:\\*\\*\\*@127\\.0\\.0\\.1:${peer.port}`;
  const cases: { name: string; args: () => string[]; message: () => RegExp }[] = [
    { name: "get with a URL as LOCAL", args: () => ["get", `ftp://${at()}/exists.txt`, `ftp://${at()}/b.txt`], message: () => new RegExp(`LOCAL is a URL \\(ftp://${masked()}/b\\.txt\\): get downloads to a local path; ftpkit copies between a server and this machine$`) },
    { name: "get -r with a URL as LOCAL", args: () => ["get", "-r", `ftp://${at()}/a-dir`, `ftp://${at()}/b`], message: () => /LOCAL is a URL \(ftp:\/\/u:\*\*\*@.*\): get downloads to a local path/ },
    { name: "put with a URL as LOCAL", args: () => ["put", `ftp://${at()}/a.txt`, `ftp://${at()}/b.txt`], message: () => new RegExp(`LOCAL is a URL \\(ftp://${masked()}/a\\.txt\\): put uploads a local file or directory; ftpkit copies between a server and this machine$`) },
    { name: "sync with another scheme's URL as DST", args: () => ["sync", `ftp://${at()}/a-dir`, "https://u:SeCrEt@example.com/x"], message: () => /DST is a URL \(https:\/\/u:\*\*\*@example\.com\/x\): sync mirrors into a local directory/ },
    { name: "ls of ftp:/ (one slash)", args: () => ["ls", `ftp:/${at()}/`], message: () => new RegExp(`invalid FTP URL "ftp:/${masked()}/"`) },
    { name: "ls of ftp// (no colon)", args: () => ["ls", `ftp//${at()}/`], message: () => new RegExp(`invalid FTP URL "ftp//${masked()}/"`) },
    { name: "ls without a scheme", args: () => ["ls", `${at()}/`], message: () => new RegExp(`invalid FTP URL "${masked()}/"`) },
    { name: "get of ftp:/ (one slash)", args: () => ["get", `ftp:/${at()}/exists.txt`], message: () => new RegExp(`invalid FTP URL "ftp:/${masked()}/exists\\.txt"`) },
  ];
  for (const c of cases) {
    test(`${c.name}: one usage line (exit 2) with the password shown as ***`, async () => {
      const r = await runFtpkit(c.args(), { cwd: work, timeoutMs: 20_000 });
      expect(r.code).toBe(2);
      const lines = r.stderr.trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(c.message());
      expect(r.stderr + r.stdout).not.toContain("SeCrEt");
      expect(readdirSync(work).filter((n) => n.startsWith("ftp") || n.startsWith("u:"))).toEqual([]);
    });
  }
});

describe("a user name or password holding CR, LF or NUL", () => {
  const fakeUrl = (port: number, userinfo: string, path = "/a.txt") => `ftp://${userinfo}@127.0.0.1:${port}${path}`;
  const cases: { name: string; args: (port: number) => string[]; env?: Record<string, string>; netrc?: string; message: RegExp }[] = [
    { name: "LF in the URL's password (get)", args: (p) => ["get", fakeUrl(p, "u:p%0Ax"), "x"], message: /^\S+ URL password contains control characters \(CR, LF or NUL\)$/ },
    { name: "CR in the URL's password (get -r)", args: (p) => ["get", "-r", fakeUrl(p, "u:p%0D", "/d"), "x"], message: /URL password contains control characters/ },
    { name: "NUL in the URL's password (ls)", args: (p) => ["ls", fakeUrl(p, "u:p%00x", "/")], message: /URL password contains control characters/ },
    { name: "LF in the URL's user name (get)", args: (p) => ["get", fakeUrl(p, "u%0A:p"), "x"], message: /URL user name contains control characters \(CR, LF or NUL\)$/ },
    { name: "LF in $FTPKIT_PASSWORD (get)", args: (p) => ["get", fakeUrl(p, "u"), "x"], env: { FTPKIT_PASSWORD: "p\nx" }, message: /^\S+ \$FTPKIT_PASSWORD contains control characters \(CR, LF or NUL\)$/ },
    { name: "LF in $FTPKIT_PASSWORD (get -r)", args: (p) => ["get", "-r", fakeUrl(p, "u", "/d"), "x"], env: { FTPKIT_PASSWORD: "p\nx" }, message: /\$FTPKIT_PASSWORD contains control characters/ },
    { name: "CR in ~/.netrc's password (ls)", args: (p) => ["ls", fakeUrl(p, "u", "/")], netrc: 'machine 127.0.0.1 login u password "p\rx"\n', message: /the password in ~\/\.netrc contains control characters \(CR, LF or NUL\)$/ },
    { name: "NUL in ~/.netrc's password (get)", args: (p) => ["get", `ftp://127.0.0.1:${p}/a.txt`, "x"], netrc: "machine 127.0.0.1 login u password p\0x\n", message: /the password in ~\/\.netrc contains control characters/ },
    { name: "NUL in ~/.netrc's login (get)", args: (p) => ["get", `ftp://127.0.0.1:${p}/a.txt`, "x"], netrc: "machine 127.0.0.1 login u\0x password p\n", message: /the login in ~\/\.netrc contains control characters/ },
  ];
  for (const c of cases) {
    test(`${c.name}: one usage line (exit 2), and no PASS reaches the server`, async () => {
      const fake = startFakeServer({ files: new Map([["/a.txt", Buffer.from("abc")]]) });
      const home = tempDir("ftpkit-home-");
      try {
        if (c.netrc) writeFileSync(join(home, ".netrc"), c.netrc);
        const r = await runFtpkit(c.args(fake.port), { cwd: work, env: { HOME: home, ...c.env }, timeoutMs: 20_000 });
        expect(r.code).toBe(2);
        const lines = r.stderr.trim().split("\n");
        expect(lines).toHaveLength(1);
        expect(lines[0]).toMatch(c.message);
        expect(r.stderr).not.toMatch(/\bat .*\.ts:\d+/);
        expect(fake.commands.filter((l) => l.startsWith("PASS"))).toEqual([]);
        expect(fake.commands.some((l) => /[\r\0]/.test(l))).toBe(false);
      } finally {
        fake.stop();
        removeDir(home);
      }
    });
  }
});

describe("--json prints exactly one report, whatever fails", () => {
  const cases: { name: string; status: number; args: () => string[]; error: RegExp }[] = [
    { name: "a bad --retries", status: 2, args: () => ["get", peer.url("/exists.txt"), "--json", "--retries=-1"], error: /--retries must be a whole number from 0 to 100/ },
    { name: "port 0 in the URL", status: 2, args: () => ["get", "ftp://u:p@127.0.0.1:0/a.txt", "--json"], error: /invalid port in URL "ftp:\/\/u:\*\*\*@127\.0\.0\.1:0\/a\.txt"/ },
    { name: "sync of two URLs", status: 2, args: () => ["sync", peer.url("/a-dir"), peer.url("/b"), "--json"], error: /sync needs one ftp:\/\/ URL and one local directory/ },
    { name: "put with a bad --parallel", status: 2, args: () => ["put", "local.txt", peer.url("/up.txt"), "--json", "--parallel", "0"], error: /--parallel must be a whole number/ },
    { name: "get without a URL", status: 2, args: () => ["get", "--json"], error: /URL/ },
    { name: "an unknown flag on put", status: 2, args: () => ["put", "local.txt", peer.url("/up.txt"), "--json", "--nope"], error: /unknown option --nope/ },
    { name: "a missing remote file", status: 8, args: () => ["get", peer.url("/missing.txt"), "--json"], error: /remote file not found/ },
    { name: "get -r of a missing directory", status: 8, args: () => ["get", "-r", peer.url("/missing-dir"), "out", "--json"], error: /not found|550/ },
    { name: "put - with a bad --retries (stdin carries the file, stdout the report)", status: 2, args: () => ["put", "-", peer.url("/up.txt"), "--json", "--retries="], error: /--retries needs a value/ },
  ];
  for (const c of cases) {
    test(`${c.name}: exit ${c.status}, one JSON report on stdout with the error, one line on stderr`, async () => {
      writeFileSync(join(work, "local.txt"), "local");
      const r = await runFtpkit(c.args(), { cwd: work, timeoutMs: 20_000 });
      expect(r.code).toBe(c.status);
      const report = JSON.parse(r.stdout) as { failed: number; error?: string; files: { result: string }[] }; // two reports would not parse
      expect(report.failed).toBeGreaterThanOrEqual(1);
      expect(report.error).toMatch(c.error); // a single file's failure too: the file is the job
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
    });
  }
});

describe('";type=d" (RFC 1738 §3.2.4: a directory listing)', () => {
  test("ls of dir;type=d and dir/;type=d lists that directory", async () => {
    mkdirSync(join(peer.root, "listed"), { recursive: true });
    writeFileSync(join(peer.root, "listed", "inside.txt"), "x");
    for (const url of [peer.url("/listed;type=d"), peer.url("/listed/;type=d")]) {
      const r = await runFtpkit(["ls", url, "--names"], { cwd: work, timeoutMs: 20_000 });
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.stdout).toBe("inside.txt\n");
    }
  });

  const refused: [string, () => string[]][] = [
    ["get", () => ["get", peer.url("/a-dir;type=d"), "out"]],
    ["put", () => ["put", "local.txt", peer.url("/a-dir/;type=d")]],
  ];
  for (const [command, args] of refused) {
    test(`${command} of a ;type=d URL says it asks for a listing (exit 2)`, async () => {
      writeFileSync(join(work, "local.txt"), "local");
      const r = await runFtpkit(args(), { cwd: work, timeoutMs: 20_000 });
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toContain('";type=d" in the URL asks for a directory listing, which ftpkit ls gives; get and put move files (in binary, ;type=i)');
    });
  }
});

describe("errors on a stderr that is not a terminal", () => {
  test("one '[error] …' line each, without the blank lines and colour of the terminal layout (client and usage errors)", async () => {
    const closed = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = closed.port;
    closed.stop(true);
    // Only PATH and HOME: no NODE_ENV=test or CI, under which consola is plain anyway.
    const env = { PATH: process.env.PATH ?? "", HOME: tempDir("ftpkit-plain-") };
    const run = async (args: string[]) => {
      const proc = Bun.spawn([process.execPath, join(import.meta.dir, "../../cli/ftpkit.ts"), ...args], { cwd: env.HOME, env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
      return { stderr: await new Response(proc.stderr).text(), code: await proc.exited };
    };
    try {
      const refused = await run(["get", `ftp://127.0.0.1:${port}/x`, "--retries", "0"]);
      expect(refused.stderr).toMatch(/^\[error\] cannot open control connection to 127\.0\.0\.1:\d+: connection refused\n$/);
      expect(refused.code).toBe(4);
      const usage = await run(["get", `ftp://127.0.0.1:${port}/x`, "--retries", "x"]);
      expect(usage.stderr).toMatch(/^\[error\] --retries [^\n]*\n$/);
      expect(usage.code).toBe(2);
    } finally {
      removeDir(env.HOME);
    }
  });
});

describe("a ~/.netrc other users may read", () => {
  for (const [mode, warned] of [[0o644, true], [0o600, false]] as const) {
    test(`mode ${mode.toString(8)}: its password is used${warned ? ", with one warning that names the file and chmod 600" : ", without a warning"}`, async () => {
      const fake = startFakeServer({ files: new Map([["/a.txt", Buffer.from("abc")]]), password: "pw" });
      const home = tempDir("ftpkit-home-");
      try {
        writeFileSync(join(home, ".netrc"), "machine 127.0.0.1 login u password pw\n");
        chmodSync(join(home, ".netrc"), mode);
        const r = await runFtpkit(["ls", `ftp://127.0.0.1:${fake.port}/`, "--names"], { cwd: work, env: { HOME: home }, timeoutMs: 20_000 });
        expect(r.code).toBe(0);
        expect(r.stdout).toBe("a.txt\n");
        const warnings = r.stderr.split("\n").filter((l) => l.includes(".netrc"));
        expect(warnings).toEqual(warned ? [expect.stringContaining("~/.netrc may be read or changed by other users (mode 0644), and it holds the password for u@127.0.0.1: chmod 600 ~/.netrc")] : []);
        expect(r.stderr).not.toContain("pw");
      } finally {
        fake.stop();
        removeDir(home);
      }
    });
  }
});
