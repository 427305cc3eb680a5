// A directory that is there by the time a tree upload's MKD comes: another job made it since this
// one listed (two `put -r` into one new directory), or this job's own MKD did before a drop hid its
// reply. Either way the MKD's refusal means "made", as with `mkdir -p`; a refusal with no directory
// behind it (a file of that name) still fails that directory alone.
import { expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runFtpkit } from "../helpers/peers.ts";
import { sendsListing, storesFile, useScriptedServerWork, type ScriptedControl } from "./scripted-server.ts";

setDefaultTimeout(60_000);
const t = useScriptedServerWork();

/** src/a/f0 and src/b/f1 ("file N\n"). */
function sourceTree(): string {
  const src = join(t.work, "src");
  for (const [dir, i] of [["a", 0], ["b", 1]] as const) {
    mkdirSync(join(src, dir), { recursive: true });
    writeFileSync(join(src, dir, `f${i}`), `file ${i}\n`);
  }
  return src;
}

/**
 * A server whose /up is empty when first listed; `mkd` answers each MKD and may add entries (MLSD
 * facts) that later listings of /up show. Uploads are kept.
 */
function destination(mkd: (c: ScriptedControl, arg: string, appear: (facts: string) => void) => void) {
  const stored = new Map<string, Buffer>();
  const there: string[] = [];
  const server = t.start({
    feat: ["MLST type*;size*;modify*;", "MLSD", "REST STREAM", "SIZE"],
    on: {
      MODE: (c) => c.reply(504, "Bad MODE command"),
      MKD: (c, arg) => mkd(c, arg, (facts) => there.push(facts)),
      MLSD: (c, arg) => (arg === "/up" ? sendsListing([...there])(c, arg) : c.reply(550, "No such directory")),
      SIZE: (c) => c.reply(550, "Could not get file size"),
      STOR: storesFile(stored),
    },
  });
  return { server, stored, url: `ftp://u:p@127.0.0.1:${server.port}/up` };
}

test("put -r: a directory another job made after this one listed (MKD answered 550) counts as made, its files copied", async () => {
  const src = sourceTree();
  const dest = destination((c, arg, appear) => {
    if (arg === "/up/a") {
      appear("type=dir;modify=20260101120000; a");
      return c.reply(550, "Create directory operation failed.");
    }
    c.reply(257, `"${arg}" created`);
  });
  const r = await runFtpkit(["put", "-r", "--parallel", "1", src, dest.url], { cwd: t.work });
  expect(r.stderr).not.toMatch(/error|warn/i);
  expect(r.code).toBe(0);
  expect(dest.stored.get("/up/a/f0")?.toString()).toBe("file 0\n");
  expect(dest.stored.get("/up/b/f1")?.toString()).toBe("file 1\n");
});

test("put -r: an MKD that made its directory but dropped before its reply is retried, and the retry's 550 counts as made", async () => {
  const src = sourceTree();
  let dropped = false;
  const dest = destination((c, arg, appear) => {
    if (arg === "/up/a" && !dropped) {
      dropped = true;
      appear("type=dir;modify=20260101120000; a");
      return c.drop();
    }
    if (arg === "/up/a") return c.reply(550, "Create directory operation failed.");
    c.reply(257, `"${arg}" created`);
  });
  const r = await runFtpkit(["put", "-r", "--parallel", "1", src, dest.url], { cwd: t.work });
  expect(r.stderr).not.toMatch(/error/i);
  expect(r.code).toBe(0);
  expect(dest.stored.get("/up/a/f0")?.toString()).toBe("file 0\n");
});

test("put -r: an MKD refused where a file of that name stands fails that directory alone (exit 8)", async () => {
  const src = sourceTree();
  const dest = destination((c, arg, appear) => {
    if (arg === "/up/a") {
      appear("type=file;size=3;modify=20260101120000; a");
      return c.reply(550, "Create directory operation failed.");
    }
    c.reply(257, `"${arg}" created`);
  });
  const r = await runFtpkit(["put", "-r", "--parallel", "1", src, dest.url], { cwd: t.work });
  expect(r.code).toBe(8);
  expect(r.stderr).toMatch(/a: MKD \/up\/a: Create directory operation failed\. \(550\)/);
  expect(dest.stored.has("/up/a/f0")).toBe(false);
  expect(dest.stored.get("/up/b/f1")?.toString()).toBe("file 1\n");
});
