// Operations settings: metrics endpoint, event hooks, defender (automatic bans), xferlog.
import type { Cidr } from "../../protocol/cidr.ts";

/** Events a hook may be attached to (`--hook EVENT=COMMAND`). */
export const HOOK_EVENTS = ["upload", "download", "delete", "rename", "mkdir", "rmdir", "login", "login-failed", "pre-upload"] as const;
export type HookEvent = (typeof HOOK_EVENTS)[number];

export interface HookSpec {
  event: HookEvent;
  /** A command line (split into words, never run by a shell) or an http(s):// URL (JSON POST). */
  command: string;
}

export interface OpsOptions {
  /** `--metrics ADDR:PORT`: /metrics, /healthz, /readyz over HTTP. Off when absent. */
  metrics?: { host: string; port: number };
  hooks: HookSpec[];
  /** A hook process or POST taking longer is killed / abandoned (a pre-upload one then refuses). */
  hookTimeoutMs: number;
  /** Post-event hooks waiting to run; beyond this new ones are dropped (logged and counted). */
  hookQueueSize: number;
  /** Post-event hooks running at once. */
  hookConcurrency: number;
  /** Failed logins from one address (an IPv6 /64) within banWindowMs that trigger a ban; 0 = defender off. */
  banAfter: number;
  banWindowMs: number;
  /** First ban; each repeat doubles it, up to banMaxMs. */
  banTimeMs: number;
  banMaxMs: number;
  /** Never banned. */
  allow: Cidr[];
  /** Always refused at connect. */
  deny: Cidr[];
  /** `--xferlog FILE`: one wu-ftpd xferlog line per file transfer. */
  xferlog?: string;
}

export const DEFAULT_OPS: OpsOptions = {
  hooks: [],
  hookTimeoutMs: 30_000,
  hookQueueSize: 1000,
  hookConcurrency: 4,
  banAfter: 10,
  banWindowMs: 5 * 60_000,
  banTimeMs: 15 * 60_000,
  banMaxMs: 24 * 3_600_000,
  allow: [],
  deny: [],
};
