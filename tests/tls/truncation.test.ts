// A PROT P upload is complete only when the client ends it with TLS close_notify: a bare TCP FIN
// (which someone on the path can forge) gets 426 and never replaces the old file (truncation attack).
import { afterEach, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { run, tempDir, tlsOptions } from "./helpers.ts";
import { RecordTail } from "../../protocol/tls-record-tail.ts";

let srv: TestServer | null = null;
let work: string | null = null;

afterEach(async () => {
  await srv?.stop();
  srv = null;
  if (work) rmSync(work, { recursive: true, force: true });
  work = null;
});

/** STOR `name` with `local`'s bytes over PROT P, ended with close_notify ("notify") or a bare FIN ("fin"). */
const SCRIPT = `
import ftplib, json, socket, ssl, sys
port, name, local, ending, version = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
if version == "1.2": ctx.maximum_version = ssl.TLSVersion.TLSv1_2
f = ftplib.FTP_TLS(context=ctx, timeout=10); f.connect("127.0.0.1", port); f.login("alice", "alice-pw"); f.prot_p()
f.voidcmd("TYPE I")
conn = f.transfercmd("STOR " + name)
conn.sendall(open(local, "rb").read())
if ending == "fin2":
    conn.sendall(b"ab")  # its own TLS record: 2 bytes, the size of a TLS 1.3 close_notify record
if ending == "notify":
    conn.unwrap().close()
else:
    socket.socket.shutdown(conn, socket.SHUT_WR)  # a FIN under the TLS layer: no close_notify
    conn.settimeout(5)
    try: conn.recv(1)
    except Exception: pass
    socket.socket.close(conn)
try: reply = f.voidresp()
except ftplib.all_errors as e: reply = str(e)
print(json.dumps({"reply": reply, "after": f.sendcmd("NOOP")}))
`;

async function upload(name: string, bytes: Buffer, ending: "notify" | "fin" | "fin2", version: "1.2" | "1.3") {
  work ??= tempDir();
  writeFileSync(join(work, "up.bin"), bytes);
  writeFileSync(join(work, "stor.py"), SCRIPT);
  const r = await run(["python3", join(work, "stor.py"), String(srv!.port), name, join(work, "up.bin"), ending, version], { cwd: work, timeoutMs: 20_000 });
  if (r.code !== 0) throw new Error(`python3 failed (${r.code}): ${r.stderr.slice(-500)}`);
  return JSON.parse(r.stdout.trim()) as { reply: string; after: string };
}

describe("PROT P upload endings", () => {
  for (const version of ["1.3", "1.2"] as const) {
    test(`TLS ${version}: an upload cut by a bare TCP FIN gets 426 and does not replace the old file`, async () => {
      srv = await startTestServer({ options: { tls: tlsOptions() } });
      const target = join(srv.home("alice"), "report.bin");
      const old = randomBytes(5000);
      writeFileSync(target, old);
      const out = await upload("report.bin", randomBytes(300_000), "fin", version);
      expect(out.reply).toMatch(/^426 .*close_notify/);
      expect(out.after).toMatch(/^200/); // the session goes on
      expect(readFileSync(target).equals(old)).toBe(true);
    }, 25_000);

    test(`TLS ${version}: an upload ended with close_notify is complete (226, same bytes)`, async () => {
      srv = await startTestServer({ options: { tls: tlsOptions() } });
      const target = join(srv.home("alice"), "report.bin");
      writeFileSync(target, "old");
      const bytes = randomBytes(300_000);
      const out = await upload("report.bin", bytes, "notify", version);
      expect(out.reply).toMatch(/^226/);
      expect(readFileSync(target).equals(bytes)).toBe(true);
    }, 25_000);
  }
});

test("TLS 1.3: an upload cut by a bare TCP FIN right after a 2-byte record (a close_notify's size) gets 426 and does not replace the old file", async () => {
  srv = await startTestServer({ options: { tls: tlsOptions() } });
  const target = join(srv.home("alice"), "report.bin");
  const old = randomBytes(5000);
  writeFileSync(target, old);
  const out = await upload("report.bin", randomBytes(300_000), "fin2", "1.3");
  expect(out.reply).toMatch(/^426 .*close_notify/);
  expect(readFileSync(target).equals(old)).toBe(true);
}, 25_000);

describe("--tls-upload-eof lenient (vsftpd's default, for clients that never send close_notify)", () => {
  test("an upload ended by a bare TCP FIN is taken as complete (226, the bytes stored)", async () => {
    srv = await startTestServer({ options: { tls: tlsOptions({ uploadEof: "lenient" }) } });
    const bytes = randomBytes(300_000);
    const out = await upload("report.bin", bytes, "fin", "1.3");
    expect(out.reply).toMatch(/^226/);
    expect(readFileSync(join(srv.home("alice"), "report.bin")).equals(bytes)).toBe(true);
  }, 25_000);
});

describe("RecordTail (TLS framing of what the client sent)", () => {
  const record = (type: number, length: number) => Buffer.concat([Buffer.from([type, 3, 3, length >> 8, length & 255]), Buffer.alloc(length, 7)]);
  const data = Buffer.concat([record(22, 300), record(23, 16_401), record(23, 900)]);
  const cases: Array<[string, Buffer, boolean]> = [
    ["TLS 1.3: ends on a 19-byte record (close_notify)", Buffer.concat([data, record(23, 19)]), true],
    ["TLS 1.2: ends on an alert record", Buffer.concat([data, record(21, 26)]), true],
    // Measured from Java 17's JSSE (Apache Commons Net FTPSClient.storeFile, TLS 1.3): it pads every
    // record with 16 zero bytes, so its user_canceled and close_notify are 35 bytes each.
    ["TLS 1.3 from Java (JSSE): ends on its padded alerts (35 bytes each)", Buffer.concat([record(22, 435), record(20, 1), record(23, 85), record(23, 5033), record(23, 35), record(23, 35)]), true],
    ["TLS 1.3 from Java (JSSE): ends on a data record (bare FIN)", Buffer.concat([record(22, 435), record(20, 1), record(23, 85), record(23, 5033)]), false],
    ["ends on a data record (bare FIN)", data, false],
    ["cut inside a record", Buffer.concat([data, record(23, 19)]).subarray(0, data.length + 10), false],
    ["cut inside a header", Buffer.concat([data, record(23, 19)]).subarray(0, data.length + 3), false],
    ["not TLS framing: nothing can be told, the FIN stands", Buffer.from("hello world\r\n"), true],
  ];
  // The server counts the plaintext the TLS layer delivers after each chunk (plain): a 19-byte
  // record that gave 2 bytes was data, one that gave nothing an alert.
  const counted: Array<[string, Buffer[], number[], boolean]> = [
    ["plaintext counted: data then close_notify in one chunk", [Buffer.concat([record(23, 5017), record(23, 19)])], [5000], true],
    ["plaintext counted: data then a 2-byte record in one chunk, then a FIN", [Buffer.concat([record(23, 5017), record(23, 19)])], [5002], false],
    ["plaintext counted: a 2-byte record alone in the last chunk, then a FIN", [record(23, 5017), record(23, 19)], [5000, 2], false],
    ["plaintext counted: close_notify alone in the last chunk", [record(23, 5017), record(23, 19)], [5000, 0], true],
    ["plaintext counted, Java: padded data, user_canceled and close_notify in one chunk", [Buffer.concat([record(23, 5033), record(23, 35), record(23, 35)])], [5000], true],
    ["plaintext counted, Java: padded data then a padded 2-byte record, then a FIN", [Buffer.concat([record(23, 5033), record(23, 35)])], [5002], false],
  ];
  for (const [what, chunks, plain, alert] of counted) {
    test(what, () => {
      const tail = new RecordTail();
      chunks.forEach((c, i) => {
        tail.push(c);
        if (plain[i]) tail.plain(plain[i]!);
      });
      expect(tail.endedWithAlert).toBe(alert);
    });
  }
  for (const [what, bytes, alert] of cases) {
    test(what, () => {
      for (const step of [1, 7, 4096, bytes.length]) {
        const tail = new RecordTail();
        for (let i = 0; i < bytes.length; i += step) tail.push(bytes.subarray(i, i + step));
        expect(tail.endedWithAlert).toBe(alert);
      }
    });
  }
});
