// `ftpkit test`: the conformance probe, run as a user would (the CLI, --json and text) against ftpkit,
// pyftpdlib and vsftpd on loopback.
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startServer, type ProbeReport, type RunningServer } from "../../cli/api.ts";
import { removeDir, runFtpkit, spawnFtpkit, startPyftpd, tempDir, waitFor, type Peer } from "../helpers/peers.ts";
import { PROBE_PASS, PROBE_USER, vsftpdTarget, type PeerTarget } from "../../bench/probe-peers.ts";
import { startFakeServer } from "../client/fake-server.ts";

const CERT = readFileSync(join(import.meta.dir, "../../fixtures/tls/cert.pem"), "utf8");
const KEY = readFileSync(join(import.meta.dir, "../../fixtures/tls/key.pem"), "utf8");

let stops: Array<() => Promise<void>> = [];
let dirs: string[] = [];

afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
  for (const d of dirs.splice(0)) removeDir(d);
});

function work(prefix = "ftpkit-probe-test-"): string {
  const d = tempDir(prefix);
  dirs.push(d);
  return d;
}

async function ftpkit(opts: Parameters<typeof startServer>[0]): Promise<RunningServer> {
  const s = await startServer(opts);
  stops.push(() => s.close());
  return s;
}

/** Run `ftpkit test ARGS --json` from an empty directory; that directory must stay empty. */
async function probe(args: string[]): Promise<{ code: number; report: ProbeReport; stderr: string }> {
  const cwd = work("ftpkit-probe-cwd-");
  const r = await runFtpkit(["test", ...args, "--json"], { cwd, timeoutMs: 120_000 });
  expect(readdirSync(cwd)).toEqual([]);
  let report: ProbeReport;
  try {
    report = JSON.parse(r.stdout) as ProbeReport;
  } catch {
    throw new Error(`not JSON (exit ${r.code}): ${r.stdout}\n${r.stderr}`);
  }
  return { code: r.code, report, stderr: r.stderr };
}

function status(report: ProbeReport): Record<string, string> {
  return Object.fromEntries(report.items.map((i) => [i.id, i.status]));
}

function reason(report: ProbeReport, id: string): string {
  return report.items.find((i) => i.id === id)?.reason ?? "";
}

const REQUIRED = ["greeting", "login", "pwd", "passive", "stor", "list", "retr"];

