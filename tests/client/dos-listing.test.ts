// A server without MLSD whose LIST is in IIS's default "MS-DOS" style: ls shows it, get -r copies
// the tree whole and verified, names with spaces and all.
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { digest, runFtpkit } from "../helpers/peers.ts";
import { useFakeServerWork } from "./fake-server.ts";

setDefaultTimeout(60_000);

const t = useFakeServerWork();
const url = (path: string) => `ftp://u:p@127.0.0.1:${t.fake.port}${path}`;
const bytes = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));

const TREE = new Map([
  ["/site/readme.txt", bytes(1200, 1)],
  ["/site/name with spaces.txt", bytes(70_000, 2)],
  ["/site/two  spaces.bin", bytes(5, 3)],
  ["/site/sub dir/deep file.bin", bytes(300_000, 4)],
  ["/site/sub dir/empty.txt", Buffer.alloc(0)],
]);
// IIS 10 answers HASH; no MLST, so the client lists with LIST.
const IIS = { files: TREE, feat: ["SIZE", "MDTM", "HASH SHA-256*", "UTF8"], dosListing: true };

describe("a server whose LIST is MS-DOS style (IIS)", () => {
  test("ls shows its entries: directories as directories, sizes and names with spaces as the server gave them", async () => {
    const fake = t.start(IIS);
    const r = await runFtpkit(["ls", url("/site/"), "--json"], { cwd: t.work });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const entries = JSON.parse(r.stdout) as { name: string; type: string; size: number; mtime: string }[];
    expect(entries.map((e) => [e.name, e.type, e.type === "dir" ? 0 : e.size])).toEqual([
      ["name with spaces.txt", "file", 70_000],
      ["readme.txt", "file", 1200],
      ["sub dir", "dir", 0],
      ["two  spaces.bin", "file", 5],
    ]);
    // 01-01-26  12:00PM
    expect(entries[0]!.mtime).toBe("2026-01-01T12:00:00.000Z");
    expect(fake.commands.some((c) => c.startsWith("MLSD"))).toBe(false);
    const names = await runFtpkit(["ls", url("/site/sub dir/"), "--names"], { cwd: t.work });
    expect(names.stdout).toBe("deep file.bin\nempty.txt\n");
  });

  test("get -r copies the tree, its subdirectory and names with spaces, each file whole and verified by HASH", async () => {
    const fake = t.start(IIS);
    const r = await runFtpkit(["get", "-r", url("/site"), "out", "--json"], { cwd: t.work });
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { copied: number; failed: number; files: { path: string; result: string; digest?: string }[] };
    expect(report).toMatchObject({ copied: TREE.size, failed: 0 });
    for (const [path, data] of TREE) {
      const rel = path.slice("/site/".length);
      expect(readFileSync(join(t.work, "out", rel))).toEqual(data);
      const f = report.files.find((x) => x.path === rel)!;
      expect(f.result).toBe("verified by HASH");
      expect(f.digest).toBe(`sha256:${digest(data)}`);
    }
    expect(readdirSync(join(t.work, "out")).sort()).toEqual(["name with spaces.txt", "readme.txt", "sub dir", "two  spaces.bin"]);
    expect(fake.commands.filter((c) => c.startsWith("LIST")).length).toBeGreaterThan(0);
  });

  test("a line in a shape still unknown is shown: ls lists the rest with one warning, get -r copies the rest and says so", async () => {
    const odd = "01-01-26  12:00PM       <LINK>         odd";
    const fake = t.start({ ...IIS, listExtra: [odd] });
    const ls = await runFtpkit(["ls", url("/site/"), "--names"], { cwd: t.work });
    expect(ls.code).toBe(0);
    expect(ls.stdout.split("\n").filter(Boolean).sort()).toEqual(["name with spaces.txt", "readme.txt", "sub dir/", "two  spaces.bin"]);
    expect(ls.stderr.trim()).toBe(`[warn] 1 line(s) of the listing could not be read (the first: unrecognized LIST line: ${odd}): left out`);
    const get = await runFtpkit(["get", "-r", url("/site"), "out"], { cwd: t.work });
    expect(get.stderr).toContain(`.: 1 line(s) of its listing could not be read (the first: unrecognized LIST line: ${odd}); nothing in it is deleted`);
    expect(get.code).toBe(0);
    expect(readFileSync(join(t.work, "out", "sub dir", "deep file.bin"))).toEqual(TREE.get("/site/sub dir/deep file.bin")!);
    expect(fake.commands.some((c) => / odd$/.test(c))).toBe(false);
  });

  test("a listing of which no line is in a known shape is the server's fault: ls exits 7 (the protocol), showing the first line", async () => {
    t.start({ files: new Map([["/odd/a.txt", bytes(10, 5)]]), feat: ["SIZE"], listLine: (name) => `?? ${name} in a shape no server uses` });
    const ls = await runFtpkit(["ls", url("/odd/")], { cwd: t.work });
    expect(ls.stderr.trim()).toBe("[error] unrecognized LIST line: ?? a.txt in a shape no server uses");
    expect(ls.code).toBe(7);
  });
});
