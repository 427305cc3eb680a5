// A password holding characters a glob would read (?, *, [ ]) in the URL of the login directory
// itself: the path has no segment there, so nothing of the user, password or host is a pattern.
import { expect, test } from "bun:test";
import { useServers } from "../helpers/server.ts";
import { removeDir, runFtpkit, tempDir } from "../helpers/peers.ts";

const servers = useServers();
const PASSWORD = "p?w*[x]";

test("ls and get -r of ftp://me:PASSWORD@host/ log in with a password holding ? * [ ] (percent-encoded); before, it went out as p\\?w\\*\\[x] (530)", async () => {
  const ts = await servers.start({ users: [{ name: "me", password: PASSWORD, home: "home/alice" }] });
  const work = tempDir("ftpkit-url-creds-");
  try {
    const encoded = PASSWORD.replace(/[?*[\]]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
    for (const root of [`ftp://me:${encoded}@127.0.0.1:${ts.port}/`, `ftp://me:${encoded}@127.0.0.1:${ts.port}`]) {
      const ls = await runFtpkit(["ls", root, "--names"], { cwd: work });
      expect([ls.code, ls.stderr]).toEqual([0, ""]);
      expect(ls.stdout).toContain("hello.txt");
    }
    const get = await runFtpkit(["get", "-r", `ftp://me:${encoded}@127.0.0.1:${ts.port}/`, "copy"], { cwd: work });
    expect(get.code).toBe(0);
  } finally {
    removeDir(work);
  }
});

// curl and lftp send "ftp://:@host" as an empty USER and PASS (wget refuses the URL); every server
// tried refuses the empty name, and the line says what was refused.
test('get ftp://:@host/x sends an empty USER and PASS as curl and lftp do; the server\'s refusal names the empty user, exit 6', async () => {
  const ts = await servers.start({});
  const { startScriptedServer } = await import("./scripted-server.ts");
  const fake = startScriptedServer({});
  const work = tempDir("ftpkit-url-creds-");
  try {
    await runFtpkit(["get", `ftp://:@127.0.0.1:${fake.port}/x`, "--retries", "0"], { cwd: work });
    // Before: no connection at all ("has a password but no user name").
    // An empty argument goes as the bare verb (formatCommand): "USER", then "PASS" at the 331.
    expect(fake.commands.filter((c) => /^(USER|PASS)/.test(c))).toEqual(["USER", "PASS"]);
    const r = await runFtpkit(["get", `ftp://:@127.0.0.1:${ts.port}/hello.txt`], { cwd: work });
    expect(r.stderr.trim()).toBe("[error] login failed: the server refused the empty user name the URL gives (ftp://:@host/…): USER needs an argument (501); name a user (ftp://USER@host/…), or none for anonymous");
    expect(r.code).toBe(6);
  } finally {
    fake.stop();
    removeDir(work);
  }
});
