// What the API test files share: the fixture certificate, and servers and work directories that are
// closed and removed after each test, even when it fails.
import { afterEach } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { startServer, type RunningServer } from "../../cli/api.ts";
import { removeDir, tempDir } from "../helpers/peers.ts";

export const CERT = readFileSync(join(import.meta.dir, "../../fixtures/tls/cert.pem"), "utf8");
export const KEY = readFileSync(join(import.meta.dir, "../../fixtures/tls/key.pem"), "utf8");

/** Call at a test file's top level: `start` and `work` hand what they make to an afterEach. */
export function useApiServers(): { start: (opts: Parameters<typeof startServer>[0]) => Promise<RunningServer>; work: () => string } {
  const servers: RunningServer[] = [];
  const dirs: string[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
    for (const d of dirs.splice(0)) removeDir(d);
  });
  return {
    async start(opts) {
      const s = await startServer(opts);
      servers.push(s);
      return s;
    },
    work() {
      const d = tempDir("ftpkit-api-");
      dirs.push(d);
      return d;
    },
  };
}
