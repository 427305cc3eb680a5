// What a broken or hostile server's listings and replies can make a tree job do: nothing outside
// the destination, no endless walk or wait, no file replaced by a shorter one, no spliced file.
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { digest, runFtpkit } from "../helpers/peers.ts";
import { useFakeServerWork } from "./fake-server.ts";
import { sendsFile, sendsListing, startScriptedServer } from "./scripted-server.ts";
import { FtpClient } from "../../client/client.ts";
import { listDir } from "../../client/listing.ts";

setDefaultTimeout(60_000);

const t = useFakeServerWork();
const url = (path: string) => `ftp://u:p@127.0.0.1:${t.fake.port}${path}`;
const bytes = (n: number, fill: number) => Buffer.alloc(n, fill);

describe("names in a listing", () => {
  test("an entry without a name is skipped: nothing is written, renamed or taken over beside the destination", async () => {
    t.start({ files: new Map([["/t/a.txt", bytes(1000, 0x61)]]), feat: ["SIZE", "MLSD"], listExtra: ["type=file;size=12;modify=20260101120000; "] });
    // A file of the user's own that the part file of an empty name would have been: <dest>.ftpkit-part.
    const canary = join(t.work, "out.ftpkit-part");
    writeFileSync(canary, "mine");
    const r = await runFtpkit(["get", "-r", url("/t"), "out"], { cwd: t.work });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("an entry without a name in its listing");
    expect(readFileSync(canary, "utf8")).toBe("mine");
    expect(existsSync(join(t.work, "out.ftpkit-corrupt"))).toBe(false);
    expect(readFileSync(join(t.work, "out", "a.txt"))).toEqual(bytes(1000, 0x61));
  });

  test('MLSD names holding "/" are left out with one warning for the listing, which counts them', async () => {
    const odd = ["a/b.txt", "../x.txt", "c/d/e.txt"].map((n) => `type=file;size=3;modify=20260101120000; ${n}`);
    t.start({ files: new Map([["/t/a.txt", bytes(10, 0x61)]]), feat: ["SIZE", "MLSD"], listExtra: odd });
    const r = await runFtpkit(["get", "-r", url("/t"), "out"], { cwd: t.work });
    expect(r.code).toBe(0);
    // Before: not a word of them.
    expect(r.stderr.split("\n").filter((l) => l.startsWith("[warn]"))).toEqual(['[warn] .: 3 name(s) in its listing hold "/", which no name in a directory can: left out; nothing in it is deleted']);
    expect(readFileSync(join(t.work, "out", "a.txt"))).toEqual(bytes(10, 0x61));
  });

  test('--json: each name holding "/" and the lines not read are skip entries, counted in skipped; exit 0 as without --json', async () => {
    const odd = ["../evil1", "/x/evil2", "a/../../evil3", "n\0ul.txt"].map((n) => `type=file;size=3;modify=20260101120000; ${n}`);
    t.start({ files: new Map([["/t/ok.txt", bytes(10, 0x61)]]), feat: ["SIZE", "MLSD"], listExtra: odd });
    const r = await runFtpkit(["get", "-r", url("/t"), "out", "--json"], { cwd: t.work });
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { files: { path: string; action: string; result: string }[]; skipped: number; copied: number };
    // Before: exit 0 with none of them in the report, skipped 0.
    expect(report.files.filter((f) => f.action === "skip")).toEqual([
      expect.objectContaining({ path: ".", result: 'skipped: "../evil1", a name holding "/", which no name in a directory can' }),
      expect.objectContaining({ path: ".", result: 'skipped: "/x/evil2", a name holding "/", which no name in a directory can' }),
      expect.objectContaining({ path: ".", result: 'skipped: "a/../../evil3", a name holding "/", which no name in a directory can' }),
      expect.objectContaining({ path: ".", result: "skipped: 1 line(s) of its listing could not be read (the first: a name with a NUL cannot be named in a command)" }),
    ]);
    expect(report.skipped).toBe(4);
    expect(report.copied).toBe(1);
    expect(readdirSync(join(t.work, "out"))).toEqual(["ok.txt"]);
  });

  test("an MLSD name holding a NUL is said to hold a NUL, not a line break", async () => {
    t.start({ files: new Map([["/t/a.txt", bytes(10, 0x61)]]), feat: ["SIZE", "MLSD"], listExtra: ["type=file;size=3;modify=20260101120000; n\0ul.txt"] });
    const r = await runFtpkit(["get", "-r", url("/t"), "out"], { cwd: t.work });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(".: 1 line(s) of its listing could not be read (the first: a name with a NUL cannot be named in a command)");
    expect(readFileSync(join(t.work, "out", "a.txt"))).toEqual(bytes(10, 0x61));
  });

  test("a tree without end (a directory in every directory) stops at 256 levels, with a warning, and the job ends", async () => {
    const fake = t.start({ files: new Map([["/t/a.txt", bytes(10, 0x61)]]), feat: ["SIZE"], endlessTree: true });
    const r = await runFtpkit(["get", "-r", url("/t"), "out", "--parallel", "2"], { cwd: t.work });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("deeper than 256 levels: not entered");
    // One listing per level ("LIST -a" after CWD; each connection also lists its first directory plainly once, to learn whether "-a" is an option here).
    expect(fake.commands.filter((c) => c === "LIST -a").length).toBe(256);
  });
});

