// SIGHUP on `ftpkit serve`: banners, users file and certificate are read again; sessions stay up.
import { afterEach, expect, test } from "bun:test";
import { copyFileSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { X509Certificate } from "node:crypto";
import { join } from "node:path";
import { spawnServe, type ServeProcess } from "../helpers/serve-proc.ts";
import { makeUsersFile } from "../helpers/users.ts";
import { Wire } from "../helpers/wire.ts";
import { CERT, KEY, OTHER_CERT, OTHER_KEY, tempDir } from "../tls/helpers.ts";
import { scrape, until } from "./helpers.ts";

let proc: ServeProcess | null = null;
let work = "";
const wires: Wire[] = [];
afterEach(async () => {
  for (const w of wires.splice(0)) w.close();
  await proc?.kill();
  proc = null;
  if (work) rmSync(work, { recursive: true, force: true });
  work = "";
});

async function connect(port: number): Promise<Wire> {
  const w = await Wire.connect(port);
  wires.push(w);
  return w;
}

function events(p: ServeProcess, name: string): Array<Record<string, unknown>> {
  return p
    .stdout()
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((e) => e.event === name);
}

/** A server on a fresh `work` with alice, the welcome banner "Welcome v1" from a file, and a certificate of its own (copies), plus `more` flags. */
async function startReloadable(more: string[]): Promise<{ proc: ServeProcess; usersFile: string; welcome: string }> {
  work = tempDir();
  const usersFile = await makeUsersFile(work, [{ name: "alice", password: "alice-pw" }]);
  const welcome = join(work, "welcome.txt");
  writeFileSync(welcome, "Welcome v1");
  copyFileSync(CERT, join(work, "cert.pem"));
  copyFileSync(KEY, join(work, "key.pem"));
  const p = await spawnServe(["--users", usersFile, "--welcome", `@${welcome}`, "--tls-cert", join(work, "cert.pem"), "--tls-key", join(work, "key.pem"), "--log-format", "json", ...more], { cwd: work });
  return { proc: p, usersFile, welcome };
}

test("SIGHUP reloads the welcome banner, users and certificate while a logged-in session keeps working", async () => {
  const started = await startReloadable(["--metrics", "127.0.0.1:0"]);
  proc = started.proc;
  const { usersFile, welcome } = started;
  const metricsUrl = String(events(proc, "metrics listening")[0]?.url);
  expect(metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
  const metricsPort = Number(new URL(metricsUrl).port);

  const a = await connect(proc.port);
  const hello = await a.read();
  expect(hello?.lines.join(" ")).toContain("Welcome v1");
  expect((await a.cmd("USER alice")).code).toBe(331);
  expect((await a.cmd("PASS alice-pw")).code).toBe(230);

  // Change everything SIGHUP covers: the banner file, the users (bob appears), the certificate.
  writeFileSync(welcome, "Welcome v2");
  await makeUsersFile(work, [{ name: "alice", password: "alice-pw" }, { name: "bob", password: "bob-pw" }]);
  copyFileSync(OTHER_CERT, join(work, "cert.pem"));
  copyFileSync(OTHER_KEY, join(work, "key.pem"));
  process.kill(proc.proc.pid, "SIGHUP");
  await until(() => events(proc!, "reloaded").length === 1, 15_000, "the reloaded log line");
  expect(events(proc, "reloaded")[0]).toMatchObject({
    users: 2,
    usersOk: true,
    certificateOk: true,
    certificate: new X509Certificate(readFileSync(OTHER_CERT)).fingerprint256,
  });

  // The old session is still logged in and can transfer; new sessions see the new banner and users.
  expect(proc.proc.exitCode).toBeNull();
  expect((await a.cmd("PWD")).code).toBe(257);
  const listing = await a.transfer("NLST");
  expect(listing.final?.code).toBe(226);
  const b = await connect(proc.port);
  expect((await b.read())?.lines.join(" ")).toContain("Welcome v2");
  expect((await b.cmd("USER bob")).code).toBe(331);
  expect((await b.cmd("PASS bob-pw")).code).toBe(230);

  // A broken users file on SIGHUP: reported, and the users loaded before keep working.
  writeFileSync(usersFile, "[broken\npassword = \n");
  process.kill(proc.proc.pid, "SIGHUP");
  await until(() => events(proc!, "reloaded").length === 2, 15_000, "the second reloaded log line");
  expect(events(proc, "reloaded")[1]).toMatchObject({ users: 2, usersOk: false });
  const c = await connect(proc.port);
  expect((await c.login("alice", "alice-pw")).code).toBe(230);
  expect((await a.cmd("NOOP")).code).toBe(200);

  // Same process, same counters: the metrics saw every session.
  expect((await scrape(metricsPort)).get("ftpkit_sessions_total")).toBe(3);
}, 60_000);

test("SIGHUP with a FIFO (or /dev/zero) put in place of the banner, the certificate and the xferlog keeps the old ones and goes on serving", async () => {
  const started = await startReloadable(["--xferlog", "xferlog"]); // in the server's working directory, `work`
  proc = started.proc;
  const { welcome } = started;
  const xferlog = join(work, "xferlog");
  // Before: readFileSync on the FIFO (and the xferlog's open) waited for a writer, and the server with them.
  for (const f of [welcome, join(work, "cert.pem"), xferlog]) {
    rmSync(f);
    expect(Bun.spawnSync(["mkfifo", f]).exitCode).toBe(0);
  }
  process.kill(proc.proc.pid, "SIGHUP");
  await until(() => events(proc!, "reloaded").length === 1, 15_000, "the reloaded log line");
  const said = proc.stdout();
  expect(said).toContain('"event":"banner not reloaded"');
  expect(said).toContain('"event":"xferlog not reopened"');
  expect(events(proc, "reloaded")[0]).toMatchObject({ certificateOk: false });
  const a = await connect(proc.port);
  expect((await a.read(10_000))?.lines.join(" ")).toContain("Welcome v1");
  expect((await a.cmd("USER alice")).code).toBe(331);
  expect((await a.cmd("PASS alice-pw")).code).toBe(230);
  // /dev/zero as the banner: refused as not a regular file, not read into gigabytes.
  rmSync(welcome);
  symlinkSync("/dev/zero", welcome);
  process.kill(proc.proc.pid, "SIGHUP");
  await until(() => events(proc!, "reloaded").length === 2, 15_000, "the second reloaded log line");
  const b = await connect(proc.port);
  expect((await b.read(10_000))?.lines.join(" ")).toContain("Welcome v1");
}, 60_000);
