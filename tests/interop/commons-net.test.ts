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
