// --log-format json: stdout is one JSON object per line, one per session start, login, transfer
// and failure; secrets never appear.
import { afterEach, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { waitFor } from "../helpers/peers.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { spawnServe, type ServeProcess } from "../helpers/serve-proc.ts";
import { Wire } from "../helpers/wire.ts";
import { parseEpsvReply } from "../../protocol/address.ts";
import { CERT, KEY, captureLogger } from "../tls/helpers.ts";

let ts: TestServer | null = null;
let serve: ServeProcess | null = null;
const wires: Wire[] = [];

afterEach(async () => {
  for (const w of wires.splice(0)) w.close();
  await serve?.kill();
  serve = null;
  await ts?.stop();
  ts = null;
});

type Rec = Record<string, unknown> & { event: string; level: string; time: string };

function records(stdout: string): Rec[] {
  return stdout
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as Rec);
}

async function start(extra: string[] = []): Promise<ServeProcess> {
  // Only the users file and homes of the test server are used; its in-process listener is closed.
  ts = await startTestServer({ setup: (root) => writeFileSync(join(root, "home/alice/data.bin"), new Uint8Array(5000).fill(7)) });
  await ts.server.close(0);
  serve = await spawnServe(["--users", ts.usersFile, "--log-format", "json", ...extra], { cwd: ts.root });
  return serve;
}

async function session(port: number): Promise<Wire> {
  const w = await Wire.connect(port);
  wires.push(w);
  return w;
}

test("every stdout line is a JSON object with time, level and event", async () => {
  const s = await start();
  const w = await session(s.port);
  await w.login("alice", "alice-pw");
  await w.cmd("QUIT");
  await waitFor(() => s.stdout().includes('"session end"'), 5000, "session end");
  const lines = s.stdout().split("\n").filter((l) => l.trim() !== "");
  expect(lines.length).toBeGreaterThan(2);
  for (const l of lines) {
    const r = JSON.parse(l) as Rec;
    expect(typeof r.time).toBe("string");
    expect(Number.isNaN(Date.parse(r.time))).toBe(false);
    expect(["info", "warn", "error"]).toContain(r.level);
    expect(typeof r.event).toBe("string");
  }
  expect(records(s.stdout()).find((r) => r.event === "listening")?.port).toBe(s.port);
}, 30_000);

test("one line each for session start, login, transfer and session end", async () => {
  const s = await start();
  const w = await session(s.port);
  await w.login("alice", "alice-pw");
  await w.cmd("TYPE I");
  const { final } = await w.transfer("RETR data.bin");
  expect(final?.code).toBe(226);
  const up = await w.transfer("STOR up.txt", new TextEncoder().encode("hello"));
  expect(up.final?.code).toBe(226);
  await w.cmd("QUIT");
  await waitFor(() => s.stdout().includes('"session end"'), 5000, "session end");
  const recs = records(s.stdout());
  const starts = recs.filter((r) => r.event === "session start");
  expect(starts.length).toBe(1);
  expect(starts[0]!.ip).toBe("127.0.0.1");
  const id = starts[0]!.session;
  const logins = recs.filter((r) => r.event === "login");
  expect(logins.length).toBe(1);
  expect(logins[0]).toMatchObject({ session: id, user: "alice", ip: "127.0.0.1" });
  const transfers = recs.filter((r) => r.event === "transfer");
  expect(transfers.length).toBe(2);
  expect(transfers[0]).toMatchObject({ session: id, user: "alice", verb: "RETR", path: "/data.bin", bytes: 5000, result: "ok" });
  expect(transfers[1]).toMatchObject({ verb: "STOR", path: "/up.txt", bytes: 5, result: "ok" });
  for (const t of transfers) expect(typeof t.ms).toBe("number");
  expect(recs.filter((r) => r.event === "session end").length).toBe(1);
  // No password, plain or hashed, ever reaches the log.
  expect(s.stdout()).not.toContain("alice-pw");
  expect(s.stdout()).not.toContain("argon2");
}, 30_000);

