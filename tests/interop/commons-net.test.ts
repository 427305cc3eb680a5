// Apache Commons Net (Java's FTP library, behind many Java applications) as a real peer over
// explicit FTPS. Java's JSSE pads every TLS 1.3 record with 16 bytes, so its close_notify is not the
// 19-byte record other clients end an upload with: the server must still take the upload as complete.
import { afterEach, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { tempDir, tlsOptions } from "../tls/helpers.ts";
import { run } from "./run.ts";

const JAR = "/usr/share/java/commons-net.jar"; // Debian's libcommons-net-java (.ci/run installs it)

const PROGRAM = `
import org.apache.commons.net.ftp.*;
import java.io.*;
import java.nio.file.*;
import javax.net.ssl.SSLSocket;

public class Ftps {
  static class Client extends FTPSClient {
    Client() { super("TLS", false); }
    String protocol() { return ((SSLSocket) _socket_).getSession().getProtocol(); }
  }
  public static void main(String[] a) throws Exception {
    Client f = new Client();
    f.setTrustManager(org.apache.commons.net.util.TrustManagerUtils.getAcceptAllTrustManager());
    f.setDefaultTimeout(10000);
    f.connect("127.0.0.1", Integer.parseInt(a[0]));
    f.login("alice", "alice-pw");
    f.execPBSZ(0);
    f.execPROT("P");
    f.enterLocalPassiveMode();
    f.setFileType(FTP.BINARY_FILE_TYPE);
    System.out.println("protocol " + f.protocol());
    byte[] data = Files.readAllBytes(Paths.get(a[1]));
    f.storeFile("up.bin", new ByteArrayInputStream(data));
    System.out.println("stor " + f.getReplyString().trim());
    f.appendFile("up.bin", new ByteArrayInputStream(data, 0, 1000));
    System.out.println("appe " + f.getReplyString().trim());
    ByteArrayOutputStream back = new ByteArrayOutputStream();
    f.retrieveFile("up.bin", back);
    System.out.println("retr " + f.getReplyString().trim() + " " + back.size());
    f.logout();
    f.disconnect();
  }
}
`;

let srv: TestServer | null = null;
let work: string | null = null;

afterEach(async () => {
  await srv?.stop();
  srv = null;
  if (work) rmSync(work, { recursive: true, force: true });
  work = null;
});

describe("Apache Commons Net FTPSClient", () => {
  test("PROT P uploads over TLS 1.3 (storeFile, appendFile) complete with 226 and store every byte", async () => {
    if (!existsSync(JAR) || !Bun.which("javac")) throw new Error(`needs Java and ${JAR}: apt-get install default-jdk-headless libcommons-net-java (.ci/run does)`);
    srv = await startTestServer({ options: { tls: tlsOptions() } });
    work = tempDir();
    writeFileSync(join(work, "Ftps.java"), PROGRAM);
    const bytes = randomBytes(300_000);
    writeFileSync(join(work, "up.bin"), bytes);
    // Java 11+ runs a single source file directly (compiled in memory).
    const r = await run(["java", "-cp", JAR, join(work, "Ftps.java"), String(srv.port), join(work, "up.bin")], { cwd: work, timeoutMs: 60_000 });
    if (r.code !== 0) throw new Error(`java failed (${r.code}): ${r.stderr.slice(-800)}`);
    const out = r.stdout.trim().split("\n");
    expect(out[0]).toBe("protocol TLSv1.3");
    expect(out[1]).toStartWith("stor 226");
    expect(out[2]).toStartWith("appe 226");
    expect(out[3]).toMatch(/^retr 226 .* 301000$/);
    expect(readFileSync(join(srv.home("alice"), "up.bin"))).toEqual(Buffer.concat([bytes, bytes.subarray(0, 1000)]));
  }, 90_000);
});

// FTPClient's control keep-alive (setControlKeepAliveTimeout): during a transfer it sends NOOP once
// the control connection was idle that long and waits up to the reply timeout (1 s) for the answer,
// at each block it copies. A server that answers only after the transfer made this upload crawl at
// one 1 KB block per second (measured: 2 MB not done after 100 s); ProFTPD answers during uploads.
const KEEP_ALIVE = `
import org.apache.commons.net.ftp.*;
import java.io.*;
import java.time.Duration;

public class KeepAlive {
  public static void main(String[] a) throws Exception {
    FTPClient f = new FTPClient();
    f.setDefaultTimeout(10000);
    f.setControlKeepAliveTimeout(Duration.ofSeconds(1));
    f.setControlKeepAliveReplyTimeout(Duration.ofSeconds(1));
    f.connect("127.0.0.1", Integer.parseInt(a[0]));
    f.login("alice", "alice-pw");
    f.enterLocalPassiveMode();
    f.setFileType(FTP.BINARY_FILE_TYPE);
    // 600 blocks of 1 KB, 5 ms apart: the upload lasts about 3 s, long enough for keep-alives.
    InputStream slow = new InputStream() {
      int left = 600 * 1024;
      public int read() { return left-- > 0 ? 'x' : -1; }
      public int read(byte[] b, int off, int len) {
        if (left <= 0) return -1;
        try { Thread.sleep(5); } catch (InterruptedException e) {}
        int n = Math.min(Math.min(len, 1024), left);
        java.util.Arrays.fill(b, off, off + n, (byte) 'x');
        left -= n;
        return n;
      }
    };
    boolean ok = f.storeFile("kept.bin", slow);
    int[] csl = f.getCslDebug();
    System.out.println("stor " + ok + " " + f.getReplyString().trim());
    System.out.println("acked " + csl[0] + " unanswered " + csl[1]);
    System.out.println("size " + f.getSize("kept.bin"));
    f.logout();
    f.disconnect();
  }
}
`;

describe("Apache Commons Net FTPClient with control keep-alive", () => {
  test("keep-alive NOOPs during an upload are answered at once: the upload runs at its own pace and replies stay in step", async () => {
    if (!existsSync(JAR) || !Bun.which("javac")) throw new Error(`needs Java and ${JAR}: apt-get install default-jdk-headless libcommons-net-java (.ci/run does)`);
    srv = await startTestServer();
    work = tempDir();
    writeFileSync(join(work, "KeepAlive.java"), KEEP_ALIVE);
    const r = await run(["java", "-cp", JAR, join(work, "KeepAlive.java"), String(srv.port)], { cwd: work, timeoutMs: 45_000 });
    if (r.code !== 0) throw new Error(`java failed (${r.code}): ${r.stderr.slice(-800)}`);
    const out = r.stdout.trim().split("\n");
    expect(out[0]).toStartWith("stor true 2");
    const [, acked, unanswered] = /^acked (\d+) unanswered (\d+)$/.exec(out[1]!)!.map(Number);
    expect(acked).toBeGreaterThan(0);
    expect(unanswered).toBe(0);
    expect(out[2]).toBe("size 614400");
    expect(readFileSync(join(srv.home("alice"), "kept.bin")).length).toBe(614_400);
  }, 90_000);
});

