// `ftpkit ls` of a name that holds wildcard characters, asked for literally: percent-encoded in the
// URL (as get reads it) or escaped with `\`, against a server that expands LIST's argument (vsftpd)
// and one that lists by MLST (ftpkit).
import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { removeDir, runFtpkit, startFtpkitServer, tempDir } from "../helpers/peers.ts";
import { chownTo, startVsftpd, vsftpdAvailable } from "../helpers/system-ftpd.ts";

setDefaultTimeout(60_000); // real servers and CLI processes; see BUN-NOTES on the preload

const servers = [
  { name: "ftpkit", start: async () => await startFtpkitServer(), own: (_: string) => {} },
  { name: "vsftpd", available: vsftpdAvailable, start: async () => await startVsftpd(), own: (p: string) => chownTo(p, "ftpkittest") },
];

for (const kind of servers) {
  describe.skipIf(kind.available?.() === false)(`ls of a literal name with wildcard characters (${kind.name})`, () => {
    let s: { home: string; url(path: string): string; stop(): Promise<void> };
    let work: string;
    beforeAll(async () => {
      s = await kind.start();
      work = tempDir("ftpkit-ls-names-");
      const dir = join(s.home, "w");
      mkdirSync(join(dir, "d*ir"), { recursive: true });
      mkdirSync(join(dir, "dxir"));
      writeFileSync(join(dir, "a[1].txt"), "one");
      writeFileSync(join(dir, "a1.txt"), "second");
      writeFileSync(join(dir, "b*"), "star");
      writeFileSync(join(dir, "bx"), "bee");
      writeFileSync(join(dir, "d*ir", "inside"), "in");
      writeFileSync(join(dir, "dxir", "wrong"), "no");
      kind.own(dir);
    });
    afterAll(async () => {
      await s.stop();
      removeDir(work);
    });

    const names = async (path: string) => {
      const r = await runFtpkit(["ls", s.url(path), "--json"], { cwd: work });
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      return (JSON.parse(r.stdout) as { name: string; size: number }[]).map((e) => `${e.name}:${e.size}`);
    };

    test("a%5B1%5D.txt is the file a[1].txt, not a glob matching a1.txt (as get reads it)", async () => {
      expect(await names("/w/a%5B1%5D.txt")).toEqual(["a[1].txt:3"]);
    });

    test("b%2A and b\\* list the file b* alone, not bx as well", async () => {
      expect(await names("/w/b%2A")).toEqual(["b*:4"]);
      expect(await names("/w/b\\*")).toEqual(["b*:4"]);
    });

    test("a directory named d*ir lists its own entries, not dxir's", async () => {
      expect(await names("/w/d%2Air/")).toEqual(["inside:2"]);
    });

    test("a literal name that does not exist is exit 8, not the listing of what it would match", async () => {
      const r = await runFtpkit(["ls", s.url("/w/a%3F.txt")], { cwd: work });
      expect(r.stdout).toBe("");
      expect(r.code).toBe(8);
    });

    test("an unescaped wildcard is still a glob", async () => {
      expect(await names("/w/b*")).toEqual(["b*:4", "bx:3"]);
    });
  });
}
