// A server without MLSD whose LIST is an `ls -l` other than vsftpd's (busybox's long-iso dates, no
// group column, numeric owners) and lists devices and pipes: get -r and sync copy its files, whole
// and verified, and leave the devices and pipes out, reported, never fetched nor deleted.
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runFtpkit } from "../helpers/peers.ts";
import { useFakeServerWork } from "./fake-server.ts";
import type { FakeOptions } from "./fake-server-options.ts";

setDefaultTimeout(60_000);

const t = useFakeServerWork();
const url = (path: string) => `ftp://u:p@127.0.0.1:${t.fake.port}${path}`;

const TREE = new Map([
  ["/t/a b.txt", Buffer.alloc(3000, 0x61)],
  ["/t/sub/c.bin", Buffer.alloc(40_000, 0x63)],
]);
const SERVER: FakeOptions = {
  files: TREE,
  feat: ["SIZE", "HASH SHA-256*"],
  // busybox ls -l --time-style=long-iso with hide_ids-like numeric owners and no group column.
  listLine: (name, size) => `${size === null ? "drwxr-xr-x" : "-rw-r--r--"}    1 1000     ${String(size ?? 4096).padStart(8)} 2024-01-31 10:30 ${name}`,
  listExtra: ["prw-r--r--    1 1000            0 2024-01-31 10:30 queue", "crw-rw-rw-    1 0        5,   1 2024-01-31 10:30 console"],
};

describe("a server whose LIST has no group column, ISO dates, devices and pipes", () => {
  test("get -r copies the files whole and verified, and skips the pipe and the device, saying so", async () => {
    const fake = t.start(SERVER);
    const r = await runFtpkit(["get", "-r", url("/t"), "out", "--json"], { cwd: t.work });
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { copied: number; failed: number; files: { path: string; result: string }[] };
    expect(report).toMatchObject({ copied: 2, failed: 0 });
    expect(readFileSync(join(t.work, "out", "a b.txt"))).toEqual(TREE.get("/t/a b.txt")!);
    expect(readFileSync(join(t.work, "out", "sub", "c.bin"))).toEqual(TREE.get("/t/sub/c.bin")!);
    expect(report.files.find((f) => f.path === "a b.txt")!.result).toBe("verified by HASH");
    expect(report.files.find((f) => f.path === "sub/console")!.result).toBe("skipped: not a regular file on the server: a device, pipe or socket");
    expect(report.files.find((f) => f.path === "queue")!.result).toStartWith("skipped:");
    expect(fake.commands.filter((c) => /queue|console/.test(c))).toEqual([]);
    expect(readdirSync(join(t.work, "out")).sort()).toEqual(["a b.txt", "sub"]);
  });

  test("sync --delete keeps a local file where the server has a pipe", async () => {
    t.start(SERVER);
    mkdirSync(join(t.work, "mirror"));
    writeFileSync(join(t.work, "mirror", "queue"), "mine");
    writeFileSync(join(t.work, "mirror", "stale.txt"), "gone on the server");
    const r = await runFtpkit(["sync", url("/t"), "mirror", "--delete"], { cwd: t.work });
    expect(r.code).toBe(0);
    expect(readFileSync(join(t.work, "mirror", "queue"), "utf8")).toBe("mine");
    expect(readdirSync(join(t.work, "mirror")).sort()).toEqual(["a b.txt", "queue", "sub"]);
  });

  test("ls shows the pipe and the device by their type letters (--json: \"special\"), with the listing's dates", async () => {
    t.start(SERVER);
    const r = await runFtpkit(["ls", url("/t/")], { cwd: t.work });
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines.find((l) => l.endsWith(" queue"))).toStartWith("prw-r--r--");
    expect(lines.find((l) => l.endsWith(" console"))).toStartWith("crw-rw-rw-");
    expect(lines.find((l) => l.endsWith(" a b.txt"))).toMatch(/^-rw-r--r-- +3000 Jan 31 +2024 a b\.txt$/);
    const json = JSON.parse((await runFtpkit(["ls", url("/t/"), "--json"], { cwd: t.work })).stdout) as { name: string; type: string; mtimePrecision: string }[];
    expect(json.map((e) => [e.name, e.type])).toEqual([["a b.txt", "file"], ["console", "special"], ["queue", "special"], ["sub", "dir"]]);
    // "2024-01-31 10:30": a time to the minute, and said so.
    expect(json.map((e) => e.mtimePrecision)).toEqual(["minute", "minute", "minute", "minute"]);
  });
});
