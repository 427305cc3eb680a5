// A local file that changes while it is uploaded (a log still being written): the server's copy is
// the file as it was read, verified against that, no longer the file. The upload fails (exit 9, as a
// download whose remote file changed), says so, and leaves nothing to resume: the next put sends it.
import { expect, setDefaultTimeout, test } from "bun:test";
import { appendFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runFtpkit } from "../helpers/peers.ts";
import { useScriptedServerWork } from "./scripted-server.ts";

setDefaultTimeout(60_000);
const t = useScriptedServerWork();

/** A server that appends "more\n" to the local file `grows` when its upload's STOR arrives, and stores uploads. */
function server(grows: string) {
  const stored = new Map<string, Buffer>();
  const s = t.start({
    feat: ["MLST type*;size*;modify*;", "MLSD", "REST STREAM", "SIZE"],
    on: {
      MODE: (c) => c.reply(504, "Bad MODE command"),
      MKD: (c, arg) => c.reply(257, `"${arg}" created`),
      MLSD: (c) => c.reply(550, "No such directory"),
      SIZE: (c, arg) => (stored.has(arg) ? c.reply(213, String(stored.get(arg)!.length)) : c.reply(550, "Could not get file size")),
      STOR: async (c, arg) => {
        if (arg.endsWith("/grows.log")) appendFileSync(grows, "more\n");
        const d = await c.data();
        c.reply(150, "Ok to send data");
        await d.closing();
        stored.set(arg, d.received());
        c.reply(226, "Transfer complete");
      },
    },
  });
  return { stored, url: (p: string) => `ftp://u:p@127.0.0.1:${s.port}${p}` };
}

test("put of a file that grows while it is sent exits 9, says what changed, and leaves nothing to resume", async () => {
  const file = join(t.work, "grows.log");
  writeFileSync(file, "line\n".repeat(1000));
  const srv = server(file);
  const r = await runFtpkit(["put", "grows.log", srv.url("/in/grows.log")], { cwd: t.work });
  expect(r.code).toBe(9);
  expect(r.stderr).toContain(`[error] the local file ${file} changed while it was uploaded (5000 → 5005 bytes): the server's copy is the file as it was read; put it again`);
  expect(srv.stored.get("/in/grows.log")?.length).toBe(5000);
  const resume = await runFtpkit(["resume", "--list"], { cwd: t.work });
  expect(resume.stdout + resume.stderr).not.toContain("grows.log");
});

test("put -r: a file that grows while it is sent fails alone (exit 9); the others are copied", async () => {
  const src = join(t.work, "src");
  mkdirSync(src);
  writeFileSync(join(src, "grows.log"), "line\n");
  writeFileSync(join(src, "still.txt"), "still\n");
  const srv = server(join(src, "grows.log"));
  const r = await runFtpkit(["put", "-r", "--parallel", "1", src, srv.url("/up")], { cwd: t.work });
  expect(r.code).toBe(9);
  expect(r.stderr).toMatch(/grows\.log: the local file \S+grows\.log changed while it was uploaded \(5 → 10 bytes\)/);
  expect(srv.stored.get("/up/still.txt")?.toString()).toBe("still\n");
});
