// The users file replaced by a FIFO or emptied under a running server (issue 9, item 7): one clear
// log line each, the previous users keep logging in, no login hangs.
import { describe, expect, test } from "bun:test";
import { unlinkSync, writeFileSync } from "node:fs";
import { createLogger } from "../../server/log.ts";
import { useServers } from "../helpers/server.ts";

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
});
