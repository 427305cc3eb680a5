// --xferlog: one wu-ftpd line per file transfer, read back field by field; reopened on reload (log rotation).
import { afterEach, expect, test } from "bun:test";
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseEpsvReply } from "../../protocol/address.ts";
import { useServers } from "../helpers/server.ts";
import { tempDir } from "../tls/helpers.ts";
import { scrape, until } from "./helpers.ts";

const servers = useServers();
let work = "";
afterEach(() => {
  if (work) rmSync(work, { recursive: true, force: true });
  work = "";
});

interface XferLine {
  date: Date;
  seconds: number;
  host: string;
  bytes: number;
  file: string;
  type: string;
  action: string;
  direction: string;
  access: string;
  user: string;
  service: string;
  authMethod: string;
  authUser: string;
  status: string;
}

/** Parse one line the way xferlog analyzers do: whitespace-separated, the first five tokens are the date. */
function parseLine(line: string): XferLine {
  const t = line.split(/\s+/);
  expect(t).toHaveLength(18);
  const [dow, mon, day, time, year] = t as [string, string, string, string, string];
  expect(dow).toMatch(/^(Sun|Mon|Tue|Wed|Thu|Fri|Sat)$/);
  return {
    date: new Date(`${mon} ${day} ${year} ${time}`),
    seconds: Number(t[5]),
    host: t[6]!,
    bytes: Number(t[7]),
    file: t[8]!,
    type: t[9]!,
    action: t[10]!,
    direction: t[11]!,
    access: t[12]!,
    user: t[13]!,
    service: t[14]!,
    authMethod: t[15]!,
    authUser: t[16]!,
    status: t[17]!,
  };
}

const lines = (file: string) => (existsSync(file) ? readFileSync(file, "utf8").split("\n").filter(Boolean) : []);

test("uploads, downloads, an aborted download and an anonymous download (logged under the ident its password gave, as vsftpd), each one line, field by field", async () => {
  work = tempDir();
  const log = join(work, "xferlog");
  const started = Date.now();
  // alice, and an anonymous account whose home is the fixtures' anon tree (relative homes resolve in the temp root)
  await servers.start({
    options: { maxRate: 150_000, ops: { xferlog: log } },
    users: [
      { name: "alice", password: "alice-pw" },
      { name: "anonymous", home: "home/anon" },
    ],
    setup: (root) => writeFileSync(join(root, "home/alice/slow.bin"), Buffer.alloc(600_000, 3)),
  });

  const w = await servers.login();
  await w.cmd("TYPE I");
  const payload = Buffer.alloc(70_000, 9);
  expect((await w.transfer("STOR my upload.bin", payload)).final?.code).toBe(226);
  expect((await w.transfer("RETR my upload.bin")).data.length).toBe(payload.length);
  // A download cut short with ABOR.
  const port = parseEpsvReply((await w.cmd("EPSV")).lines[0]!);
  let received = 0;
  const data = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data: (_s, c) => void (received += c.length) } });
  expect((await w.cmd("RETR slow.bin")).code).toBe(150);
  await until(() => received > 0, 10_000, "the first bytes");
  const abor = await w.cmd("ABOR");
  expect([426, 225, 226]).toContain(abor.code);
  if (abor.code === 426) expect((await w.read())?.code).toBe(226);
  data.end();
  const anon = await servers.login("anonymous", "guest@example.com");
  await anon.cmd("TYPE A");
  const anonFile = (await anon.transfer("NLST")).data.toString().split("\r\n").filter(Boolean)[0]!;
  expect((await anon.transfer(`RETR ${anonFile}`)).final?.code).toBe(226);

  await until(() => lines(log).length === 4, 10_000, "four xferlog lines");
  const [up, down, aborted, anonDown] = lines(log).map(parseLine) as [XferLine, XferLine, XferLine, XferLine];
  for (const l of [up, down, aborted, anonDown]) {
    expect(Math.abs(l.date.getTime() - started)).toBeLessThan(60_000); // local time, as wu-ftpd
    expect(l.seconds).toBeGreaterThanOrEqual(1);
    expect(l.host).toBe("127.0.0.1");
    expect(l.action).toBe("_");
    expect(l.service).toBe("ftp");
    expect(l.authMethod).toBe("0");
    expect(l.authUser).toBe("*");
  }
  expect(up).toMatchObject({ bytes: payload.length, file: "/my_upload.bin", type: "b", direction: "i", access: "r", user: "alice", status: "c" });
  expect(down).toMatchObject({ bytes: payload.length, file: "/my_upload.bin", type: "b", direction: "o", access: "r", user: "alice", status: "c" });
  expect(aborted).toMatchObject({ file: "/slow.bin", direction: "o", status: "i" });
  expect(aborted.bytes).toBeGreaterThan(0);
  expect(aborted.bytes).toBeLessThan(600_000);
  expect(anonDown).toMatchObject({ file: `/${anonFile.replace(/\s/g, "_")}`, type: "a", direction: "o", access: "a", user: "guest@example.com", status: "c" });
}, 30_000);

test("a reload reopens the file, so a rotated log continues in a fresh file", async () => {
  work = tempDir();
  const log = join(work, "xferlog");
  const ts = await servers.start({ options: { ops: { xferlog: log } } });
  const w = await servers.login();
  expect((await w.transfer("STOR one.txt", Buffer.from("1"))).final?.code).toBe(226);
  await until(() => lines(log).length === 1, 10_000, "the first line");
  renameSync(log, `${log}.1`); // what logrotate does before sending SIGHUP
  await ts.server.reload();
  expect((await w.transfer("STOR two.txt", Buffer.from("22"))).final?.code).toBe(226);
  await until(() => lines(log).length === 1, 10_000, "a line in the new file");
  expect(parseLine(lines(log)[0]!).file).toBe("/two.txt");
  expect(lines(`${log}.1`).map((l) => parseLine(l).file)).toEqual(["/one.txt"]);
});

test("STOU is an upload like STOR: its xferlog line says in (i), its upload hook runs with the name chosen, its bytes count as in", async () => {
  work = tempDir();
  const log = join(work, "xferlog");
  const posts: Array<Record<string, unknown>> = [];
  const http = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      posts.push((await req.json()) as Record<string, unknown>);
      return new Response("ok");
    },
  });
  try {
    const ts = await servers.start({ options: { ops: { xferlog: log, metrics: { host: "127.0.0.1", port: 0 }, hooks: [{ event: "upload", command: `http://127.0.0.1:${http.port}/ftp-event` }] } } });
    const w = await servers.login();
    await w.cmd("TYPE I");
    const payload = Buffer.alloc(50_000, 7);
    const r = await w.transfer("STOU", payload);
    expect(r.first.lines[0]).toBe("FILE: STOU.1");
    expect(r.final?.code).toBe(226);
    await until(() => lines(log).length === 1 && posts.length === 1, 10_000, "the xferlog line and the upload hook");
    expect(parseLine(lines(log)[0]!)).toMatchObject({ bytes: payload.length, file: "/STOU.1", direction: "i", status: "c" });
    expect(posts[0]).toMatchObject({ event: "upload", path: "/STOU.1", bytes: payload.length, result: "ok" });
    const m = await scrape(ts.server.ops.metricsPort!);
    expect(m.get('ftpkit_transfer_bytes_total{direction="in"}')).toBe(payload.length);
    expect(m.get('ftpkit_transfer_bytes_total{direction="out"}') ?? 0).toBe(0);
    expect(m.get('ftpkit_transfers_total{verb="STOU",result="ok"}')).toBe(1);
  } finally {
    http.stop(true);
  }
}, 30_000);
