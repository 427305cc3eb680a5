// FTPS test helpers: fixture certificates, a capturing logger, bounded client processes (curl, ftplib, lftp, openssl).
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Logger, LogFields } from "../../server/log.ts";
import type { FtpsOptions } from "../../server/tls/ftps.ts";
import { TLS_KEY } from "../helpers/peers.ts";

export const TLS_FIXTURES = join(import.meta.dir, "../../fixtures/tls");
export const CERT = join(TLS_FIXTURES, "cert.pem");
export const KEY = TLS_KEY; // (peers.ts makes the fixture keys private)
export const OTHER_CERT = join(TLS_FIXTURES, "other-cert.pem");
export const OTHER_KEY = join(TLS_FIXTURES, "other-key.pem");

export function tlsOptions(extra: Partial<FtpsOptions> = {}): FtpsOptions {
  return { certFile: CERT, keyFile: KEY, ...extra };
}

/** A logger that keeps every event (the transfer line carries tls=reused|new). */
export function captureLogger(): Logger & { events: Array<{ event: string; fields: LogFields }> } {
  const events: Array<{ event: string; fields: LogFields }> = [];
  const push = (event: string, fields: LogFields = {}) => void events.push({ event, fields });
  return { events, info: push, warn: push, error: push };
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run a command with a hard deadline; the child is killed by its PID when it overruns. */
export async function run(cmd: string[], opts: { timeoutMs?: number; cwd?: string; stdin?: string } = {}): Promise<RunResult> {
  const proc = Bun.spawn(cmd, {
    cwd: opts.cwd,
    stdin: opts.stdin === undefined ? "ignore" : new Blob([opts.stdin]),
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill(9), opts.timeoutMs ?? 20_000);
  try {
    const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    await proc.exited;
    return { code: proc.exitCode, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "ftpkit-tls-"));
}

/**
 * A Python ftplib.FTP_TLS session: logs in (AUTH TLS first), optionally prot_p(), then runs
 * `steps` — ["STOR name localfile"], ["RETR name localfile"], ["CMD raw line"] — printing one JSON
 * line per step: {"step": ..., "ok": bool, "reply": "..."}.
 */
/**
 * Python lines: a TLS control session (AUTH TLS, certificate not checked) to 127.0.0.1:`port` (a
 * Python variable) under PROT P, logged in as `user`; then cmd(line) sends a line and reads one reply line.
 */
export function pythonTlsLogin(user = "alice", password = "alice-pw", more: string[] = [], timeoutSec = 10): string {
  const commands = ["PBSZ 0", "PROT P", `USER ${user}`, `PASS ${password}`, ...more].map((c) => JSON.stringify(c)).join(", ");
  return `ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = socket.create_connection(("127.0.0.1", port), timeout=${timeoutSec}); f = s.makefile("rb"); f.readline()
s.sendall(b"AUTH TLS\\r\\n"); f.readline()
t = ctx.wrap_socket(s, server_hostname="localhost"); tf = t.makefile("rb")
def cmd(c):
    t.sendall(c.encode() + b"\\r\\n"); return tf.readline().decode().strip()
for c in [${commands}]: cmd(c)`;
}

export const FTPLIB_SCRIPT = `
import ftplib, io, json, ssl, sys
port, user, password, prot = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
f = ftplib.FTP_TLS(context=ctx, timeout=10)
f.connect("127.0.0.1", port)
def out(step, ok, reply): print(json.dumps({"step": step, "ok": ok, "reply": reply}), flush=True)
try:
    out("login", True, f.login(user, password))
except ftplib.all_errors as e:
    out("login", False, str(e)); sys.exit(0)
if prot == "P": out("prot", True, f.prot_p())
for step in sys.argv[5:]:
    verb, _, rest = step.partition(" ")
    try:
        if verb == "STOR":
            name, local = rest.split(" ")
            with open(local, "rb") as fh: out(step, True, f.storbinary("STOR " + name, fh))
        elif verb == "RETR":
            name, local = rest.split(" ")
            with open(local, "wb") as fh: out(step, True, f.retrbinary("RETR " + name, fh.write))
        else:
            out(step, True, f.sendcmd(rest))
    except ftplib.all_errors as e:
        out(step, False, str(e))
try: f.quit()
except Exception: pass
`;

export async function ftplib(
  dir: string,
  port: number,
  user: string,
  password: string,
  prot: "P" | "C",
  steps: string[],
): Promise<Array<{ step: string; ok: boolean; reply: string }>> {
  const script = join(dir, "ftplib_tls.py");
  writeFileSync(script, FTPLIB_SCRIPT);
  const r = await run(["python3", script, String(port), user, password, prot, ...steps], { cwd: dir, timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`python3 failed (${r.code}): ${r.stderr.slice(-500)}`);
  return r.stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

/** SHA-256 fingerprint of the certificate a server presents after AUTH TLS (openssl s_client -starttls ftp). */
export async function serverFingerprint(port: number): Promise<string> {
  const sc = await run(["openssl", "s_client", "-starttls", "ftp", "-connect", `127.0.0.1:${port}`, "-servername", "localhost"], {
    stdin: "",
    timeoutMs: 10_000,
  });
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(sc.stdout)?.[0];
  if (!pem) throw new Error(`no certificate from s_client: ${sc.stderr.slice(-300)}`);
  const fp = await run(["openssl", "x509", "-noout", "-fingerprint", "-sha256"], { stdin: pem });
  return fp.stdout.trim().replace(/^.*=/, "");
}

/** A CA chain made with openssl in `dir`: root → intermediate → leaf (localhost, 127.0.0.1), EC keys, valid 30 days. */
export interface TestChain {
  root: string;
  /** The leaf certificate alone (PEM text). */
  leaf: string;
  /** The intermediate certificate (PEM text). */
  intermediate: string;
  /** The leaf's private key file. */
  key: string;
}

export function makeChain(dir: string): TestChain {
  const ossl = (...args: string[]) => {
    const r = Bun.spawnSync(["openssl", ...args], { cwd: dir, stdout: "ignore", stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr.toString().slice(-300)}`);
  };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  writeFileSync(join(dir, "inter.ext"), "basicConstraints=critical,CA:true,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n");
  writeFileSync(join(dir, "leaf.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
  ossl("req", "-x509", ...ec, "-keyout", "root.key", "-out", "root.pem", "-days", "30", "-subj", "/CN=ftpkit test root", "-addext", "basicConstraints=critical,CA:true", "-addext", "keyUsage=critical,keyCertSign,cRLSign");
  ossl("req", ...ec, "-keyout", "inter.key", "-out", "inter.csr", "-subj", "/CN=ftpkit test intermediate");
  ossl("x509", "-req", "-in", "inter.csr", "-CA", "root.pem", "-CAkey", "root.key", "-CAcreateserial", "-out", "inter.pem", "-days", "30", "-extfile", "inter.ext");
  ossl("req", ...ec, "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=localhost");
  ossl("x509", "-req", "-in", "leaf.csr", "-CA", "inter.pem", "-CAkey", "inter.key", "-CAcreateserial", "-out", "leaf.pem", "-days", "30", "-extfile", "leaf.ext");
  chmodSync(join(dir, "leaf.key"), 0o600);
  return { root: join(dir, "root.pem"), leaf: readFileSync(join(dir, "leaf.pem"), "utf8"), intermediate: readFileSync(join(dir, "inter.pem"), "utf8"), key: join(dir, "leaf.key") };
}
