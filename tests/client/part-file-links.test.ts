// What stands at the names beside a download. A symbolic link where its part file goes (planted in
// a shared or synced directory) is never written through: the download of that file fails naming
// it, the link and its target are left as they were. A directory where a bad download would be set
// aside leaves the bytes in the part file, and the verdict is still the verification's.
import { describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runFtpkit, startFtpkitServer, type FtpkitPeer } from "../helpers/peers.ts";
import { useCleanups } from "../helpers/cleanups.ts";
import { sendsFile, startScriptedServer } from "./scripted-server.ts";

setDefaultTimeout(60_000);

const owned = useCleanups("ftpkit-part-links-");

async function ftpkitServer(): Promise<FtpkitPeer> {
  const srv = await startFtpkitServer();
  owned.later(() => srv.stop());
  return srv;
}

/** A work directory with `outside/victim` (text "precious\n") and an empty `dest`. */
function workWithVictim(): { work: string; dest: string; victim: string } {
  const work = owned.workDir();
  mkdirSync(join(work, "outside"));
  mkdirSync(join(work, "dest"));
  const victim = join(work, "outside", "victim");
  writeFileSync(victim, "precious\n");
  return { work, dest: join(work, "dest"), victim };
}

const refused = (part: string) => `cannot create ${part}: a symbolic link stands there, and a download is never written through one: remove it`;

describe("a symbolic link as the part file", () => {
  for (const how of [[], ["--segments", "2"]]) {
    test(`get${how.length ? ` ${how.join(" ")}` : ""}: exit 3 naming it; the link stays and its target is unchanged`, async () => {
      const srv = await ftpkitServer();
      writeFileSync(join(srv.home, "a.txt"), "from the server\n");
      const { work, dest, victim } = workWithVictim();
      const part = join(dest, "a.txt.ftpkit-part");
      symlinkSync(victim, part);
      const r = await runFtpkit(["get", srv.url("/a.txt"), `${dest}/`, ...how], { cwd: work });
      expect(r.stderr).toContain(refused(part));
      expect(r.code).toBe(3);
      expect(readFileSync(victim, "utf8")).toBe("precious\n");
      expect(lstatSync(part).isSymbolicLink()).toBe(true);
      expect(existsSync(join(dest, "a.txt"))).toBe(false);
      // Nothing landed: no pending record for a resume to fail on again.
      expect((await runFtpkit(["resume", "--list"], { cwd: work })).stdout).toMatch(/^nothing to resume/);
    });
  }

  test("a link to nothing: no file is created at its target", async () => {
    const srv = await ftpkitServer();
    writeFileSync(join(srv.home, "a.txt"), "from the server\n");
    const { work, dest } = workWithVictim();
    const target = join(work, "outside", "new-file");
    const part = join(dest, "a.txt.ftpkit-part");
    symlinkSync(target, part);
    const r = await runFtpkit(["get", srv.url("/a.txt"), `${dest}/`], { cwd: work });
    expect(r.code).toBe(3);
    expect(existsSync(target)).toBe(false);
    expect(readlinkSync(part)).toBe(target);
  });

  test("get -r: that file fails, exit 3; the link and its target are kept, and the other files arrive", async () => {
    const srv = await ftpkitServer();
    mkdirSync(join(srv.home, "t", "sub"), { recursive: true });
    writeFileSync(join(srv.home, "t", "b.txt"), "b from the server\n");
    writeFileSync(join(srv.home, "t", "sub", "c.txt"), "c\n");
    const { work, dest, victim } = workWithVictim();
    const part = join(dest, "b.txt.ftpkit-part");
    symlinkSync(victim, part);
    const r = await runFtpkit(["get", "-r", srv.url("/t"), dest], { cwd: work });
    expect(r.stderr).toContain(`b.txt: ${refused(part)}`);
    expect(r.code).toBe(3);
    expect(readFileSync(victim, "utf8")).toBe("precious\n");
    expect(lstatSync(part).isSymbolicLink()).toBe(true);
    expect(existsSync(join(dest, "b.txt"))).toBe(false);
    expect(readFileSync(join(dest, "sub", "c.txt"), "utf8")).toBe("c\n");
  });
});

