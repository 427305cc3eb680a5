// sync --delete to a case-insensitive store (IIS on NTFS; a macOS disk the other way): a file renamed
// only in case locally (Report.TXT → report.txt). The copy of report.txt replaces Report.TXT there,
// so the delete of "Report.TXT" (not in the source) must come before it, not after: after, it removed
// the copy, and the backup lacked the file until the next sync.
import { expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runFtpkit } from "../helpers/peers.ts";
import { useScriptedServerWork } from "./scripted-server.ts";

setDefaultTimeout(60_000);
const t = useScriptedServerWork();

/** A server whose /case holds `names`; names are found case-insensitively and keep the case they were made with (as NTFS). */
function caseInsensitive(names: Record<string, string>) {
  const files = new Map<string, { name: string; data: Buffer }>(Object.entries(names).map(([name, text]) => [name.toLowerCase(), { name, data: Buffer.from(text) }]));
  const key = (arg: string) => arg.slice("/case/".length).toLowerCase();
  const server = t.start({
    feat: ["MLST type*;size*;modify*;", "MLSD", "REST STREAM", "SIZE"],
    on: {
      MODE: (c) => c.reply(504, "Bad MODE command"),
      MLSD: async (c, arg) => {
        if (arg !== "/case") return c.reply(550, "No such directory");
        const d = await c.data();
        c.reply(150, "Here comes the listing");
        await d.send(Buffer.from([...files.values()].map((f) => `type=file;size=${f.data.length};modify=20200101000000; ${f.name}\r\n`).join("")));
        d.end();
        c.reply(226, "Directory send OK");
      },
      SIZE: (c, arg) => {
        const f = files.get(key(arg));
        return f ? c.reply(213, String(f.data.length)) : c.reply(550, "No such file");
      },
      STOR: async (c, arg) => {
        const d = await c.data();
        c.reply(150, "Ok to send data");
        await d.closing();
        const k = key(arg);
        files.set(k, { name: files.get(k)?.name ?? arg.slice("/case/".length), data: d.received() });
        c.reply(226, "Transfer complete");
      },
      DELE: (c, arg) => (files.delete(key(arg)) ? c.reply(250, "Deleted") : c.reply(550, "No such file")),
    },
  });
  return { server, files };
}

test("sync --delete of a file renamed only in case: the old name is deleted before the copy, and the file is there at the end", async () => {
  const src = join(t.work, "src");
  mkdirSync(src);
  writeFileSync(join(src, "report.txt"), "important\n");
  const { server, files } = caseInsensitive({ "Report.TXT": "important\n" });
  const r = await runFtpkit(["sync", "--delete", src, `ftp://u:p@127.0.0.1:${server.port}/case`], { cwd: t.work });
  expect(r.code).toBe(0);
  const order = server.commands.filter((c) => /^(STOR|DELE) /.test(c));
  expect(order).toEqual(["DELE /case/Report.TXT", "STOR /case/report.txt"]);
  expect(files.get("report.txt")?.data.toString()).toBe("important\n");
});

test("sync --delete --dry-run lists the old name's delete before the copy, in the order the run does them", async () => {
  const src = join(t.work, "src-dry");
  mkdirSync(src);
  writeFileSync(join(src, "report.txt"), "important\n");
  writeFileSync(join(src, "new.txt"), "new\n");
  const { server } = caseInsensitive({ "Report.TXT": "important\n", "gone.txt": "old\n" });
  const r = await runFtpkit(["sync", "--delete", "--dry-run", src, `ftp://u:p@127.0.0.1:${server.port}/case`], { cwd: t.work });
  expect(r.code).toBe(0);
  const actions = r.stdout.split("\n").filter((l) => /^(copy|delete) /.test(l)).map((l) => l.split(" (")[0]);
  expect(actions).toEqual(["delete Report.TXT", "copy new.txt", "copy report.txt", "delete gone.txt"]);
});
