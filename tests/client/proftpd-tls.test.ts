// The client over explicit FTPS against ProFTPD's mod_tls (TLSRequired on): every data connection
// must resume the control connection's TLS session (mod_tls refuses one that does not, by default),
// transfers are verified by mod_digest's HASH, and a login in clear text is refused with its 550.
import { afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { digest, randomFile, removeDir, runFtpkit, tempDir, TLS_CERT, TLS_KEY } from "../helpers/peers.ts";
import { chownTo, proftpdHasTls, startProftpd } from "../helpers/system-ftpd.ts";

setDefaultTimeout(60_000);

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const missing = !proftpdHasTls() ? "ProFTPD with mod_tls is not installed (proftpd-core and proftpd-mod-crypto, unpacked under /opt/proftpd by .ci/run)" : process.getuid?.() !== 0 ? "ProFTPD needs root to switch to its user" : null;
if (missing) test.skip(`ProFTPD TLS tests skipped: ${missing}`, () => {});

describe.skipIf(missing !== null)("explicit FTPS against ProFTPD (TLSRequired, session reuse required)", () => {
  test("get, put, get -r and --segments over --tls --ca: verified by HASH, each data connection resuming the session", async () => {
    const pro = await startProftpd({ tls: { cert: TLS_CERT, key: TLS_KEY } });
    cleanups.push(() => pro.stop());
    const work = tempDir();
    cleanups.push(() => removeDir(work));
    const tls = ["--tls", "--ca", TLS_CERT];
    const data = randomFile(join(pro.home, "big.bin"), 5 * 1024 * 1024 + 7);
    mkdirSync(join(pro.home, "t", "sub"), { recursive: true });
    writeFileSync(join(pro.home, "t", "a.txt"), "a\n");
    writeFileSync(join(pro.home, "t", "sub", "b.txt"), "b\n");
    chownTo(pro.home, "nobody");
    const get = await runFtpkit(["get", pro.url("big.bin"), ...tls], { cwd: work });
    expect(get.stderr).toContain(`sha256 ${digest(data)} (verified by HASH)`);
    expect(get.code).toBe(0);
    const seg = await runFtpkit(["get", pro.url("big.bin"), "seg.bin", "--segments", "3", ...tls], { cwd: work });
    expect(seg.code).toBe(0);
    expect(digest(readFileSync(join(work, "seg.bin")))).toBe(digest(data));
    const put = await runFtpkit(["put", "seg.bin", pro.url("up.bin"), ...tls], { cwd: work });
    expect(put.stderr).toContain("(verified by HASH)");
    expect(put.code).toBe(0);
    expect(digest(readFileSync(join(pro.home, "up.bin")))).toBe(digest(data));
    const tree = await runFtpkit(["get", "-r", pro.url("t"), "t", "--parallel", "2", ...tls], { cwd: work });
    expect(tree.code).toBe(0);
    expect(tree.stderr).toContain("2 copied (2 verified by digest)");
    expect(readFileSync(join(work, "t", "sub", "b.txt"), "utf8")).toBe("b\n");
    // mod_tls logs each data connection; every one resumed the control connection's session.
    const log = readFileSync(join(pro.home, "..", "tls.log"), "utf8");
    expect(log).toContain("client reused TLS session for data connection");
    expect(log).not.toContain("did not reuse");
  });

  test("a login in clear text is refused at once, and the line says to use --tls", async () => {
    const pro = await startProftpd({ tls: { cert: TLS_CERT, key: TLS_KEY } });
    cleanups.push(() => pro.stop());
    const work = tempDir();
    cleanups.push(() => removeDir(work));
    const r = await runFtpkit(["ls", pro.url("")], { cwd: work });
    expect(r.stderr).toContain("the server wants an encrypted session: use --tls");
    expect(r.code).toBe(6);
  });
});