describe("a symbolic link put as a pending download's part file", () => {
  test("resume --list counts the bytes of the part file itself, never of what a link there points to", async () => {
    // Five bytes of ten, then 426: a pending download whose part file holds 5 bytes.
    const srv = startScriptedServer({
      feat: ["SIZE", "REST STREAM"],
      on: {
        SIZE: (c) => c.reply(213, "10"),
        REST: (c) => c.reply(350, "ok"),
        async RETR(c) {
          const d = await c.data();
          c.reply(150, "Opening data connection");
          await d.send(Buffer.from("01234"));
          d.end();
          c.reply(426, "Connection closed; transfer aborted");
        },
      },
    });
    owned.later(() => srv.stop());
    const { work, victim } = workWithVictim();
    writeFileSync(victim, Buffer.alloc(3_000_000));
    const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${srv.port}/f`, "f", "--retries", "0"], { cwd: work });
    expect(r.code).toBe(4);
    const part = join(work, "f.ftpkit-part");
    expect(readFileSync(part, "utf8")).toBe("01234");
    const listed = async () => JSON.parse((await runFtpkit(["resume", "--list", "--json"], { cwd: work })).stdout) as { done: unknown }[];
    expect((await listed()).map((p) => p.done)).toEqual([{ bytes: 5 }]);
    rmSync(part);
    symlinkSync(victim, part);
    expect((await listed()).map((p) => p.done)).toEqual([{ bytes: 0 }]);
    expect((await runFtpkit(["resume", "--list"], { cwd: work })).stdout).toContain("; 0 B received)");
  });
});

test("a bad download set aside under a name with a tab and a line break is named in one line, quoted and escaped once", async () => {
  const srv = startScriptedServer({
    feat: ["SIZE", "REST STREAM", "HASH SHA-256*"],
    on: {
      SIZE: (c) => c.reply(213, "10"),
      HASH: (c, arg) => c.reply(213, `SHA-256 0-10 ${"0".repeat(64)} ${arg}`),
      RETR: sendsFile(Buffer.from("0123456789")),
    },
  });
  owned.later(() => srv.stop());
  const work = owned.workDir();
  const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${srv.port}/f`, "a\tb\nc", "--retries", "0"], { cwd: work });
  expect(r.code).toBe(9);
  // Before: the raw tab and line break, the message cut in two lines.
  const line = r.stderr.split("\n").find((l) => l.includes("mismatch"))!;
  expect(line).toEndWith(`the bad download is kept in ${JSON.stringify(join(work, "a\tb\nc.ftpkit-corrupt"))}`);
  expect(readFileSync(join(work, "a\tb\nc.ftpkit-corrupt"), "utf8")).toBe("0123456789");
});

describe("a directory where a bad download is set aside (FILE.ftpkit-corrupt)", () => {
  for (const how of [[], ["--segments", "2"]]) {
    test(`get${how.length ? ` ${how.join(" ")}` : ""}: a digest mismatch is still exit 9 and says so, the bytes kept in the part file`, async () => {
      const srv = startScriptedServer({
        feat: ["SIZE", "REST STREAM", "HASH SHA-256*"],
        on: {
          SIZE: (c) => c.reply(213, "10"),
          REST: (c) => c.reply(350, "ok"),
          // Not the digest of 0123456789.
          HASH: (c, arg) => c.reply(213, `SHA-256 0-10 ${"0".repeat(64)} ${arg}`),
          RETR: sendsFile(Buffer.from("0123456789")),
        },
      });
      owned.later(() => srv.stop());
      const work = owned.workDir();
      mkdirSync(join(work, "f.ftpkit-corrupt", "inner"), { recursive: true });
      const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${srv.port}/f`, "f", "--retries", "0", ...how], { cwd: work });
      const part = join(work, "f.ftpkit-part");
      // Before: "EISDIR: illegal operation on a directory, rename …" and exit 3, not a word of the mismatch.
      expect(r.stderr).toContain(`sha256 mismatch: received 84d89877f0d4041efb6bf91a16f0248f2fd573e6af05c19f96bedb9f882f7882, the server reports ${"0".repeat(64)}; the bad download is kept in ${part} (not in ${join(work, "f.ftpkit-corrupt")}: a directory stands there)`);
      expect(r.code).toBe(9);
      expect(readFileSync(part, "utf8")).toBe("0123456789");
      expect(existsSync(join(work, "f.ftpkit-corrupt", "inner"))).toBe(true);
      expect(existsSync(join(work, "f"))).toBe(false);
    });
  }
});
