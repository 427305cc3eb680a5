// ftpkit ls against servers that drop or stall: --retries and --stall-timeout mean what they mean for get.
import { describe, expect, test } from "bun:test";
import { runFtpkit, spawnFtpkit, waitFor } from "../helpers/peers.ts";
import { useFakeServerWork } from "./fake-server.ts";
import { sendsListing, startScriptedServer, type ScriptedControl } from "./scripted-server.ts";
import { printableJson } from "../../protocol/printable.ts";

const t = useFakeServerWork();

const FILES = new Map(["a.txt", "b.txt", "c.txt", "d.txt", "e.txt", "f.txt"].map((n) => [`/dir/${n}`, Buffer.from(n)]));
const url = (port: number) => `ftp://u:p@127.0.0.1:${port}/dir/`;

describe("ls --retries", () => {
  for (const [how, drop, status] of [["the data connection drops (426)", "data", 4], ["both connections drop", "both", 4]] as const) {
    test(`after ${how} mid-listing, ls lists again on a new connection and prints the whole listing`, async () => {
      const fake = t.start({ files: FILES, dropListingOnce: drop });
      const r = await runFtpkit(["ls", url(fake.port), "--names", "--retries", "1"], { cwd: t.work });
      expect(r.stderr).toContain("reconnecting (attempt 1 of 1)");
      expect(r.code).toBe(0);
      expect(r.stdout).toBe("a.txt\nb.txt\nc.txt\nd.txt\ne.txt\nf.txt\n");
      expect(fake.commands.filter((c) => c.startsWith("LIST"))).toHaveLength(2);
      expect(fake.commands.filter((c) => c.startsWith("USER"))).toHaveLength(2);
    });

    test(`with --retries 0, ${how} fails the listing with its exit status (${status})`, async () => {
      const fake = t.start({ files: FILES, dropListingOnce: drop });
      const r = await runFtpkit(["ls", url(fake.port), "--retries", "0"], { cwd: t.work });
      expect(r.code).toBe(status);
      expect(r.stdout).toBe("");
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
    });
  }
});

describe("--retries spent: the last line counts the attempts", () => {
  /** A scripted server whose every LIST, RETR and STOR ends in 426 after its 150. */
  const aborting = () => {
    const abort = async (c: ScriptedControl) => {
      const d = await c.data();
      c.reply(150, "Here it comes");
      d.end();
      c.reply(426, "Connection closed; transfer aborted");
    };
    const takeThenAbort = async (c: ScriptedControl) => {
      const d = await c.data();
      c.reply(150, "Ok to send data");
      await d.closing();
      c.reply(426, "Connection closed; transfer aborted");
    };
    return startScriptedServer({ feat: ["SIZE"], on: { LIST: abort, RETR: abort, STOR: takeThenAbort, SIZE: (c) => c.reply(213, "10"), CWD: (c) => c.reply(250, "ok") } });
  };

  test("ls: a listing ended by 426 on each of its 3 tries says so, exit 4 (connection lost), as a get's RETR ended so", async () => {
    const srv = aborting();
    try {
      const r = await runFtpkit(["ls", `ftp://u:p@127.0.0.1:${srv.port}/dir/`, "--retries", "2"], { cwd: t.work, timeoutMs: 30_000 });
      expect(r.code).toBe(4);
      expect(r.stderr.trim().split("\n").at(-1)).toBe("[error] listing: Connection closed; transfer aborted (426); gave up after 3 attempts (--retries 2)");
    } finally {
      srv.stop();
    }
  });

  test("get -r: the root's listing likewise, exit 4", async () => {
    const srv = aborting();
    try {
      const r = await runFtpkit(["get", "-r", `ftp://u:p@127.0.0.1:${srv.port}/dir`, "out", "--retries", "1"], { cwd: t.work, timeoutMs: 30_000 });
      expect(r.code).toBe(4);
      expect(r.stderr.trim().split("\n").at(-1)).toBe("[error] listing: Connection closed; transfer aborted (426); gave up after 2 attempts (--retries 1)");
    } finally {
      srv.stop();
    }
  });

  test("get of a file whose RETR ends in 426 each time: counted too, before what was kept; exit 4", async () => {
    const srv = aborting();
    try {
      const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${srv.port}/f`, "--retries", "1"], { cwd: t.work, timeoutMs: 30_000 });
      expect(r.code).toBe(4);
      expect(r.stderr.trim().split("\n").at(-1)).toBe("[error] RETR /f: Connection closed; transfer aborted (426); gave up after 2 attempts (--retries 1); 0 bytes kept, run `ftpkit resume` to continue");
    } finally {
      srv.stop();
    }
  });

  test("put whose STOR ends in 426 each time: counted too; exit 4", async () => {
    const srv = aborting();
    try {
      await Bun.write(`${t.work}/u.bin`, "0123456789");
      const r = await runFtpkit(["put", "u.bin", `ftp://u:p@127.0.0.1:${srv.port}/u.bin`, "--retries", "1"], { cwd: t.work, timeoutMs: 30_000 });
      expect(r.code).toBe(4);
      expect(r.stderr.trim().split("\n").at(-1)).toMatch(/^\[error\] STOR \/u\.bin: Connection closed; transfer aborted \(426\); gave up after 2 attempts \(--retries 1\)/);
    } finally {
      srv.stop();
    }
  });
});