describe("a remote name longer than a local file system takes", () => {
  // 300 bytes: 100 CJK characters, which a Windows server's NTFS holds and Linux's 255-byte names do not.
  const long = "\u6587".repeat(100);
  const server = () =>
    startScriptedServer({
      feat: ["SIZE", "MLST type*;size*;modify*;"],
      on: {
        MLSD: sendsListing([`type=file;size=1000;modify=20260101120000; ${long}`, "type=file;size=1000;modify=20260101120000; ok.txt"]),
        SIZE: (c) => c.reply(213, "1000"),
        RETR: sendsFile(bytes(1000, 0x61)),
      },
    });

  test("get: refused before any byte moves, one line naming it and its length, exit 3; nothing is left behind", async () => {
    const srv = server();
    try {
      const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${srv.port}/d/${encodeURIComponent(long)}`, "--json"], { cwd: t.work });
      const error = `cannot create ${join(t.work, long)}: its name is 300 bytes, more than a file system takes (255): give it a shorter local name (ftpkit get URL NAME)`;
      expect(r.stderr).toBe(`[error] ${error}\n`);
      expect(JSON.parse(r.stdout).error).toBe(error);
      expect(r.code).toBe(3);
      // Before: the whole file came, then its rename failed ("ENAMETOOLONG: name too long, rename …"), its bytes kept in a part file.
      expect(srv.commands.some((c) => c.startsWith("RETR"))).toBe(false);
      expect(readdirSync(t.work)).toEqual([]);
    } finally {
      srv.stop();
    }
  });

  test("get -r: that file fails with the same line, exit 3, not fetched; the others arrive", async () => {
    const srv = server();
    try {
      const r = await runFtpkit(["get", "-r", `ftp://u:p@127.0.0.1:${srv.port}/d`, "out"], { cwd: t.work });
      expect(r.stderr).toContain(`cannot create ${join(t.work, "out", long)}: its name is 300 bytes, more than a file system takes (255)\n`);
      expect(r.code).toBe(3);
      expect(srv.commands.filter((c) => c.startsWith("RETR"))).toEqual(["RETR /d/ok.txt"]);
      expect(readdirSync(join(t.work, "out"))).toEqual(["ok.txt"]);
    } finally {
      srv.stop();
    }
  });
});

