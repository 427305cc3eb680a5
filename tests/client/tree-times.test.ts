// A tree job keeps each entry's time as a number of milliseconds (not a Date) from the walk to the
// file's end: a download still gets its remote time to the second, the epoch included, and a sync
// still tells a file one second newer from one that is the same.
import { describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runFtpkit } from "../helpers/peers.ts";
import { sendsFile, sendsListing, storesFile, useScriptedServerWork } from "./scripted-server.ts";

const t = useScriptedServerWork();

const OLD = Buffer.from("first\n");
const NEW = Buffer.from("secon\n"); // the same size: only the time tells it changed

describe("times of a tree's files", () => {
  test("sync down sets each file's time to the second (the epoch too); a second sync copies nothing; one second later on the server, it copies that file again", async () => {
    let modify = "20250101102030";
    let data = OLD;
    const server = t.start({
      feat: ["MLST type*;size*;modify*;", "SIZE", "MDTM"],
      on: {
        MLSD: sendsListing(() => [`type=file;size=${data.length};modify=${modify}; f.txt`, `type=file;size=${OLD.length};modify=19700101000000; epoch.txt`]),
        SIZE: (c) => c.reply(213, String(data.length)),
        RETR: (c, arg) => sendsFile(arg.endsWith("epoch.txt") ? OLD : data)(c),
      },
    });
    const url = `ftp://u:p@127.0.0.1:${server.port}/t`;
    const sync = () => runFtpkit(["sync", url, "dest", "--no-verify", "--json"], { cwd: t.work, timeoutMs: 30_000 });
    const first = await sync();
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ copied: 2 });
    expect(statSync(join(t.work, "dest/f.txt")).mtimeMs).toBe(Date.UTC(2025, 0, 1, 10, 20, 30));
    expect(statSync(join(t.work, "dest/epoch.txt")).mtimeMs).toBe(0);

    const second = await sync();
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ copied: 0, skipped: 2 });

    modify = "20250101102031";
    data = NEW;
    const third = await sync();
    expect(third.code).toBe(0);
    const report = JSON.parse(third.stdout) as { copied: number; files: { path: string; action: string; reason: string }[] };
    expect(report.copied).toBe(1);
    expect(report.files.find((f) => f.path === "f.txt")).toMatchObject({ action: "copy", reason: "time differs" });
    expect(readFileSync(join(t.work, "dest/f.txt"), "utf8")).toBe(NEW.toString());
    expect(statSync(join(t.work, "dest/f.txt")).mtimeMs).toBe(Date.UTC(2025, 0, 1, 10, 20, 31));
    expect(server.commands.filter((c) => c.startsWith("RETR"))).toHaveLength(3);
  });
});

describe("a server that offers MFMT but refuses it (ProFTPD on a file the account does not own)", () => {
  test("a sync up says once that the uploaded files keep their upload time and a later sync copies them again", async () => {
    const src = join(t.work, "src");
    mkdirSync(src);
    for (const n of ["a.txt", "b.txt"]) writeFileSync(join(src, n), `${n}\n`);
    const stored = new Map<string, Buffer>();
    const server = t.start({
      feat: ["MLST type*;size*;modify*;", "MLSD", "SIZE", "MFMT"],
      on: {
        MODE: (c) => c.reply(504, "Bad MODE command"),
        MKD: (c, arg) => c.reply(257, `"${arg}" created`),
        MLSD: (c) => c.reply(550, "No such directory"),
        SIZE: (c, arg) => (stored.has(arg) ? c.reply(213, String(stored.get(arg)!.length)) : c.reply(550, "No such file")),
        STOR: storesFile(stored),
        MFMT: (c, arg) => c.reply(501, `${arg.split(" ")[1]}: Operation not permitted`),
      },
    });
    const r = await runFtpkit(["sync", "--parallel", "1", src, `ftp://u:p@127.0.0.1:${server.port}/up`], { cwd: t.work });
    expect(r.code).toBe(0);
    expect([...stored.keys()].sort()).toEqual(["/up/a.txt", "/up/b.txt"]);
    const said = r.stderr.split("\n").filter((l) => l.includes("refused to set the time of uploaded files (MFMT)"));
    expect(said).toHaveLength(1);
  });
});