describe("ls --retries counts every reconnection", () => {
  test("a reconnection that failed counts against --retries: with --retries 3 ls opens 4 connections at most, its counts never going back", async () => {
    // Every listing is refused for now (450); the second connection is frozen (its try times out),
    // the others log in.
    const fake = t.start({ files: FILES, listing450Always: "/dir", frozenConnections: [2] });
    const r = await runFtpkit(["ls", url(fake.port), "--retries", "3", "--stall-timeout", "1"], { cwd: t.work, timeoutMs: 30_000 });
    expect(r.code).not.toBe(0);
    expect(fake.connections).toBe(4);
    const counts = [...r.stderr.matchAll(/attempt (\d) of 3/g)].map((m) => Number(m[1]));
    expect(counts).toEqual([...counts].sort());
  });
});

describe("ls --stall-timeout", () => {
  test("a listing whose data connection stalls is given up after --stall-timeout, tried again --retries times, then fails as a network failure (4)", async () => {
    const fake = t.start({ files: FILES, silentListing: true });
    const started = performance.now();
    const r = await runFtpkit(["ls", url(fake.port), "--stall-timeout", "0.5", "--retries", "1"], { cwd: t.work, timeoutMs: 20_000 });
    expect(r.stderr).toContain("the listing of /dir stalled (no byte for 0.5 s); reconnecting (attempt 1 of 1)");
    expect(r.code).toBe(4);
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(fake.commands.filter((c) => c.startsWith("LIST"))).toHaveLength(2);
  });

  // The same validation as get's, from the same code.
  for (const [args, message] of [
    [["--retries", "-1"], "--retries must be a whole number from 0 to 100"],
    [["--retries="], "--retries needs a value"],
    [["--stall-timeout", "soon"], "--stall-timeout must be a number of seconds up to 86400 (0: never)"],
    [["--stall-timeout="], "--stall-timeout needs a value"],
  ] as const) {
    test(`ls ${args.join(" ")} is a usage error (2), as for get`, async () => {
      const fake = t.start({ files: FILES });
      for (const command of ["ls", "get"]) {
        const r = await runFtpkit([command, `${url(fake.port)}${command === "get" ? "a.txt" : ""}`, ...args], { cwd: t.work });
        expect(r.code).toBe(2);
        expect(r.stderr).toContain(message);
      }
      expect(fake.commands).toEqual([]);
    });
  }
});

describe("ls --json prints one JSON object with the error when it fails", () => {
  const closedPort = () => {
    const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    l.stop(true);
    return l.port;
  };
  const cases: { name: string; status: number; args: (port: number) => string[]; error: RegExp }[] = [
    { name: "a listing the server refuses (550)", status: 8, args: (port) => ["ls", `ftp://u:p@127.0.0.1:${port}/missing/`], error: /No such directory\. \(550\)/ },
    { name: "a refused login (530)", status: 6, args: (port) => ["ls", `ftp://u:wrong@127.0.0.1:${port}/dir/`], error: /login failed for user "u": Login incorrect\. \(530\)/ },
    { name: "a closed port", status: 4, args: () => ["ls", `ftp://u:p@127.0.0.1:${closedPort()}/`], error: /connection refused/ },
    { name: "a bad --retries", status: 2, args: (port) => ["ls", url(port), "--retries", "x"], error: /--retries must be a whole number from 0 to 100/ },
    { name: "--names with --json", status: 2, args: (port) => ["ls", url(port), "--names"], error: /choose one of -l, --names and --json/ },
    { name: "no URL", status: 2, args: () => ["ls"], error: /URL/ },
    { name: "a bad URL", status: 2, args: () => ["ls", "http://example.com/"], error: /invalid FTP URL/ },
  ];
  for (const c of cases) {
    test(`${c.name}: exit ${c.status}, {error} on stdout, the same error as one line on stderr`, async () => {
      const fake = t.start({ files: FILES, password: "p" });
      const r = await runFtpkit([...c.args(fake.port), "--json"], { cwd: t.work });
      expect(r.code).toBe(c.status);
      const out = JSON.parse(r.stdout) as { error: string }; // one object: two would not parse
      expect(Object.keys(out)).toEqual(["error"]);
      expect(out.error).toMatch(c.error);
      const lines = r.stderr.trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(out.error);
    });
  }

  test("on success stdout is still the array of entries, and stderr empty", async () => {
    const fake = t.start({ files: FILES });
    const r = await runFtpkit(["ls", url(fake.port), "--json"], { cwd: t.work });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { name: string }[]).map((e) => e.name)).toEqual(["a.txt", "b.txt", "c.txt", "d.txt", "e.txt", "f.txt"]);
  });
});

