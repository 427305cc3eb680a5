// `ftpkit serve --state URL` names the cause when the store cannot be reached: a host name that does
// not resolve, and a port where another kind of server listens (here an FTP server), said only
// "Connection closed" (Bun's client's words), as if the store had hung up.
import { afterEach, expect, test } from "bun:test";
import { runFtpkit } from "../helpers/peers.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

let srv: TestServer | null = null;
afterEach(async () => {
  await srv?.stop();
  srv = null;
});

test("a host name that does not resolve: 'no such host'", async () => {
  const r = await runFtpkit(["serve", "--port", "0", "--state", "redis://nohost.invalid:6379"]);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain("cannot reach the state store at redis://nohost.invalid:6379: no such host: nohost.invalid");
  expect(r.stderr).not.toContain("Connection closed");
}, 30_000);

test("a port where an FTP server listens: 'not a Redis server', with its first line", async () => {
  srv = await startTestServer();
  const r = await runFtpkit(["serve", "--port", "0", "--state", `redis://127.0.0.1:${srv.port}`]);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain(`cannot reach the state store at redis://127.0.0.1:${srv.port}: it is not a Redis server (it answered "220 `);
  expect(r.stderr).not.toContain("Connection closed");
}, 30_000);
