// A server that offers MLST but refuses MLSD (500/502: it does not have it): tree jobs and ls list
// by LIST, as they do where MLSD is not offered.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { runFtpkit } from "../helpers/peers.ts";
import { sendsFile, sendsListing, type ScriptedServer, useScriptedServerWork } from "./scripted-server.ts";

const t = useScriptedServerWork();

const DATA = Buffer.from("hello from d\n");

/** /d holds f.txt; MLST knows both, MLSD is refused with `code`. */
function start(code: number): ScriptedServer {
  let cwd = "/";
  const path = (arg: string) => (arg.startsWith("/") ? arg : `${cwd.replace(/\/$/, "")}/${arg}`).replace(/\/+$/, "") || "/";
  return t.start({
    feat: ["MLST type*;size*;modify*;", "SIZE", "MDTM", "UTF8"],
    on: {
      MLST: (c, arg) => {
        const p = path(arg);
        if (p === "/d" || p === "/") c.write(`250-Listing ${p}\r\n type=dir;modify=20260101000000; ${p}\r\n250 End\r\n`);
        else if (p === "/d/f.txt") c.write(`250-Listing ${p}\r\n type=file;size=${DATA.length};modify=20260101000000; ${p}\r\n250 End\r\n`);
        else c.reply(550, "No such file");
      },
      MLSD: (c) => c.reply(code, code === 500 ? "Unknown command" : "Command not implemented"),
      CWD: (c, arg) => {
        const p = path(arg);
        if (p === "/" || p === "/d") {
          cwd = p;
          c.reply(250, "ok");
        } else c.reply(550, "No such directory");
      },
      LIST: sendsListing([`-rw-r--r--   1 ftp      ftp      ${String(DATA.length).padStart(8)} Jan 01  2026 f.txt`]),
      SIZE: (c, arg) => (path(arg) === "/d/f.txt" ? c.reply(213, String(DATA.length)) : c.reply(550, "Not a plain file")),
      MDTM: (c, arg) => (path(arg) === "/d/f.txt" ? c.reply(213, "20260101000000") : c.reply(550, "Not a plain file")),
      RETR: sendsFile(DATA),
    },
  });
}

describe("MLST offered, MLSD refused", () => {
  for (const code of [500, 502]) {
    test(`${code} to MLSD: get -r lists the directory by LIST and fetches its file`, async () => {
      const server = start(code);
      const r = await runFtpkit(["get", "-r", `ftp://u:p@127.0.0.1:${server.port}/d`, "out", "--retries", "0", "--no-verify"], { cwd: t.work, timeoutMs: 30_000 });
      expect(r.stderr).not.toContain("is a file");
      expect(r.stderr).not.toContain("not found");
      expect(r.code).toBe(0);
      expect(readFileSync(join(t.work, "out/f.txt"), "utf8")).toBe(DATA.toString());
    });
  }

  test("ls of the directory lists it by LIST", async () => {
    const server = start(500);
    const r = await runFtpkit(["ls", `ftp://u:p@127.0.0.1:${server.port}/d`, "--names"], { cwd: t.work, timeoutMs: 30_000 });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("f.txt\n");
  });
});