describe("a listing's 226 that names its directory", () => {
  test("a directory named \"truncated\" (FileZilla Server's '226 Successfully transferred \"/logs/truncated\"') is listed whole, not refused as a listing cut short", async () => {
    t.start({ files: new Map([["/logs/truncated/a.txt", bytes(10, 0x61)], ["/logs/truncated-old/b.txt", bytes(20, 0x62)]]), feat: ["SIZE", "MLSD"], listingDoneNamesDir: true });
    const r = await runFtpkit(["get", "-r", url("/logs"), "out"], { cwd: t.work });
    expect(r.stderr).not.toContain("cut it short");
    expect(r.code).toBe(0);
    expect(readFileSync(join(t.work, "out", "truncated", "a.txt"))).toEqual(bytes(10, 0x61));
    expect(readFileSync(join(t.work, "out", "truncated-old", "b.txt"))).toEqual(bytes(20, 0x62));
  });
});

describe("a listing that never ends", () => {
  test("a LIST whose data connection stays silent is given up after --stall-timeout, with one clear line", async () => {
    const fake = t.start({ files: new Map([["/t/a.txt", bytes(10, 0x61)]]), feat: ["SIZE"], silentListing: true });
    const r = await runFtpkit(["get", "-r", url("/t"), "out", "--stall-timeout", "1", "--retries", "0"], { cwd: t.work });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain("the listing of /t stalled (no byte for 1 s)");
  });
});

describe("an MLSD listing without sizes", () => {
  test("the size is asked with SIZE before the file moves: a local copy is not replaced by a shorter one", async () => {
    const remote = bytes(5000, 0x62);
    const fake = t.start({ files: new Map([["/t/a.txt", remote]]), feat: ["SIZE", "MLSD"], mlsdWithoutSize: true });
    mkdirSync(join(t.work, "out"));
    writeFileSync(join(t.work, "out", "a.txt"), "precious local data");
    const r = await runFtpkit(["get", "-r", url("/t"), "out"], { cwd: t.work });
    expect(r.code).toBe(0);
    expect(fake.commands).toContain("SIZE /t/a.txt");
    expect(digest(readFileSync(join(t.work, "out", "a.txt")))).toBe(digest(remote));
  });
});

describe("a tree job's leftover part file", () => {
  test("without a ranged HASH it is not continued: a remote file changed since (same size) arrives whole, not spliced", async () => {
    // What an interrupted run left: the first 60,000 bytes of the file as it was then.
    mkdirSync(join(t.work, "out"));
    writeFileSync(join(t.work, "out", "a.bin.ftpkit-part"), bytes(60_000, 0x41));
    // The file now: same size, other bytes. Old prefix + new tail would pass the size check.
    t.start({ files: new Map([["/t/a.bin", bytes(200_000, 0x42)]]), feat: ["SIZE", "REST STREAM"] });
    const r = await runFtpkit(["get", "-r", url("/t"), "out"], { cwd: t.work });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("starting it over");
    expect(readFileSync(join(t.work, "out", "a.bin"))).toEqual(bytes(200_000, 0x42));
  });
});

describe("a data connection the server never closes", () => {
  test("every reported byte and the 226 in: the download ends verified by size within a second, not as stalled after --stall-timeout", async () => {
    const data = Buffer.from(crypto.getRandomValues(new Uint8Array(300_000)));
    t.start({ files: new Map([["/f.bin", data]]), feat: ["SIZE", "MDTM", "REST STREAM"], retrLeftOpen: true });
    const began = performance.now();
    const r = await runFtpkit(["get", url("/f.bin"), "--stall-timeout", "10", "--retries", "0"], { cwd: t.work, timeoutMs: 30_000 });
    expect(r.stderr).toContain("size verified only");
    expect(r.code).toBe(0);
    expect(readFileSync(join(t.work, "f.bin"))).toEqual(data);
    // Before: "the data connection stalled (no byte for 10 s) after 300000 bytes", exit 4.
    expect(performance.now() - began).toBeLessThan(8000);
  });

  test("bytes still in flight behind the 226 (more than SIZE reported) are seen, not cut off by ending the data connection at the reported size", async () => {
    const data = Buffer.from(crypto.getRandomValues(new Uint8Array(300_000)));
    t.start({ files: new Map([["/f.bin", data]]), feat: ["SIZE", "MDTM", "REST STREAM"], tailAfterReply: bytes(50_000, 0x61) });
    const r = await runFtpkit(["get", url("/f.bin"), "--retries", "0"], { cwd: t.work, timeoutMs: 30_000 });
    // Before: the first 300,000 bytes taken as the whole file, "size verified only", exit 0.
    expect(r.stderr).toContain(`the server sent more than the ${data.length} bytes it reported for /f.bin`);
    expect(r.code).toBe(7);
    expect(existsSync(join(t.work, "f.bin"))).toBe(false);
  });
});

