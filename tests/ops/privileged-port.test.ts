// A server started as an ordinary user on port 21 (as an admin replacing vsftpd would) is told what
// the port needs and how a service gets it, not only that it failed.
import { afterEach, expect, test } from "bun:test";
import { chmodSync, rmSync } from "node:fs";
import { FTPKIT } from "../helpers/peers.ts";
import { serveEnv } from "../helpers/serve-proc.ts";
import { tempDir } from "../tls/helpers.ts";

const NOBODY = 65534;
const asRoot = process.getuid?.() === 0;
const lowPortsFree = Number(await Bun.file("/proc/sys/net/ipv4/ip_unprivileged_port_start").text().catch(() => "1024")) > 21;
let dir = "";
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = "";
});

/** `ftpkit serve --root DIR --anonymous --host 127.0.0.1 ARGS` as nobody, to its exit (it must not listen). */
async function serveAsNobody(args: string[]): Promise<{ code: number; stderr: string }> {
  dir = tempDir();
  chmodSync(dir, 0o755);
  const cmd = ["setpriv", `--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", "bun", FTPKIT, "serve", "--root", dir, "--anonymous", "--host", "127.0.0.1", ...args];
  const proc = Bun.spawn(cmd, { cwd: dir, env: serveEnv(), stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill(9), 20_000);
  const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, stderr };
}

const HINT = "ports below 1024 need root or the CAP_NET_BIND_SERVICE capability (systemd: AmbientCapabilities=CAP_NET_BIND_SERVICE";

test.skipIf(!asRoot || !lowPortsFree).each([
  ["--port 21", ["--port", "21"], "no permission to listen on port 21: "],
  ["--port 21 --workers 2", ["--port", "21", "--workers", "2"], "no permission to listen on port 21: "],
])("%s as an ordinary user: one line that names the capability and the systemd setting", async (_name, args, start) => {
  const r = await serveAsNobody(args);
  expect(r.code).toBe(1);
  expect(r.stderr.trim()).toBe(`[error] ${start}${HINT}; see the README, "Running as a service")`);
}, 30_000);
