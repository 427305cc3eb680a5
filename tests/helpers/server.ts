import { afterEach, expect } from "bun:test";
import { cpSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Socket } from "bun";
import { parseEpsvReply } from "../../protocol/address.ts";
import { createServer, type CreateServerOptions, type FtpServer } from "../../server/index.ts";
import { spawnServe } from "./serve-proc.ts";
import { makeUsersFile, type UserSpec } from "./users.ts";
import { Wire } from "./wire.ts";

export const FIXTURE_HOMES = join(import.meta.dir, "../../fixtures/homes");

export interface TestServer {
  /** The in-process server (throws for a `workers` server: it lives in other processes). */
  server: FtpServer;
  port: number;
  /** Temp directory holding users.ini and the homes (a copy of fixtures/homes). */
  root: string;
  usersFile: string;
  /** Real path of a user's home in the temp copy. */
  home(user: string): string;
  stop(): Promise<void>;
}

/** The two ways a peer test runs: one in-process server, and `ftpkit serve --workers 2` (issue 12). */
export const SERVER_KINDS = [
  { label: (name: string) => name, workers: undefined },
  { label: (name: string) => `${name}, against ftpkit serve --workers 2`, workers: 2 },
] as const;

/**
 * Start a real server on 127.0.0.1 port 0 against a temp copy of fixtures/homes. Users default to
 * alice (password "alice-pw", full rights) with her fixture home. Always `await stop()` (afterEach).
 * With `workers`, it is `ftpkit serve --workers N` in its own processes (then `options` must be empty).
 */
export async function startTestServer(
  opts: { users?: UserSpec[]; options?: CreateServerOptions; setup?: (root: string) => void; workers?: number } = {},
): Promise<TestServer> {
  const root = mkdtempSync(join(tmpdir(), "ftpkit-test-"));
  cpSync(FIXTURE_HOMES, join(root, "home"), { recursive: true });
  // A symlink inside alice's home that points outside it: the jail must refuse it.
  try {
    symlinkSync("/etc", join(root, "home/alice/escape-link"));
    symlinkSync("/etc/passwd", join(root, "home/alice/passwd-link"));
  } catch {}
  opts.setup?.(root);
  const users = opts.users ?? [{ name: "alice", password: "alice-pw", home: join(root, "home/alice") }];
  const usersFile = await makeUsersFile(root, users);
  if (opts.workers !== undefined) return startWorkers(root, usersFile, opts.workers, opts.options);
  const server = createServer({
    usersFile,
    host: "127.0.0.1",
    port: 0,
    quiet: true,
    failedLoginDelayMs: 50,
    ...opts.options,
  });
  const { port } = await server.listen();
  return {
    server,
    port,
    root,
    usersFile,
    home: (user) => join(root, "home", user),
    async stop() {
      await server.close(0);
      rmSync(root, { recursive: true, force: true });
    },
  };
}

async function startWorkers(root: string, usersFile: string, workers: number, options?: CreateServerOptions): Promise<TestServer> {
  if (options && Object.keys(options).length) throw new Error("a --workers test server takes no in-process options");
  try {
    const proc = await spawnServe(["--users", usersFile, "--workers", String(workers)], { cwd: root, timeoutMs: 30_000 });
    return {
      get server(): FtpServer {
        throw new Error("a --workers test server runs in other processes");
      },
      port: proc.port,
      root,
      usersFile,
      home: (user) => join(root, "home", user),
      async stop() {
        await proc.kill("SIGTERM");
        rmSync(root, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(root, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Per-file fixture: the server a test starts and the control connections it opens are closed and
 * stopped after that test (afterEach), so every test file gets the same clean-up for free.
 */
export function useServers() {
  let current: TestServer | null = null;
  // Every server the test started, not only the last: a test that started two left the first
  // running, and its temp directory behind (an S3 test, found among a CI run's leftovers).
  const started: TestServer[] = [];
  const wires: Wire[] = [];
  afterEach(async () => {
    for (const w of wires.splice(0)) w.close();
    for (const ts of started.splice(0).reverse()) await ts.stop();
    current = null;
  });
  return {
    async start(opts: Parameters<typeof startTestServer>[0] = {}): Promise<TestServer> {
      current = await startTestServer(opts);
      started.push(current);
      return current;
    },
    /** The server the running test started. */
    get server(): TestServer {
      if (!current) throw new Error("no test server started");
      return current;
    },
    /** A control connection, closed after the test (the greeting is still unread). */
    async connect(host = "127.0.0.1"): Promise<Wire> {
      const w = await Wire.connect(this.server.port, host);
      wires.push(w);
      return w;
    },
    /** A control connection, logged in (the reply code is checked). */
    async login(user = "alice", password = "alice-pw", expected = 230, host = "127.0.0.1"): Promise<Wire> {
      const w = await this.connect(host);
      expect((await w.login(user, password)).code).toBe(expected);
      return w;
    },
    /** A passive data connection of `w` (EPSV), open and never read: the server's writes to it back up. */
    async stalledData(w: Wire): Promise<Socket<undefined>> {
      const epsv = await w.cmd("EPSV");
      let opened!: () => void;
      const isOpen = new Promise<void>((r) => (opened = r));
      const data = await Bun.connect({ hostname: "127.0.0.1", port: parseEpsvReply(epsv.lines[0]!), socket: { open: () => opened(), data() {} } });
      await isOpen;
      data.pause();
      return data;
    },
  };
}
