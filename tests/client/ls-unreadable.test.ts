// `ftpkit ls` of a directory the server's account cannot read, against vsftpd, which then lists the
// directory's own entry (as `ls -d` would) with 150/226: before, `ls secret/` showed "secret" inside
// it with exit 0. Now it is refused (exit 8), and a directory that does hold one of its own name
// still lists it.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { removeDir, runFtpkit, tempDir } from "../helpers/peers.ts";
import { chownTo, startVsftpd, vsftpdAvailable, type SystemFtpd } from "../helpers/system-ftpd.ts";

setDefaultTimeout(60_000);

describe.skipIf(!vsftpdAvailable())("ls against vsftpd", () => {
  let s: SystemFtpd;
  let work: string;
  beforeAll(async () => {
    s = await startVsftpd();
    work = tempDir("ftpkit-ls-unreadable-");
    mkdirSync(join(s.home, "same", "same"), { recursive: true });
    writeFileSync(join(s.home, "same", "same", "in.txt"), "in");
    chownTo(join(s.home, "same"), "ftpkittest");
    // Root's, mode 0700: vsftpd's session (ftpkittest) cannot open it.
    mkdirSync(join(s.home, "secret"));
    writeFileSync(join(s.home, "secret", "s.txt"), "s");
    chmodSync(join(s.home, "secret"), 0o700);
  });
  afterAll(async () => {
    await s.stop();
    removeDir(work);
  });

  test("of a directory it cannot read: exit 8 and the server's refusal, not the directory as its own entry", async () => {
    const r = await runFtpkit(["ls", s.url("/secret/"), "--json"], { cwd: work });
    expect(r.code).toBe(8);
    expect(r.stderr).toMatch(/\/secret\/?: .*\(550\)/);
  });

  test("of a directory holding one of its own name: that entry, exit 0", async () => {
    const r = await runFtpkit(["ls", s.url("/same/"), "--json"], { cwd: work });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { name: string; type: string }[]).map((e) => `${e.name}:${e.type}`)).toEqual(["same:dir"]);
  });
});
