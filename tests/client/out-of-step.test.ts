// A server whose replies got out of step with the commands (one reply sent twice): the reply a command
// cannot get (RFC 959 §5.4) is the server's protocol error, exit 7, the connection dropped; before,
// each command took the reply meant for the one before it.
import { expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { canAnswer } from "../../protocol/reply-sequences.ts";
import { digest, runFtpkit } from "../helpers/peers.ts";
import { type ScriptedControl, useScriptedServerWork } from "./scripted-server.ts";

const t = useScriptedServerWork();
const DATA = Buffer.alloc(5000, 0x61);

/** A server of /f.bin (DATA) with SIZE, MDTM and HASH; `extra` adds a stray reply after a verb's own. */
function start(extra: { verb: string; reply: string }) {
  const twice = (verb: string, answer: (c: ScriptedControl, arg: string) => void | Promise<void>) => async (c: ScriptedControl, arg: string) => {
    await answer(c, arg);
    if (verb === extra.verb) c.write(`${extra.reply}\r\n`);
  };
  return t.start({
    feat: ["SIZE", "MDTM", "REST STREAM", "HASH SHA-256*"],
    on: {
      PASS: twice("PASS", (c) => c.reply(230, "Login successful")),
      SIZE: twice("SIZE", (c) => c.reply(213, String(DATA.length))),
      MDTM: twice("MDTM", (c) => c.reply(213, "20260101120000")),
      HASH: twice("HASH", (c, arg) => c.reply(213, `SHA-256 0-${DATA.length} ${digest(DATA)} ${arg}`)),
      RETR: twice("RETR", async (c) => {
        const d = await c.data();
        c.reply(150, "Opening BINARY mode data connection");
        await d.send(DATA);
        d.end();
        c.reply(226, "Transfer complete");
      }),
    },
  });
}

for (const { verb, reply, taken, before } of [
  // The 226 that ended RETR, twice (as after an ABOR race): HASH took it for "no digest here".
  { verb: "RETR", reply: "226 Transfer complete", taken: "HASH", before: "exit 0, 'verified size only'" },
  // A 230 twice: PWD took it for "no directory named", TYPE then took PWD's 257… down to a refusal.
  { verb: "PASS", reply: "230 Login successful", taken: "PWD", before: "exit 8, 'TYPE I: Features: … (211)'" },
]) {
  test(`a ${reply.slice(0, 3)} sent twice for ${verb}: ${taken} cannot get it, exit 7 naming it (before: ${before})`, async () => {
    const server = start({ verb, reply });
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${server.port}/f.bin`, "--retries", "0"], { cwd: t.work, timeoutMs: 30_000 });
    expect({ code: r.code, stderr: r.stderr.trim().split("\n").at(-1) }).toEqual({ code: 7, stderr: expect.stringMatching(new RegExp(`the server answered ${taken} with .*\\(${reply.slice(0, 3)}\\), which is no reply to it \\(out of step\\)`)) });
    expect(existsSync(join(t.work, "f.bin"))).toBe(false);
  });
}

test("what each command may get: positive replies by RFC 959 §5.4 (and the peers' 200 to CWD), any refusal", () => {
  const table: [string, number, boolean][] = [
    ["CWD", 250, true], ["CWD", 200, true], ["CWD", 226, false], ["CWD", 150, false], ["CWD", 550, true],
    ["MDTM", 213, true], ["MDTM", 250, false], ["HASH", 213, true], ["HASH", 226, false],
    ["RETR", 125, true], ["RETR", 150, true], ["RETR", 226, true], ["RETR", 200, false], ["RETR", 350, false],
    ["STOR", 150, true], ["STOR", 213, false], ["TYPE", 200, true], ["TYPE", 230, false],
    ["REST", 350, true], ["REST", 200, false], ["RNFR", 350, true], ["RNFR", 250, false],
    ["MKD", 257, true], ["MKD", 226, false], ["PWD", 257, true], ["PWD", 211, false],
    ["SITE", 214, true], // not listed: not checked
  ];
  expect(table.filter(([verb, code, ok]) => canAnswer(verb, code) !== ok)).toEqual([]);
});