describe("ftpkit test against ftpkit", () => {
  test("a writable account: every required item passes, hostile inputs are refused, and nothing is left behind", async () => {
    const root = work();
    const server = await ftpkit({ root, users: [{ name: "me", password: "pw" }], write: true });
    const { code, report } = await probe([`127.0.0.1:${server.port}`, "--user", "me", "--password", "pw"]);
    const s = status(report);
    expect(code).toBe(0);
    expect(report.requiredFailed).toBe(0);
    for (const id of REQUIRED) expect(s[id]).toBe("pass");
    expect(report.items.filter((i) => i.required).map((i) => i.id).sort()).toEqual([...REQUIRED].sort());
    for (const id of ["epsv", "pasv", "eprt", "size-mdtm", "mlsx", "rest", "appe", "rename", "hash", "xdigests", "utf8", "stat", "long-line", "port-bounce", "pasv-theft"]) {
      expect(`${id}: ${s[id]}`).toBe(`${id}: pass`);
    }
    expect(reason(report, "port-bounce")).toContain("127.0.0.2");
    expect(reason(report, "pasv-theft")).toContain("from 127.0.0.2 got nothing");
    expect(s.tls).toBe("n/a"); // no certificate configured
    expect(report.scratch.removed).toBe(true);
    expect(report.scratch.path).toMatch(/^\/ftpkit-probe-[0-9a-f]{8}$/);
    expect(readdirSync(root)).toEqual([]);
  }, 60_000);

  for (const twice of [false, true]) {
    const title = twice
      ? "Ctrl-C in the middle, twice (as GNU timeout's TERM reaches the child and its group): exits 130 and says what became of the scratch directory"
      : "Ctrl-C in the middle still removes the scratch directory, and exits 130";
    test(title, async () => {
      const root = work();
      const server = await ftpkit({ root, users: [{ name: "me", password: "pw" }], write: true });
      const proc = spawnFtpkit(["test", `127.0.0.1:${server.port}`, "--user", "me", "--password", "pw"], { cwd: work("ftpkit-probe-cwd-") });
      const stderr = new Response(proc.stderr).text();
      try {
        await waitFor(() => readdirSync(root).some((n) => n.startsWith("ftpkit-probe-")), 30_000, "the scratch directory");
        proc.kill("SIGINT");
        // Before: the second one killed it at once, silently, the directory left on the server.
        if (twice) proc.kill("SIGINT");
        expect(await proc.exited).toBe(130);
      } finally {
        proc.kill(9);
      }
      if (!twice) {
        expect(await stderr).toContain("interrupted: removed the scratch directory");
        expect(readdirSync(root)).toEqual([]);
        return;
      }
      // Before: killed by the second signal, silently, the directory left behind with no line.
      expect(await stderr).toMatch(/^interrupted: (removed the scratch directory \/ftpkit-probe-|the scratch directory \/ftpkit-probe-\S+ is left on the server; remove it by hand)/m);
    }, 60_000);
  }

  test("the server gone after the required items passed: the scratch directory left on it is said, and the exit status is 1", async () => {
    const root = work();
    const server = await startServer({ root, users: [{ name: "me", password: "pw" }], write: true });
    let closed: Promise<void> | null = null;
    stops.push(() => closed ?? server.close());
    const cwd = work("ftpkit-probe-cwd-");
    const proc = spawnFtpkit(["test", `127.0.0.1:${server.port}`, "--user", "me", "--password", "pw", "--json", "--timeout", "2"], { cwd });
    const stdout = new Response(proc.stdout).text();
    try {
      // The UTF8 item's upload comes after STOR, LIST and RETR: every required item has passed.
      const scratchDir = () => readdirSync(root).find((n) => n.startsWith("ftpkit-probe-"));
      const uploaded = () => {
        const d = scratchDir();
        return d !== undefined && readdirSync(join(root, d)).some((n) => n.startsWith("probe-"));
      };
      await waitFor(uploaded, 30_000, "the UTF8 item's upload");
      closed = server.close();
      await closed;
      expect(await proc.exited).toBe(1);
    } finally {
      proc.kill(9);
    }
    const report = JSON.parse(await stdout) as ProbeReport;
    expect(report.requiredFailed).toBe(0);
    expect(report.scratch.removed).toBe(false);
    expect(report.scratch.path).toMatch(/^\/ftpkit-probe-/);
    expect(readdirSync(root)).toContain(report.scratch.path!.slice(1));
    expect(readdirSync(cwd)).toEqual([]);
  }, 90_000);

  test("SIGTERM in the middle of a --json run prints one JSON report of the items decided so far, marked interrupted, and exits 143", async () => {
    const root = work();
    // At 32 KB/s the sample upload after the scratch directory's MKD takes 2 s: the signal comes in
    // the middle (a fast run had decided every item, 2 runs in 10). Before, the checks went on beside
    // the removal on the shared session, which waited behind the uploads past its 5 s bound: left.
    const server = await ftpkit({ root, users: [{ name: "me", password: "pw" }], write: true, maxRate: 32_768 });
    const proc = spawnFtpkit(["test", `127.0.0.1:${server.port}`, "--user", "me", "--password", "pw", "--json"], { cwd: work("ftpkit-probe-cwd-") });
    const stdout = new Response(proc.stdout).text();
    try {
      await waitFor(() => readdirSync(root).some((n) => n.startsWith("ftpkit-probe-")), 30_000, "the scratch directory");
      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(143);
    } finally {
      proc.kill(9);
    }
    const report = JSON.parse(await stdout) as ProbeReport;
    expect(report.interrupted).toBe("SIGTERM");
    expect(report.items.find((i) => i.id === "login")?.status).toBe("pass");
    expect(report.items.length).toBeLessThan(28);
    expect(report.scratch).toMatchObject({ path: expect.stringMatching(/^\/ftpkit-probe-[0-9a-f]{8}$/), removed: true });
    expect(readdirSync(root)).toEqual([]);
  }, 60_000);

  test("--timeout below 1 s is refused as its message says (exit 2)", async () => {
    const r = await runFtpkit(["test", "127.0.0.1:1", "--timeout", "0.5"], { cwd: work(), timeoutMs: 30_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--timeout must be a number of seconds from 1 to 600, got "0.5"');
  }, 30_000);

  test("Ctrl-C while the scratch directory's MKD is answered (made, its 257 on the way) still removes it", async () => {
    const fake = startFakeServer({ mkdReplyDelayMs: 3_000 });
    stops.push(async () => fake.stop());
    const proc = spawnFtpkit(["test", `127.0.0.1:${fake.port}`, "--user", "me", "--password", "pw"], { cwd: work("ftpkit-probe-cwd-") });
    const stderr = new Response(proc.stderr).text();
    try {
      await waitFor(() => fake.commands.some((c) => c.startsWith("MKD ftpkit-probe-")), 30_000, "the scratch directory's MKD");
      proc.kill("SIGINT");
      expect(await proc.exited).toBe(130);
    } finally {
      proc.kill(9);
    }
    const made = fake.commands.find((c) => c.startsWith("MKD "))!.slice(4);
    expect(await stderr).toContain(`interrupted: removed the scratch directory /${made}`);
    expect(fake.commands).toContain(`RMD /${made}`);
  }, 60_000);

  // A server that refuses PORT to another host but takes EPRT there passed: only PORT was tried.
  test("port-bounce fails for a server that guards PORT but connects where EPRT says", async () => {
    const fake = startFakeServer();
    stops.push(async () => fake.stop());
    const { report } = await probe([`127.0.0.1:${fake.port}`, "--user", "me", "--password", "pw"]);
    expect(status(report)["port-bounce"]).toBe("fail");
    expect(reason(report, "port-bounce")).toBe("EPRT to 127.0.0.2 accepted and the server connected there (bounce attack possible)");
  }, 60_000);

  test("the text report lists every item as PASS/FAIL/N/A with a reason, required ones marked", async () => {
    const server = await ftpkit({ users: [{ name: "me", password: "pw" }], write: true });
    const r = await runFtpkit(["test", `ftp://me:pw@127.0.0.1:${server.port}/`], { cwd: work(), timeoutMs: 120_000 });
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines[0]).toBe(`ftpkit test 127.0.0.1:${server.port} as me   (* = required)`);
    const items = lines.filter((l) => /^ {2}(PASS|FAIL|N\/A ) {2}/.test(l));
    expect(items.length).toBe(28);
    expect(items.filter((l) => / \* {2,}/.test(l.slice(0, 60))).length).toBe(7);
    for (const l of items) expect(l.slice(48).trim().length).toBeGreaterThan(0);
    expect(lines.at(-2)).toMatch(/^required: 7 of 7 passed · optional: \d+ passed, \d+ failed, \d+ n\/a · [\d.]+ s$/);
    expect(lines.at(-1)).toMatch(/^scratch directory \/ftpkit-probe-[0-9a-f]{8} removed$/);
  }, 60_000);

  test("a read-only account: writing items are N/A, RETR uses an existing file, nothing is written", async () => {
    const root = work();
    writeFileSync(join(root, "existing.txt"), "already here\n");
    const server = await ftpkit({ root, users: [{ name: "ro", password: "pw" }] });
    const { code, report } = await probe([`ftp://ro:pw@127.0.0.1:${server.port}`]);
    const s = status(report);
    expect(code).toBe(0);
    expect(s.stor).toBe("n/a");
    expect(reason(report, "stor")).toStartWith("no scratch directory (MKD refused: ");
    expect(s.retr).toBe("pass");
    expect(reason(report, "retr")).toContain("existing.txt");
    expect(s["size-mdtm"]).toBe("pass");
    expect(s.hash).toBe("pass");
    expect(report.scratch.path).toBeNull();
    expect(readdirSync(root)).toEqual(["existing.txt"]);
  }, 60_000);

  test("a required item that fails makes the exit status 1 (LIST without read permission)", async () => {
    const root = work();
    const server = await ftpkit({ root, users: [{ name: "wo", password: "pw", perm: "write,modify" }] });
    const { code, report } = await probe([`127.0.0.1:${server.port}`, "--user", "wo", "--password", "pw"]);
    expect(code).toBe(1);
    expect(status(report).list).toBe("fail");
    expect(report.requiredFailed).toBeGreaterThan(0);
  }, 60_000);

  test("a wrong password fails login (exit 1) and the rest is N/A", async () => {
    const server = await ftpkit({ users: [{ name: "me", password: "pw" }] });
    const { code, report } = await probe([`127.0.0.1:${server.port}`, "--user", "me", "--password", "nope"]);
    const s = status(report);
    expect(code).toBe(1);
    expect(s.greeting).toBe("pass");
    expect(s.login).toBe("fail");
    expect(reason(report, "login")).toContain("530");
    expect(s.retr).toBe("n/a");
  }, 60_000);

  test("nothing listening: the greeting fails with the reason, exit 1", async () => {
    const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = l.port;
    l.stop(true);
    const { code, report } = await probe([`127.0.0.1:${port}`]);
    expect(code).toBe(1);
    expect(status(report).greeting).toBe("fail");
    expect(reason(report, "greeting")).toContain("connection refused");
  }, 60_000);

  test("with TLS configured: AUTH TLS and session reuse pass; --tls runs everything encrypted", async () => {
    const server = await ftpkit({ users: [{ name: "me", password: "pw" }], write: true, tls: { cert: CERT, key: KEY } });
    const plain = await probe([`127.0.0.1:${server.port}`, "--user", "me", "--password", "pw"]);
    expect(status(plain.report).tls).toBe("pass");
    expect(status(plain.report)["tls-reuse"]).toBe("pass");
    const ca = join(work(), "ca.pem");
    writeFileSync(ca, CERT);
    const secure = await probe([`127.0.0.1:${server.port}`, "--user", "me", "--password", "pw", "--tls", "--ca", ca]);
    expect(secure.code).toBe(0);
    expect(secure.report.tls).toBe("explicit");
    for (const id of REQUIRED) expect(status(secure.report)[id]).toBe("pass");
    expect(status(secure.report)["pasv-theft"]).toBe("n/a");
    expect(secure.report.scratch.removed).toBe(true);
  }, 90_000);

  test("bad arguments are one clear line, exit 2", async () => {
    const r = await runFtpkit(["test", "http://x"], { cwd: work() });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("not a HOST[:PORT] or ftp:// URL");
    const t = await runFtpkit(["test", "127.0.0.1:1", "--timeout", "0"], { cwd: work() });
    expect(t.code).toBe(2);
    expect(t.stderr).toContain("--timeout must be");
    // An empty --user ran the whole probe as "" (neither a user nor anonymous, which is --user left out).
    for (const args of [["--user=", "--password="], ["--user", ""]]) {
      const e = await runFtpkit(["test", "127.0.0.1:1", ...args], { cwd: work() });
      expect([e.code, e.stderr.trim()]).toEqual([2, expect.stringContaining("--user is empty: give a user name, or leave --user out to test as anonymous")]);
      expect(e.stdout).toBe("");
    }
  }, 60_000);
});

describe("ftpkit test against other servers", () => {
  test("pyftpdlib: required items pass; no HASH; TYPE A, ABOR and STAT pass; its root is left as it was", async () => {
    const root = work();
    const peer: Peer = await startPyftpd({ root });
    stops.push(() => peer.stop());
    const { code, report } = await probe([`127.0.0.1:${peer.port}`, "--user", peer.user, "--password", peer.password]);
    const s = status(report);
    expect(code).toBe(0);
    for (const id of REQUIRED) expect(s[id]).toBe("pass");
    expect(s.hash).toBe("fail");
    expect(reason(report, "hash")).toBe("FEAT does not list HASH");
    expect(s["type-a"]).toBe("pass");
    expect(s.abor).toBe("pass");
    expect(s.stat).toBe("pass");
    expect(s["pasv-theft"]).toBe("pass");
    expect(report.scratch.removed).toBe(true);
    expect(readdirSync(root)).toEqual([]);
  }, 60_000);

  test("pyftpdlib anonymous (read-only): exit 0, STOR N/A", async () => {
    const peer: Peer = await startPyftpd({ root: work() });
    stops.push(() => peer.stop());
    const { code, report } = await probe([`127.0.0.1:${peer.port}`]);
    expect(code).toBe(0);
    expect(report.user).toBe("anonymous");
    expect(status(report).stor).toBe("n/a");
  }, 60_000);

  const vsftpdRunnable = process.getuid?.() === 0 && existsSync("/usr/sbin/vsftpd");
  test.skipIf(!vsftpdRunnable)("vsftpd: required items pass; no MLST; ABOR unanswered during an upload; idle timeout in STAT", async () => {
    const target: PeerTarget = await vsftpdTarget(work());
    stops.push(() => target.stop());
    const { code, report } = await probe([`127.0.0.1:${target.port}`, "--user", PROBE_USER, "--password", PROBE_PASS]);
    const s = status(report);
    expect(code).toBe(0);
    for (const id of REQUIRED) expect(s[id]).toBe("pass");
    expect(s.mlsx).toBe("fail");
    expect(reason(report, "mlsx")).toContain("(500)");
    expect(s.abor).toBe("fail");
    expect(s.idle).toBe("pass");
    expect(reason(report, "idle")).toContain("Session timeout in seconds is");
    expect(s["port-bounce"]).toBe("pass");
    expect(s.tls).toBe("pass");
    expect(report.scratch.removed).toBe(true);
  }, 90_000);
});
