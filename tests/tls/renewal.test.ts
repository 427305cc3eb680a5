// Certificate renewal as certbot does it: live/cert.pem and live/key.pem are symlinks switched to new
// files in archive/. A replacement no client would accept (expired, not valid yet) is refused.
import { afterEach, expect, test } from "bun:test";
import { chmodSync, copyFileSync, mkdirSync, renameSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { spawnServe, type ServeProcess } from "../helpers/serve-proc.ts";
import { CERT, captureLogger, KEY, OTHER_CERT, OTHER_KEY, serverFingerprint, TLS_FIXTURES, tempDir, tlsOptions } from "./helpers.ts";

let srv: TestServer | null = null;
let serve: ServeProcess | null = null;
const dirs: string[] = [];

afterEach(async () => {
  await serve?.kill();
  serve = null;
  await srv?.stop();
  srv = null;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Point live/NAME at archive/TARGET in one rename, as certbot switches its links. */
function relink(d: string, name: string, target: string): void {
  symlinkSync(`../archive/${target}`, join(d, "live", `${name}.new`));
  renameSync(join(d, "live", `${name}.new`), join(d, "live", name));
}

async function waitFor(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(50);
  }
}

test("an expired or not-yet-valid renewal is refused with a warning saying why, and the previous certificate keeps serving, also after SIGHUP's reload; a good one is taken", async () => {
  const d = tempDir();
  dirs.push(d);
  mkdirSync(join(d, "archive"));
  mkdirSync(join(d, "live"));
  const pairs = [
    [CERT, KEY],
    [join(TLS_FIXTURES, "expired-cert.pem"), join(TLS_FIXTURES, "expired-key.pem")],
    [join(TLS_FIXTURES, "future-cert.pem"), join(TLS_FIXTURES, "future-key.pem")],
    [OTHER_CERT, OTHER_KEY],
  ] as const;
  pairs.forEach(([c, k], i) => {
    copyFileSync(c, join(d, "archive", `cert${i + 1}.pem`));
    copyFileSync(k, join(d, "archive", `privkey${i + 1}.pem`));
  });
  relink(d, "cert.pem", "cert1.pem");
  relink(d, "privkey.pem", "privkey1.pem");
  const logger = captureLogger();
  srv = await startTestServer({
    options: { logger, tls: tlsOptions({ certFile: join(d, "live/cert.pem"), keyFile: join(d, "live/privkey.pem"), certPollMs: 100 }) },
  });
  const first = await serverFingerprint(srv.port);
  const warnings = () => logger.events.filter((e) => e.event === "tls certificate not reloaded").map((e) => String(e.fields.reason));

  relink(d, "privkey.pem", "privkey2.pem");
  relink(d, "cert.pem", "cert2.pem");
  await waitFor(() => warnings().some((w) => w.includes("expired")), "the expired certificate's warning");
  expect(warnings().at(-1)).toBe(`--tls-cert ${join(d, "live/cert.pem")}: the certificate expired on Feb  1 00:00:00 2020 GMT; keeping the previous certificate`);
  expect(await serverFingerprint(srv.port)).toBe(first);
  const report = await srv.server.reload();
  expect(report.certificateOk).toBe(false);
  expect(report.certificate).toBe(first);
  expect(await serverFingerprint(srv.port)).toBe(first);

  relink(d, "privkey.pem", "privkey3.pem");
  relink(d, "cert.pem", "cert3.pem");
  await waitFor(() => warnings().some((w) => w.includes("not valid before")), "the future certificate's warning");
  expect(warnings().at(-1)).toContain("the certificate is not valid before Jan  1 00:00:00 2120 GMT; keeping the previous certificate");
  expect(await serverFingerprint(srv.port)).toBe(first);

  relink(d, "privkey.pem", "privkey4.pem");
  relink(d, "cert.pem", "cert4.pem");
  await waitFor(() => logger.events.some((e) => e.event === "tls certificate reloaded"), "the good renewal");
  const renewed = await serverFingerprint(srv.port);
  expect(renewed).not.toBe(first);
  expect(renewed).toBe(srv.server.ftps!.store!.current.fingerprint);
}, 20_000);

test("a certificate in use that has expired is said once in a warning: at start, and when it expires under a running server", async () => {
  const expiredLog = captureLogger();
  srv = await startTestServer({
    options: {
      logger: expiredLog,
      tls: tlsOptions({ certFile: join(TLS_FIXTURES, "expired-cert.pem"), keyFile: join(TLS_FIXTURES, "expired-key.pem"), certPollMs: 100 }),
    },
  });
  const said = (log: typeof expiredLog) => log.events.filter((e) => e.event === "tls certificate out of date").map((e) => String(e.fields.reason));
  expect(said(expiredLog)).toEqual([
    `--tls-cert ${join(TLS_FIXTURES, "expired-cert.pem")}: the certificate expired on Feb  1 00:00:00 2020 GMT: clients that check certificates refuse it until it is replaced`,
  ]);
  await Bun.sleep(300); // three polls: still said once
  expect(said(expiredLog)).toHaveLength(1);
  await srv.stop();

  const log = captureLogger();
  srv = await startTestServer({ options: { logger: log, tls: tlsOptions({ certPollMs: 100 }) } });
  expect(said(log)).toEqual([]);
  const realNow = Date.now;
  try {
    Date.now = () => realNow() + 101 * 365 * 86_400_000; // past its notAfter, in 2126
    await waitFor(() => said(log).length > 0, "the expiry's warning");
    expect(said(log)[0]).toContain("the certificate expired on Oct 28 10:04:22 2126 GMT");
  } finally {
    Date.now = realNow;
  }
}, 20_000);

test("--workers 2: a renewed certificate is said once ('tls certificate reloaded'), not once per worker; each worker still says its reload", async () => {
  srv = await startTestServer();
  await srv.server.close(0);
  const d = tempDir();
  dirs.push(d);
  copyFileSync(CERT, join(d, "cert.pem"));
  copyFileSync(KEY, join(d, "key.pem"));
  serve = await spawnServe(["--users", srv.usersFile, "--workers", "2", "--tls-cert", join(d, "cert.pem"), "--tls-key", join(d, "key.pem")], { cwd: srv.root });
  copyFileSync(OTHER_KEY, join(d, "key.new"));
  copyFileSync(OTHER_CERT, join(d, "cert.new"));
  renameSync(join(d, "key.new"), join(d, "key.pem"));
  renameSync(join(d, "cert.new"), join(d, "cert.pem"));
  // Both workers have the new pair once each has said its reload (by its poll or by this SIGHUP, whichever came first).
  process.kill(serve.proc.pid, "SIGHUP");
  const out = () => serve!.stdout() + serve!.stderr();
  await waitFor(() => (out().match(/ INFO  reloaded /g) ?? []).length === 2, "both workers' reload lines", 10_000);
  expect(out().match(/tls certificate reloaded/g) ?? []).toHaveLength(1);
}, 30_000);

test("a private key every local user can read is said in a warning at start and when a renewal brings one; a group-only key is not", async () => {
  const d = tempDir();
  dirs.push(d);
  const [cert, key] = [join(d, "cert.pem"), join(d, "key.pem")];
  copyFileSync(CERT, cert);
  copyFileSync(KEY, key);
  chmodSync(key, 0o640);
  const said = (log: ReturnType<typeof captureLogger>) => log.events.filter((e) => e.event === "tls key readable by everyone").map((e) => String(e.fields.reason));
  const warning = `--tls-key ${key} can be read by every local user (mode 0644): \`chmod 600\` it, or 640 with a group only the server's account is in`;
  const log = captureLogger();
  srv = await startTestServer({ options: { logger: log, tls: tlsOptions({ certFile: cert, keyFile: key, certPollMs: 100 }) } });
  expect(said(log)).toEqual([]);
  // A renewal whose key came out world-readable (copied with the default umask), moved into place.
  copyFileSync(OTHER_KEY, join(d, "key.new"));
  chmodSync(join(d, "key.new"), 0o644);
  copyFileSync(OTHER_CERT, join(d, "cert.new"));
  renameSync(join(d, "key.new"), key);
  renameSync(join(d, "cert.new"), cert);
  await waitFor(() => log.events.some((e) => e.event === "tls certificate reloaded"), "the renewal to be taken");
  expect(said(log)).toEqual([warning]);
  await srv.stop();
  // At start.
  const atStart = captureLogger();
  srv = await startTestServer({ options: { logger: atStart, tls: tlsOptions({ certFile: cert, keyFile: key }) } });
  expect(said(atStart)).toEqual([warning]);
}, 20_000);
