// MODE B in the client's tree jobs against a scripted server: one data connection carries every
// file of a connection (EOF blocks, no close), stream mode where the server refuses MODE B, a new
// EPSV when the server closed the kept connection, a cut before the EOF block resumed.
import { expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodeBlocks, EOF_BLOCK } from "../../protocol/block-mode.ts";
import { openSession } from "../../client/session.ts";
import { parseFtpUrl } from "../../protocol/url.ts";
import { runFtpkit } from "../helpers/peers.ts";
import { sendsFile, sendsListing, useScriptedServerWork, type ScriptedControl, type ScriptedData } from "./scripted-server.ts";

setDefaultTimeout(60_000);
const t = useScriptedServerWork();

const FILES: Record<string, Uint8Array> = {
  "a.txt": Buffer.from("alpha\n"),
  "empty.bin": new Uint8Array(0),
  "two words.txt": Buffer.from("héllo wörld\n"),
  // 200 KiB of known bytes: four blocks.
  "big.bin": Buffer.alloc(200 * 1024).map((_, i) => (i * 31) & 0xff),
  "z.txt": Buffer.from("zeta\n"),
};

interface Options {
  /** MODE B's answer (200: offered). */
  modeB?: number;
  /** Close the kept data connection after each file's EOF block. */
  closeAfterEach?: boolean;
  /** RETR of this file sends half of it, then closes the data connection (no EOF block), and 426. */
  cut?: string;
  /** RETR of this file sends half of it, then an empty block (no file byte) every 200 ms, never its EOF block. */
  trickle?: string;
}

/** A tree /t of FILES served in whichever mode the session is in (REST honoured in stream mode only). */
function startBlockTree(o: Options = {}) {
  const facts = (n: string) => `type=file;size=${FILES[n]!.length};modify=20260101120000; ${n}`;
  const mode = new Map<ScriptedControl, "S" | "B">();
  const rest = new Map<ScriptedControl, number>();
  let cutting = o.cut;
  const datas = new Set<ScriptedData>();
  const quits: boolean[] = [];
  /** The session's data connection (block mode keeps it), or a 425 when there is none. */
  const dataOf = async (c: ScriptedControl): Promise<ScriptedData | null> => {
    const d = await c.data().catch(() => null);
    if (d) datas.add(d);
    if (!d || d.closed) {
      c.reply(425, "Use EPSV first");
      return null;
    }
    return d;
  };
  const send = async (c: ScriptedControl, bytes: Uint8Array) => {
    const d = await dataOf(c);
    if (!d) return;
    c.reply(150, "Opening data connection");
    if (mode.get(c) !== "B") {
      await d.send(bytes);
      d.end();
    } else {
      await d.send(encodeBlocks(bytes));
      await d.send(EOF_BLOCK);
      if (o.closeAfterEach) d.end();
    }
    c.reply(226, "Transfer complete");
  };
  const server = t.start({
    feat: ["MLST type*;size*;modify*;", "MLSD", "REST STREAM"],
    on: {
      MODE: (c, arg) => {
        const want = arg.toUpperCase();
        if (want === "B" && (o.modeB ?? 200) !== 200) return c.reply(o.modeB!, "MODE B not supported");
        if (want !== "B" && want !== "S") return c.reply(504, "Bad MODE command");
        mode.set(c, want === "B" ? "B" : "S");
        c.reply(200, `Mode set to ${want}`);
      },
      REST: (c, arg) => {
        rest.set(c, Number(arg));
        c.reply(350, "Restarting");
      },
      // Whether the session's data connections were closed by the client when its QUIT came.
      QUIT: async (c) => {
        const open = [...datas].filter((d) => !d.closed);
        await Promise.race([Promise.all(open.map((d) => d.closing())), Bun.sleep(1000)]);
        quits.push(open.every((d) => d.closed));
        c.reply(221, "Bye");
      },
      MLSD: (c) => send(c, Buffer.from(Object.keys(FILES).map((n) => `${facts(n)}\r\n`).join(""))),
      RETR: async (c, arg) => {
        const name = arg.slice("/t/".length);
        const bytes = FILES[name]!.subarray(rest.get(c) ?? 0);
        rest.delete(c);
        if (name === o.trickle && mode.get(c) === "B") {
          const d = await dataOf(c);
          if (!d) return;
          c.reply(150, "Opening data connection");
          await d.send(encodeBlocks(bytes.subarray(0, bytes.length >> 1)));
          while (!d.closed && (await d.send(Buffer.from([0, 0, 0])))) await Bun.sleep(200);
          return;
        }
        if (name === cutting) {
          cutting = undefined;
          const d = await dataOf(c);
          if (!d) return;
          c.reply(150, "Opening data connection");
          const half = bytes.subarray(0, bytes.length >> 1);
          await d.send(mode.get(c) === "B" ? encodeBlocks(half) : half);
          d.end();
          return c.reply(426, "Connection closed; transfer aborted");
        }
        return send(c, bytes);
      },
    },
  });
  /** Every data connection a transfer went over. */
  return Object.assign(server, { datas, quits });
}

