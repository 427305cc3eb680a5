// A transfer the server ends with a 5yz after its 150 (ftpkit's server opens a file only after the
// 150, so a file it may not read is "150 …" then "550 Permission denied") is refused for good, as a
// 5yz before the 150 is: not a lost connection to reconnect for --retries times with backoff. A tree
// of 10,000 unreadable files took hours so (four sessions and 3.5 s of backoff per file).
import { expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runFtpkit } from "../helpers/peers.ts";
import { useFakeServerWork } from "./fake-server.ts";
import { sendsFile, sendsListing, startScriptedServer, type ScriptedControl } from "./scripted-server.ts";

setDefaultTimeout(60_000);

const t = useFakeServerWork();
const FEAT = ["MLST type*;size*;modify*;", "MLSD"];
const facts = "type=file;size=3;modify=20260101120000;";

/** A RETR or STOR handler: the data connection is made and the 150 sent, then `code` refuses it. */
function refusesAfter150(code: number, text: string): (c: ScriptedControl) => Promise<void> {
  return async (c) => {
    const d = await c.data();
    c.reply(150, "Opening BINARY mode data connection");
    d.end();
    c.reply(code, text);
  };
}

test("get -r: a file refused with 550 after its 150 fails alone, asked once on the one session; the others are copied; exit 8", async () => {
  const good = sendsFile(Buffer.from("ok\n"));
  const server = startScriptedServer({
    feat: FEAT,
    on: {
      MLSD: sendsListing([`${facts} a.txt`, `${facts} bad.txt`, `${facts} c.txt`]),
      RETR: (c, arg) => (arg.endsWith("bad.txt") ? refusesAfter150(550, "Permission denied")(c) : good(c)),
    },
  });
  try {
    const r = await runFtpkit(["get", "-r", "--parallel", "1", "--retries", "3", `ftp://u:p@127.0.0.1:${server.port}/t`, "out"], { cwd: t.work });
    expect(r.code).toBe(8);
    expect(r.stderr).toContain("bad.txt: RETR /t/bad.txt: Permission denied (550)");
    expect(r.stderr).not.toContain("reconnecting");
    expect(server.commands.filter((c) => c === "RETR /t/bad.txt")).toHaveLength(1);
    expect(server.commands.filter((c) => c.startsWith("USER "))).toHaveLength(1);
    expect(readFileSync(join(t.work, "out/a.txt"), "utf8")).toBe("ok\n");
    expect(readFileSync(join(t.work, "out/c.txt"), "utf8")).toBe("ok\n");
    expect(existsSync(join(t.work, "out/bad.txt"))).toBe(false);
  } finally {
    server.stop();
  }
});

test("put: an upload refused with 553 after its 150 is sent once and exits 8", async () => {
  writeFileSync(join(t.work, "x.txt"), "abc");
  const server = startScriptedServer({ feat: FEAT, on: { STOR: refusesAfter150(553, "Prohibited file name") } });
  try {
    const r = await runFtpkit(["put", "--retries", "3", "x.txt", `ftp://u:p@127.0.0.1:${server.port}/x.txt`], { cwd: t.work });
    expect(r.code).toBe(8);
    expect(r.stderr).toContain("STOR /x.txt: Prohibited file name (553)");
    expect(r.stderr).not.toContain("reconnecting");
    expect(server.commands.filter((c) => c.startsWith("STOR "))).toHaveLength(1);
    expect(server.commands.filter((c) => c.startsWith("USER "))).toHaveLength(1);
  } finally {
    server.stop();
  }
});

test("get -r: a 550 after the 150 whose server closed the data port before the client's connect is the 550, exit 8, not the failed connect (exit 4)", async () => {
  const good = sendsFile(Buffer.from("ok\n"));
  const server = startScriptedServer({
    feat: FEAT,
    on: {
      MLSD: sendsListing([`${facts} a.txt`, `${facts} bad.txt`, `${facts} c.txt`]),
      RETR: (c, arg) => {
        if (!arg.endsWith("bad.txt")) return good(c);
        // Pipelined behind EPSV: this runs before the client has read the 229.
        c.closePassive();
        c.reply(150, "Opening BINARY mode data connection");
        c.reply(550, "Permission denied");
      },
    },
  });
  try {
    const r = await runFtpkit(["get", "-r", "--parallel", "1", "--retries", "3", `ftp://u:p@127.0.0.1:${server.port}/t`, "out"], { cwd: t.work });
    expect(r.stderr).toContain("bad.txt: RETR /t/bad.txt: Permission denied (550)");
    expect(r.stderr).not.toContain("data connection");
    expect(r.code).toBe(8);
    expect(server.commands.filter((c) => c === "RETR /t/bad.txt")).toHaveLength(1);
    expect(readFileSync(join(t.work, "out/c.txt"), "utf8")).toBe("ok\n");
  } finally {
    server.stop();
  }
});
