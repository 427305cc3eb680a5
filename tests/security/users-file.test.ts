// The users file replaced by a FIFO or emptied under a running server (issue 9, item 7): one clear
// log line each, the previous users keep logging in, no login hangs. Deleted: the same, until it is back.
import { describe, expect, test } from "bun:test";
import { copyFileSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../../server/log.ts";
import { useServers } from "../helpers/server.ts";
import { makeUsersFile } from "../helpers/users.ts";

const servers = useServers();

function textLog() {
  let out = "";
  const logger = createLogger("text", false, { write: (s: string) => (out += s) });
  return { logger, text: () => (logger.flush?.(), out) };
}

/** Log in a few times over ~1.5 s (the reload check runs at least once a second). */
async function loginsStillWork(): Promise<void> {
  for (let i = 0; i < 4; i++) {
    const w = await servers.login("alice", "alice-pw");
    w.close();
    await Bun.sleep(400);
  }
}

describe("users file oddities", () => {
  test("replaced by a FIFO: logins keep working with the previous users and one line is logged", async () => {
    const log = textLog();
    const srv = await servers.start({ options: { logger: log.logger } });
    unlinkSync(srv.usersFile);
    expect(Bun.spawnSync(["mkfifo", srv.usersFile]).exitCode).toBe(0);
    await loginsStillWork();
    const lines = log.text().split("\n").filter((l) => l.includes("not a regular file"));
    expect(lines.length).toBe(1);
    expect(lines[0]).toContain("keeping the previous users");
  }, 20_000);

  test("emptied: logins keep working with the previous users and one line is logged", async () => {
    const log = textLog();
    const srv = await servers.start({ options: { logger: log.logger } });
    writeFileSync(srv.usersFile, "");
    await loginsStillWork();
    const lines = log.text().split("\n").filter((l) => l.includes("is empty"));
    expect(lines.length).toBe(1);
    expect(lines[0]).toContain("keeping the previous users");
  }, 20_000);

  test("deleted (a rename-save, a tool replacing it, a mistaken rm): the previous users keep logging in, one line is logged, and the file is read again when it is back", async () => {
    const log = textLog();
    const srv = await servers.start({ options: { logger: log.logger } });
    (await servers.login("alice", "alice-pw")).close();
    unlinkSync(srv.usersFile);
    await loginsStillWork();
    const lines = log.text().split("\n").filter((l) => l.includes(srv.usersFile) && l.includes("gone"));
    expect(lines.length).toBe(1);
    expect(lines[0]).toContain("keeping the previous users");
    // Back, edited: alice's new password is the one that works.
    const other = mkdtempSync(join(tmpdir(), "ftpkit-users-"));
    try {
      copyFileSync(await makeUsersFile(other, [{ name: "alice", password: "alice-new", home: srv.home("alice") }]), srv.usersFile);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
    await Bun.sleep(1100);
    (await servers.login("alice", "alice-new")).close();
    (await servers.login("alice", "alice-pw", 530)).close();
  }, 20_000);
});