const url = (port: number) => `ftp://u:p@127.0.0.1:${port}/t`;
const count = (commands: string[], verb: string) => commands.filter((c) => c.split(" ")[0] === verb).length;
function expectTree(dir: string): void {
  for (const [n, bytes] of Object.entries(FILES)) expect(Buffer.compare(readFileSync(join(dir, n)), Buffer.from(bytes))).toBe(0);
}

test("get -r in block mode: every file over one data connection, the same bytes", async () => {
  const server = startBlockTree();
  const r = await runFtpkit(["get", "-r", "--parallel", "1", url(server.port), "out"], { cwd: t.work });
  expect(r.stderr).not.toMatch(/MODE|error|warn|reconnect|retry/i);
  expect(r.code).toBe(0);
  expectTree(join(t.work, "out"));
  expect(server.commands).toContain("MODE B");
  // One data connection for the listing and the five files, where stream mode opens six.
  expect(count(server.commands, "EPSV")).toBe(1);
  expect(count(server.commands, "RETR")).toBe(5);
});

test("a server that refuses MODE B: the tree job goes in stream mode and says nothing of it", async () => {
  const server = startBlockTree({ modeB: 504 });
  const r = await runFtpkit(["get", "-r", "--parallel", "1", url(server.port), "out"], { cwd: t.work });
  expect(r.stderr).not.toMatch(/MODE|error|warn|reconnect|retry/i);
  expect(r.code).toBe(0);
  expectTree(join(t.work, "out"));
  expect(count(server.commands, "EPSV")).toBe(6);
});

test("a server that answers 200 to any MODE (BusyBox's ftpd) and sends stream data: get -r and put -r go in stream mode, the same bytes, nothing said", async () => {
  const facts = (n: string, size: number) => `type=file;size=${size};modify=20260101120000; ${n}`;
  const stored = new Map<string, Buffer>();
  const server = t.start({
    feat: ["MLST type*;size*;modify*;", "MLSD", "REST STREAM", "SIZE"],
    on: {
      MODE: (c) => c.reply(200, "Command ignored"),
      MLSD: (c, arg) => {
        if (arg === "/t") return sendsListing(Object.keys(FILES).map((n) => facts(n, FILES[n]!.length)))(c, arg);
        if (arg === "/") return sendsListing(["type=dir;modify=20260101120000; t"])(c, arg);
        c.reply(550, "No such directory");
      },
      RETR: (c, arg) => sendsFile(FILES[arg.slice("/t/".length)]!)(c),
      MKD: (c, arg) => c.reply(257, `"${arg}" created`),
      SIZE: (c, arg) => (stored.has(arg) ? c.reply(213, String(stored.get(arg)!.length)) : c.reply(550, "Could not get file size")),
      STOR: async (c, arg) => {
        const d = await c.data();
        c.reply(150, "Ok to send data");
        await d.closing(); // stream mode: the upload ends when the client closes
        stored.set(arg, d.received());
        c.reply(226, "Transfer complete");
      },
    },
  });
  const down = await runFtpkit(["get", "-r", "--parallel", "2", url(server.port), "out", "--stall-timeout", "10"], { cwd: t.work });
  expect(down.stderr).not.toMatch(/MODE|error|warn|reconnect|retry/i);
  expect(down.code).toBe(0);
  expectTree(join(t.work, "out"));
  // The first connection asked MODE B, found MODE X taken as well and went back to stream mode (the
  // second one may be dropped at any step of its start when the first has done the job).
  expect(server.commands.filter((c) => c.startsWith("MODE")).slice(0, 3)).toEqual(["MODE B", "MODE X", "MODE S"]);
  const src = join(t.work, "src");
  mkdirSync(src);
  for (const [n, bytes] of Object.entries(FILES)) writeFileSync(join(src, n), bytes);
  const up = await runFtpkit(["put", "-r", "--parallel", "2", src, `ftp://u:p@127.0.0.1:${server.port}/up`, "--stall-timeout", "10"], { cwd: t.work });
  expect(up.stderr).not.toMatch(/MODE|error|warn|reconnect|retry/i);
  expect(up.code).toBe(0);
  for (const [n, bytes] of Object.entries(FILES)) expect(stored.get(`/up/${n}`)?.equals(Buffer.from(bytes))).toBe(true);
});

test("a server that closes the kept data connection after each file: the next goes over a new EPSV", async () => {
  const server = startBlockTree({ closeAfterEach: true });
  const r = await runFtpkit(["get", "-r", "--parallel", "1", url(server.port), "out"], { cwd: t.work });
  expect(r.stderr).not.toMatch(/MODE|error|warn|reconnect|retry/i);
  expect(r.code).toBe(0);
  expectTree(join(t.work, "out"));
  expect(count(server.commands, "EPSV")).toBe(6);
});