describe("a tree whose directories list millions of entries each", () => {
  test("the walk's 1,000,000 entries are counted as the listings arrive: of three directories of 400,000 listed at once, not all are read", async () => {
    const body = Buffer.from(Array.from({ length: 400_000 }, (_, i) => `type=file;size=1;modify=20260101120000; f${i}\r\n`).join(""));
    let sentWhole = 0;
    const server = startScriptedServer({
      feat: ["MLSD"],
      on: {
        async MLSD(c, arg) {
          const d = await c.data();
          c.reply(150, "Here comes the listing");
          const root = arg.replace(/\/+$/, "") === "/t";
          const whole = await d.send(root ? Buffer.from(["d0", "d1", "d2"].map((n) => `type=dir;modify=20260101120000; ${n}\r\n`).join("")) : body);
          if (whole && !root) sentWhole++;
          d.end();
          c.reply(whole ? 226 : 426, whole ? "Directory send OK" : "Connection closed; transfer aborted");
        },
      },
    });
    try {
      // Every line is parsed as it arrives (up to 1,000,000 of them).
      const r = await runFtpkit(["get", "-r", `ftp://u:p@127.0.0.1:${server.port}/t`, "out", "--parallel", "3"], { cwd: t.work, timeoutMs: 110_000 });
      expect(r.stderr).toContain("the remote tree has more than 1,000,000 entries; not walking it further (copy it in parts)");
      expect(r.code).not.toBe(0);
      // Before the count was made as lines arrive: all three listings read and parsed before it.
      expect(sentWhole).toBeLessThan(3);
    } finally {
      server.stop();
    }
  }, 120_000);
});

describe("MLSD entries of other types than file and dir", () => {
  test("sync --delete: a device, a FIFO and an unknown type are skipped with a warning, and the local files of their names are kept", async () => {
    const out = join(t.work, "m");
    mkdirSync(out);
    for (const n of ["a.txt", "dev", "pipe", "odd"]) writeFileSync(join(out, n), "mine");
    const facts = ";modify=20260101120000;";
    const server = startScriptedServer({
      feat: ["SIZE", "MLSD"],
      on: {
        SIZE: (c) => c.reply(213, "3"),
        MLSD: sendsListing(
          [`type=file;size=3${facts} a.txt`, `type=OS.unix=chr-5/1${facts} dev`, `type=OS.unix=fifo${facts} pipe`, `type=whatever;size=3${facts} odd`],
        ),
        RETR: sendsFile(Buffer.from("abc")),
      },
    });
    try {
      const r = await runFtpkit(["sync", `ftp://u:p@127.0.0.1:${server.port}/t/`, "m", "--delete"], { cwd: t.work });
      expect(r.code).toBe(0);
      expect(r.stderr).toContain("dev: skipped (not a regular file on the server: a device, pipe or socket)");
      expect(r.stderr).toContain("pipe: skipped (not a regular file on the server: a device, pipe or socket)");
      expect(r.stderr).toContain("odd: skipped (neither a file nor a directory on the server (a type its listing does not name))");
      // Before: dropped from the listing unsaid, and the three local files deleted.
      for (const n of ["dev", "pipe", "odd"]) expect(readFileSync(join(out, n), "utf8")).toBe("mine");
      expect(readFileSync(join(out, "a.txt"), "utf8")).toBe("abc");
      expect(server.commands.filter((c) => c.startsWith("RETR"))).toEqual(["RETR /t/a.txt"]);
    } finally {
      server.stop();
    }
  });
});

