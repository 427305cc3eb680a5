// The certificate file's chain (leaf + intermediates): a changed chain is taken without a restart, a
// damaged one is kept out (at start-up, on change, on SIGHUP), and AUTH never answers 234 it cannot keep.
import { afterEach, expect, test } from "bun:test";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { TlsMaterial } from "../../server/tls/config.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { Wire } from "../helpers/wire.ts";
import { captureLogger, makeChain, run, tempDir, tlsOptions, type TestChain } from "./helpers.ts";

const FTPKIT = resolve(import.meta.dir, "../../cli/ftpkit.ts");
let srv: TestServer | null = null;
const dirs: string[] = [];

afterEach(async () => {
  await srv?.stop();
  srv = null;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function chain(): { d: string; c: TestChain } {
  const d = tempDir();
  dirs.push(d);
  return { d, c: makeChain(d) };
}

/** The intermediate with its base64 cut in the middle (a copy that stopped half way). */
function cutIntermediate(c: TestChain): string {
  return c.intermediate.slice(0, Math.floor(c.intermediate.length / 2)) + "\n";
}

/** curl listing alice's home, checking the server's chain against the test root. */
function curlList(c: TestChain, url: string, extra: string[] = []) {
  return run(["curl", "-sS", "--cacert", c.root, "--max-time", "10", ...extra, url]);
}

test("an intermediate added to the certificate file is sent after SIGHUP's reload, without a restart: curl checking the chain fails before (60), lists after", async () => {
  const { d, c } = chain();
  const certFile = join(d, "cert.pem");
  writeFileSync(certFile, c.leaf); // the forgotten intermediate
  const logger = captureLogger();
  srv = await startTestServer({ options: { logger, tls: tlsOptions({ certFile, keyFile: c.key, certPollMs: 60_000 }) } });
  const url = `ftp://alice:alice-pw@127.0.0.1:${srv.port}/`;
  expect((await curlList(c, url, ["--ssl-reqd"])).code).toBe(60);

  writeFileSync(certFile, c.leaf + c.intermediate);
  const report = await srv.server.reload();
  expect(report.certificateOk).toBe(true);
  // Same leaf, same fingerprint: only the chain changed, and it was taken.
  expect(logger.events.find((e) => e.event === "tls certificate reloaded")?.fields).toMatchObject({ chain: 2 });
  const r = await curlList(c, url, ["--ssl-reqd"]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  expect(r.stdout).toContain("hello.txt");
}, 30_000);

test("a certificate file whose intermediate is cut in the middle is kept out on change and on SIGHUP: the good pair keeps serving AUTH TLS and the implicit port", async () => {
  const { d, c } = chain();
  const certFile = join(d, "cert.pem");
  writeFileSync(certFile, c.leaf + c.intermediate);
  const logger = captureLogger();
  srv = await startTestServer({ options: { logger, tls: tlsOptions({ certFile, keyFile: c.key, implicitPort: 0, certPollMs: 60_000 }) } });
  const explicit = `ftp://alice:alice-pw@127.0.0.1:${srv.port}/`;
  const implicit = `ftps://alice:alice-pw@127.0.0.1:${srv.server.implicitTlsPort}/`;

  writeFileSync(certFile, c.leaf + cutIntermediate(c));
  const report = await srv.server.reload();
  expect(report.certificateOk).toBe(false);
  const warning = logger.events.find((e) => e.event === "tls certificate not reloaded");
  expect(String(warning?.fields.reason)).toBe(
    `--tls-cert ${certFile}: the TLS library cannot use it (PEM routines: BAD_END_LINE): a certificate after the first (its chain) is damaged or cut; keeping the previous certificate`,
  );
  expect(logger.events.some((e) => e.event === "tls certificate reloaded")).toBe(false);
  // Before: adopted; AUTH TLS got 234 then "451 Local error" in clear, and the implicit port reset.
  for (const [url, extra] of [[explicit, ["--ssl-reqd"]], [implicit, []]] as const) {
    const r = await curlList(c, url, [...extra]);
    expect({ url, code: r.code, stderr: r.stderr }).toEqual({ url, code: 0, stderr: "" });
    expect(r.stdout).toContain("hello.txt");
  }
}, 30_000);

test("ftpkit serve with a certificate file whose intermediate is cut: one clear start-up line and a non-zero exit", async () => {
  const { d, c } = chain();
  const certFile = join(d, "cert.pem");
  writeFileSync(certFile, c.leaf + cutIntermediate(c));
  mkdirSync(join(d, "pub"));
  const env = { ...process.env, NO_COLOR: "1" } as Record<string, string>;
  delete env.NODE_ENV;
  delete env.TEST;
  const proc = Bun.spawn(["bun", FTPKIT, "serve", "--host", "127.0.0.1", "--port", "0", "--root", join(d, "pub"), "--anonymous", "--tls-cert", certFile, "--tls-key", c.key], { stdout: "pipe", stderr: "pipe", env });
  const timer = setTimeout(() => proc.kill(9), 15_000);
  try {
    const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    await proc.exited;
    const text = (err + out).trim();
    expect(proc.exitCode).not.toBe(0);
    expect(text).toContain(`--tls-cert ${certFile}: the TLS library cannot use it (PEM routines: BAD_END_LINE): a certificate after the first (its chain) is damaged or cut`);
    expect(text.split("\n").filter((l) => l.trim()).length).toBe(1);
  } finally {
    clearTimeout(timer);
    if (proc.exitCode === null) proc.kill(9);
  }
}, 30_000);

test("AUTH TLS with a pair the TLS stack cannot use answers 431 before any 234, and the connection stays readable in clear", async () => {
  const { c } = chain();
  srv = await startTestServer({ options: { tls: tlsOptions() } });
  // Only a store that skipped the load-time check could hold such a pair: put one there by hand.
  const store = srv.server.ftps!.store!;
  (store as unknown as { material: TlsMaterial }).material = { ...store.current, cert: store.current.cert + cutIntermediate(c) };
  const w = await Wire.connect(srv.port);
  try {
    expect((await w.read())?.code).toBe(220);
    // Before: "234 AUTH TLS successful", then "451 Local error in processing" in clear.
    const auth = await w.cmd("AUTH TLS");
    expect({ code: auth?.code, text: auth?.lines.join("\n") }).toEqual({ code: 431, text: "TLS is not available: the server's certificate cannot be used" });
    expect((await w.cmd("NOOP"))?.code).toBe(200);
  } finally {
    w.close();
  }
});