// Reported: a client that hung up mid-RETR had its session end logged before its transfer line
// (the transfer writes it once its resources are disposed), and log tools that close a session's
// record at its end dropped or misfiled the transfer.
test("a client that hangs up mid-download: its transfer line comes before its session end", async () => {
  const logger = captureLogger();
  ts = await startTestServer({
    options: { logger, maxRate: 200_000 },
    setup: (root) => writeFileSync(join(root, "home/alice/big.bin"), new Uint8Array(4_000_000).fill(7)),
  });
  const w = await session(ts.port);
  await w.login("alice", "alice-pw");
  await w.cmd("TYPE I");
  const dataPort = parseEpsvReply((await w.cmd("EPSV")).lines[0]!);
  let received = 0;
  const data = await Bun.connect({ hostname: "127.0.0.1", port: dataPort, socket: { data: (_s, c) => void (received += c.length) } });
  try {
    expect((await w.cmd("RETR big.bin")).code).toBe(150);
    await waitFor(() => received > 50_000, 10_000, "the first bytes");
    w.close(); // no QUIT, no ABOR: the control connection goes mid-transfer
    const of = (event: string) => logger.events.findIndex((e) => e.event === event);
    await waitFor(() => of("transfer") >= 0 && of("session end") >= 0, 10_000, "both lines");
    expect(logger.events[of("transfer")]!.fields).toMatchObject({ verb: "RETR", path: "/big.bin", result: "aborted" });
    expect(logger.events.map((e) => e.event).filter((e) => e === "transfer" || e === "session end")).toEqual(["transfer", "session end"]);
  } finally {
    data.end();
  }
}, 30_000);

test("failures are logged: failed login, refused bounce, failed transfer", async () => {
  const s = await start();
  const bad = await session(s.port);
  expect((await bad.login("alice", "not-her-password")).code).toBe(530);
  const w = await session(s.port);
  await w.login("alice", "alice-pw");
  expect((await w.cmd("EPRT |1|10.0.0.1|2000|")).code).toBe(501);
  // A download of a missing file is refused before any data connection is used.
  await w.cmd("TYPE I");
  const r = await w.transfer("RETR no-such-file");
  expect(r.first.code).toBe(550);
  await waitFor(() => s.stdout().includes("bounce"), 5000, "bounce log line");
  const recs = records(s.stdout());
  const failed = recs.find((r) => r.event === "login failed");
  expect(failed).toMatchObject({ level: "warn", user: "alice", ip: "127.0.0.1" });
  expect(s.stdout()).not.toContain("not-her-password");
  const bounce = recs.find((r) => String(r.event).includes("bounce"));
  expect(bounce).toMatchObject({ level: "warn", target: "10.0.0.1:2000" });
}, 30_000);

test("a password typed into USER (name:password, name password) is not logged: the name up to where no account name goes, then ***", async () => {
  const s = await start();
  for (const user of ["alice:S3cretOne", "alice S3cretTwo", "bob@S3cretThree"]) {
    const w = await session(s.port);
    expect((await w.login(user, "x")).code).toBe(530);
  }
  await waitFor(() => records(s.stdout()).filter((r) => r.event === "login failed").length === 3, 5000, "three failed logins");
  expect(records(s.stdout()).filter((r) => r.event === "login failed").map((r) => r.user)).toEqual(["alice:***", "alice ***", "bob@***"]);
  // Before: user=alice:S3cretOne in the log (and FTPKIT_USER of the login-failed hook).
  expect(s.stdout()).not.toContain("S3cret");
}, 30_000);

test("with FTPS, the start-up lines are JSON records too (not consola text among them)", async () => {
  const s = await start(["--tls-cert", CERT, "--tls-key", KEY, "--implicit-tls-port", "0", "--require-tls"]);
  await waitFor(() => s.stdout().includes('"event":"ftps"'), 5000, "ftps record");
  const lines = s.stdout().split("\n").filter((l) => l.trim() !== "");
  for (const l of lines) expect(l).toStartWith('{"time":');
  const ftps = records(s.stdout()).find((r) => r.event === "ftps");
  expect(ftps).toMatchObject({ level: "info", port: s.port, required: true, sessionReuse: "preferred" });
  expect(ftps!.implicitPort).toBeGreaterThan(0);
  expect(String(ftps!.certificate)).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  // Only one "listening" record: the control port's.
  expect(records(s.stdout()).filter((r) => r.event === "listening").map((r) => r.port)).toEqual([s.port]);
}, 30_000);

test("text log: a users-file warning naming a home with a line break is one line, the break escaped", async () => {
  ts = await startTestServer();
  const forged = "2026-01-01T00:00:00.000Z INFO  login session=9 user=root";
  // Stored as `ftpkit user add --home` stores it: JSON-quoted, the line break as \n.
  writeFileSync(join(ts.root, "odd.ini"), `[eve]\nhome = ${JSON.stringify(join(ts.root, `nothere\n${forged}`))}\n`);
  serve = await spawnServe(["--users", join(ts.root, "odd.ini")], { cwd: ts.root });
  await waitFor(() => /eve's home/.test(serve!.stdout()), 10_000, "the missing-home warning");
  const lines = serve.stdout().split("\n");
  expect(lines.filter((l) => l.includes("eve's home"))).toEqual([expect.stringContaining(`nothere\\x0a${forged} does not exist`)]);
  expect(lines.some((l) => l.startsWith(forged))).toBe(false);
}, 30_000);