test("a single get or ls sends no MODE B (one transfer per connection gains nothing)", async () => {
  const server = startBlockTree();
  const get = await runFtpkit(["get", `${url(server.port)}/a.txt`, "a.txt"], { cwd: t.work });
  expect(get.code).toBe(0);
  expect(readFileSync(join(t.work, "a.txt"), "utf8")).toBe("alpha\n");
  const ls = await runFtpkit(["ls", `${url(server.port)}/`], { cwd: t.work });
  expect(ls.code).toBe(0);
  expect(ls.stdout).toContain("big.bin");
  expect(server.commands.some((c) => c.startsWith("MODE"))).toBe(false);
});

test("--no-block-mode: no MODE B, one data connection per file", async () => {
  const server = startBlockTree();
  const r = await runFtpkit(["get", "-r", "--no-block-mode", "--parallel", "1", url(server.port), "out"], { cwd: t.work });
  expect(r.code).toBe(0);
  expectTree(join(t.work, "out"));
  expect(server.commands.some((c) => c.startsWith("MODE"))).toBe(false);
  expect(count(server.commands, "EPSV")).toBe(6);
});

test("a data connection closed before the EOF block: the file is not published, and ftpkit resume finishes it from where it stopped", async () => {
  const server = startBlockTree({ cut: "big.bin" });
  const first = await runFtpkit(["get", "-r", "--retries", "0", "--parallel", "1", url(server.port), "out"], { cwd: t.work });
  expect(first.code).not.toBe(0);
  expect(existsSync(join(t.work, "out", "big.bin"))).toBe(false);
  expect(readFileSync(join(t.work, "out", "z.txt"), "utf8")).toBe("zeta\n");
  const resumed = await runFtpkit(["resume"], { cwd: t.work, env: { FTPKIT_PASSWORD: "p" } });
  expect(resumed.stderr).not.toMatch(/MODE|error|warn|reconnect|retry/i);
  expect(resumed.code).toBe(0);
  expectTree(join(t.work, "out"));
  // The part file was kept: the rest came after REST in stream mode (a restart marker to other
  // servers' block mode), then the session went back to MODE B.
  const after = server.commands.slice(server.commands.lastIndexOf("USER u"));
  const restAt = after.findIndex((c) => c.startsWith("REST ") && c !== "REST 0");
  expect(restAt).toBeGreaterThan(0);
  expect(Number(after[restAt]!.split(" ")[1])).toBe(100 * 1024);
  expect(after.slice(0, restAt)).toContain("MODE S");
});

/** Read one transfer whole (until its EOF block); its bytes. */
async function readTransfer(t: { conn: { onData(r: (c: Buffer) => void): void; closed: Promise<void>; error: Error | null }; done: Promise<{ code: number }> }): Promise<string> {
  const chunks: Buffer[] = [];
  t.conn.onData((c) => chunks.push(Buffer.from(c)));
  await t.conn.closed;
  expect(t.conn.error).toBeNull();
  expect((await t.done).code).toBe(226);
  return Buffer.concat(chunks).toString("utf8");
}

test("empty blocks without file bytes are no progress: --stall-timeout ends the transfer (it was held for ever), resumable", async () => {
  const server = startBlockTree({ trickle: "big.bin" });
  // Killed at 30 s (exit 137) before; the stall is seen in 2 s.
  const r = await runFtpkit(["get", "-r", "--parallel", "1", "--retries", "0", "--stall-timeout", "2", url(server.port), "out"], { cwd: t.work, timeoutMs: 30_000 });
  expect(r.stderr).toMatch(/big\.bin: .*stalled/);
  expect(r.code).toBe(4);
});

test("the kept data connection: one for two files, closed by QUIT; a transfer given up closes it too", async () => {
  const server = startBlockTree();
  const client = await openSession(parseFtpUrl(url(server.port)), { offerModeB: true });
  expect(client.blockMode).toBe(true);
  expect(await readTransfer(await client.transfer("RETR", "/t/a.txt"))).toBe("alpha\n");
  expect(await readTransfer(await client.transfer("RETR", "/t/z.txt"))).toBe("zeta\n");
  expect(server.datas.size).toBe(1);
  const [kept] = [...server.datas];
  expect(kept!.closed).toBe(false);
  await client.quit();
  expect(server.quits).toEqual([true]); // closed by the client, before its QUIT

  const again = await openSession(parseFtpUrl(url(server.port)), { offerModeB: true });
  try {
    const t = await again.transfer("RETR", "/t/big.bin");
    const second = [...server.datas].find((d) => d !== kept)!;
    t.conn.destroy(); // given up mid-file (an error, Ctrl-C)
    await second.closing();
    await t.done.catch(() => {});
    // The next file goes over a new data connection, and arrives whole.
    expect(await readTransfer(await again.transfer("RETR", "/t/a.txt"))).toBe("alpha\n");
    expect(server.datas.size).toBe(3);
  } finally {
    again.destroy();
  }
});
