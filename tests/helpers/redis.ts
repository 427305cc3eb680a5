// A throwaway redis-server on a free loopback port (no persistence), stopped by PID.
import type { Subprocess } from "bun";
import { freePort, killByPid } from "./peers.ts";

export { freePort };

export interface RedisProcess {
  port: number;
  url: string;
  proc: Subprocess;
  stop(): Promise<void>;
}


/** Start redis-server on `port` (default: a free one) and wait until it answers; `extra`: more redis-server options. */
export async function startRedis(port = freePort(), extra: string[] = []): Promise<RedisProcess> {
  const proc = Bun.spawn(["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", ...extra], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const out = { text: "" };
  void (async () => {
    const dec = new TextDecoder();
    for await (const c of proc.stdout) out.text += dec.decode(c, { stream: true });
  })();
  const deadline = Date.now() + 10_000;
  while (!out.text.includes("Ready to accept connections")) {
    if (proc.exitCode !== null) throw new Error(`redis-server exited ${proc.exitCode}: ${out.text}`);
    if (Date.now() > deadline) {
      proc.kill(9);
      throw new Error(`redis-server did not start: ${out.text}`);
    }
    await Bun.sleep(20);
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    proc,
    async stop() {
      await killByPid(proc);
    },
  };
}