describe("a walk's listing budget (bytes)", () => {
  test("names of 1,000 bytes: a listing is charged its bytes as they come, and given up with the budget's message once they pass it", async () => {
    const lines = Array.from({ length: 100 }, (_, i) => `type=file;size=1;modify=20260101120000; ${String(i).padStart(1000, "n")}\r\n`).join("");
    const server = startScriptedServer({
      feat: ["MLSD"],
      on: {
        async MLSD(c) {
          const d = await c.data();
          c.reply(150, "Here comes the listing");
          const whole = await d.send(Buffer.from(lines));
          d.end();
          c.reply(whole ? 226 : 426, whole ? "Directory send OK" : "Connection closed; transfer aborted");
        },
      },
    });
    const client = await FtpClient.connect({ host: "127.0.0.1", port: server.port, timeoutMs: 10_000 });
    try {
      await client.login("u", () => "p");
      await client.feat();
      const roomy = { left: 1_000, bytesLeft: 1_000_000, tooMany: "too many lines", tooLarge: "too many bytes" };
      expect((await listDir(client, "/t", roomy)).entries).toHaveLength(100);
      expect(roomy.bytesLeft).toBe(1_000_000 - Buffer.byteLength(lines));
      // The entry count is far from spent: the bytes end it (before: lines alone were counted, and 100 entries listed).
      const tight = { left: 1_000, bytesLeft: 50_000, tooMany: "too many lines", tooLarge: "too many bytes" };
      await expect(listDir(client, "/t", tight)).rejects.toThrow("too many bytes");
    } finally {
      client.destroy();
      server.stop();
    }
  });
});

describe("a name listed twice", () => {
  test("sync --delete: a name listed as a file and a directory, or as two files of other sizes, is skipped and its local copy kept; the same entry twice is taken once", async () => {
    const out = join(t.work, "m");
    mkdirSync(join(out, "a"), { recursive: true });
    writeFileSync(join(out, "a", "keep"), "mine");
    writeFileSync(join(out, "b"), "mine");
    const facts = "modify=20260101120000;";
    const server = startScriptedServer({
      feat: ["SIZE", "MLSD"],
      on: {
        SIZE: (c) => c.reply(213, "3"),
        MLSD: sendsListing((arg) =>
          arg.replace(/\/+$/, "") === "/t"
            ? [`type=file;size=3;${facts} a`, `type=dir;${facts} a`, `type=file;size=5;${facts} b`, `type=file;size=3;${facts} b`, `type=dir;${facts} c`, `type=dir;${facts} c`, `type=file;size=3;${facts} d`, `type=file;size=3;${facts} d`]
            : [`type=file;size=3;${facts} inner`],
        ),
        RETR: sendsFile(Buffer.from("abc")),
      },
    });
    try {
      const r = await runFtpkit(["sync", `ftp://u:p@127.0.0.1:${server.port}/t/`, "m", "--delete"], { cwd: t.work });
      expect(r.code).toBe(0);
      for (const n of ["a", "b"]) expect(r.stderr).toContain(`${n}: skipped (listed more than once by the server, as different entries: which one is there cannot be told)`);
      // Before: the file "a" replaced the local directory a/ and its file; b failed half-way.
      expect(readFileSync(join(out, "a", "keep"), "utf8")).toBe("mine");
      expect(readFileSync(join(out, "b"), "utf8")).toBe("mine");
      expect(readFileSync(join(out, "c", "inner"), "utf8")).toBe("abc");
      expect(readFileSync(join(out, "d"), "utf8")).toBe("abc");
      expect(server.commands.filter((c) => c.startsWith("RETR")).sort()).toEqual(["RETR /t/c/inner", "RETR /t/d"]);
    } finally {
      server.stop();
    }
  });
});
