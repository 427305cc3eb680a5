// HAProxy in front of `ftpkit serve` nodes (TCP mode, send-proxy-v2), configured as the README's
// Scaling section says: each node's health check reads its greeting, and when every node fails its
// check the connections still reach one, whose 421 says why.
import type { Subprocess } from "bun";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { collect } from "./serve-proc.ts";
import { killByPid } from "./peers.ts";
import { Wire } from "./wire.ts";

/** haproxy.cfg for the balancer: round robin, PROXY v2 to each node, a dead node's connections redispatched. */
export function haproxyConfig(listen: number, backends: number[]): string {
  return [
    "global",
    "  maxconn 2000",
    "defaults",
    "  mode tcp",
    "  timeout connect 2s",
    "  timeout client 60s",
    "  timeout server 60s",
    "  timeout check 2s",
    "  retries 3",
    "  option redispatch",
    "frontend ftp",
    `  bind 127.0.0.1:${listen}`,
    "  default_backend ftpkit",
    "backend ftpkit",
    "  balance roundrobin",
    "  option tcp-check",
    "  tcp-check expect rstring ^220",
    "  option allbackups",
    ...backends.map((p, i) => `  server node${i + 1} 127.0.0.1:${p} send-proxy-v2 check inter 1s fall 1 rise 2 check-send-proxy`),
    ...backends.map((p, i) => `  server node${i + 1}-says-why 127.0.0.1:${p} send-proxy-v2 backup`),
    "",
  ].join("\n");
}

export interface Haproxy {
  proc: Subprocess;
  /** What it logged (server state changes: "Server ftpkit/node2 is DOWN, …"). */
  log(): string;
  stop(): Promise<void>;
}

/** Start HAProxy on `listen` in front of `backends`, in `root`; ready when it greets with a node's 220. */
export async function startHaproxy(root: string, listen: number, backends: number[]): Promise<Haproxy> {
  const cfg = join(root, "haproxy.cfg");
  writeFileSync(cfg, haproxyConfig(listen, backends));
  const proc = Bun.spawn(["haproxy", "-f", cfg, "-db"], { cwd: root, stdout: "pipe", stderr: "pipe" });
  const out = { text: "" };
  void collect(proc.stdout, out);
  void collect(proc.stderr, out);
  const haproxy = { proc, log: () => out.text, stop: () => killByPid(proc) };
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      const w = await Wire.connect(listen);
      const hello = await w.read(3000);
      w.close();
      if (hello?.code === 220) return haproxy;
    } catch {}
    if (Date.now() > deadline || proc.exitCode !== null) {
      await haproxy.stop();
      throw new Error(`haproxy did not start: ${out.text}`);
    }
    await Bun.sleep(100);
  }
}