describe("ls --json interrupted", () => {
  for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
    test(`${signal} during a stalled listing still prints one JSON object {error} and exits ${code}`, async () => {
      const fake = t.start({ files: FILES, silentListing: true });
      const proc = spawnFtpkit(["ls", url(fake.port), "--json"], { cwd: t.work });
      await waitFor(() => fake.commands.some((c) => c.startsWith("LIST") || c.startsWith("MLSD")), 15_000, "the listing to be asked for");
      proc.kill(signal);
      const [stdout, exit] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
      expect(exit).toBe(code);
      expect(JSON.parse(stdout)).toEqual({ error: `interrupted by ${signal}` });
    });
  }
});

describe("ls --json of symbolic links over LIST", () => {
  test('a link (LIST "l…", its own size, target unknown) is type "link", not a "file" the size of its target\'s name', async () => {
    const lines = ["lrwxrwxrwx    1 0        0               3 Jan 01 12:00 dlink -> sub", "lrwxrwxrwx    1 0        0               7 Jan 01 12:00 dangling -> nowhere"];
    const fake = t.start({ files: FILES, listExtra: lines });
    const r = await runFtpkit(["ls", url(fake.port), "--json"], { cwd: t.work });
    expect(r.code).toBe(0);
    const entries = JSON.parse(r.stdout) as { name: string; type: string }[];
    expect(entries.filter((e) => e.name === "dlink" || e.name === "dangling").map((e) => `${e.name}:${e.type}`)).toEqual(["dangling:link", "dlink:link"]);
    expect(entries.find((e) => e.name === "a.txt")?.type).toBe("file");
  });
});

describe('MLSD names holding "/"', () => {
  test("are left out of ls, --names and --json alike, each named (escaped) in one warning on stderr", async () => {
    const facts = "type=file;size=3;modify=20260101120000;";
    const server = startScriptedServer({ feat: ["MLST type*;size*;modify*;", "MLSD"], on: { MLSD: sendsListing([`${facts} a.txt`, `${facts} b/c.txt`, `${facts} ../x\u001b[2J.txt`]) } });
    const warnings = ['[warn] "b/c.txt": a name holding "/", which no name in a directory can: left out', '[warn] "../x\\u001b[2J.txt": a name holding "/", which no name in a directory can: left out'];
    const base = `ftp://u:p@127.0.0.1:${server.port}/t/`;
    try {
      const names = await runFtpkit(["ls", base, "--names"], { cwd: t.work });
      expect(names.code).toBe(0);
      // Before: "../x\x1b[2J.txt\na.txt\nb/c.txt\n", and not a word on stderr.
      expect(names.stdout).toBe("a.txt\n");
      expect(names.stderr.trim().split("\n")).toEqual(warnings);
      const long = await runFtpkit(["ls", base], { cwd: t.work });
      expect(long.stdout.trim().split("\n")).toHaveLength(1);
      expect(long.stdout).toEndWith(" a.txt\n");
      expect(long.stderr.trim().split("\n")).toEqual(warnings);
      const json = await runFtpkit(["ls", base, "--json"], { cwd: t.work });
      expect(json.code).toBe(0);
      expect(JSON.parse(json.stdout).map((e: { name: string }) => e.name)).toEqual(["a.txt"]);
      expect(json.stderr.trim().split("\n")).toEqual(warnings);
    } finally {
      server.stop();
    }
  });
});

describe("ls output written in batches", () => {
  test("3,000 entries (~290 KB of --json, several 64 Ki-character batches) print exactly as printableJson of their array, and --names one line each, in order; an empty listing prints []", async () => {
    // Names a terminal must not act on (U+202E, U+009B) and a multi-byte one, beside plain ones.
    const names = Array.from({ length: 3_000 }, (_, i) => `f${String(i).padStart(4, "0")}${i % 1000 === 7 ? "\u202e\u009bé" : ""}.txt`);
    const lines = names.map((n, i) => `type=file;size=${i};modify=20260101120000; ${n}`);
    const server = startScriptedServer({ feat: ["MLST type*;size*;modify*;", "MLSD"], on: { MLSD: sendsListing((arg) => (arg.endsWith("empty") ? [] : lines)) } });
    const base = `ftp://u:p@127.0.0.1:${server.port}/`;
    try {
      const json = await runFtpkit(["ls", `${base}t/`, "--json"], { cwd: t.work });
      expect(json.code).toBe(0);
      const items = names.map((name, i) => ({ name, type: "file", size: i, mtime: "2026-01-01T12:00:00.000Z", mtimePrecision: "second" }));
      expect(json.stdout).toBe(printableJson(items) + "\n");
      const plain = await runFtpkit(["ls", `${base}t/`, "--names"], { cwd: t.work });
      expect(plain.stdout).toBe(names.map((n) => n.replace("\u202e\u009b", "\\u202e\\x9b") + "\n").join(""));
      const empty = await runFtpkit(["ls", `${base}empty/`, "--json"], { cwd: t.work });
      expect(empty.stdout).toBe("[]\n");
    } finally {
      server.stop();
    }
  });
});
