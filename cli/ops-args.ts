// `ftpkit serve` operations flags: --metrics, --hook, defender (--ban-*, --allow, --deny), --xferlog.
import type { ArgsDef } from "citty";
import { resolve } from "node:path";
import { formatDuration, parseCidrList, parseDuration } from "../protocol/cidr.ts";
import { compileHooks } from "../server/ops/hook-commands.ts";
import { DEFAULT_OPS, HOOK_EVENTS, type HookEvent, type HookSpec, type OpsOptions } from "../server/ops/options.ts";
import { MAX_TIMER_MS } from "../server/timers.ts";
import { UsageError } from "./args.ts";
import { repeatedFlag } from "./args.ts";

const d = DEFAULT_OPS;

export const opsArgs = {
  metrics: { type: "string", description: "Serve /metrics (Prometheus), /healthz and /readyz over HTTP on this address, e.g. 127.0.0.1:9100 (off by default)", valueHint: "ADDR:PORT" },
  hook: {
    type: "string",
    description: `Run COMMAND (no shell; details in FTPKIT_* variables) or POST JSON to an http(s):// URL on EVENT: ${HOOK_EVENTS.join(", ")} (repeatable; a failing pre-upload hook refuses the upload)`,
    valueHint: "EVENT=COMMAND",
  },
  "hook-timeout": { type: "string", description: `Kill a hook after this long (default ${formatDuration(d.hookTimeoutMs)})`, valueHint: "DURATION" },
  "ban-after": { type: "string", description: `Ban an address (IPv6: its /64) after N failed logins within --ban-window (default ${d.banAfter}; 0 = no bans)`, valueHint: "N" },
  "ban-window": { type: "string", description: `Window for --ban-after (default ${formatDuration(d.banWindowMs)})`, valueHint: "DURATION" },
  "ban-time": { type: "string", description: `First ban; doubles on each repeat (default ${formatDuration(d.banTimeMs)})`, valueHint: "DURATION" },
  "ban-max": { type: "string", description: `Longest ban (default ${formatDuration(d.banMaxMs)})`, valueHint: "DURATION" },
  allow: { type: "string", description: "Addresses never banned, e.g. 10.0.0.0/8,2001:db8::/32", valueHint: "CIDR,…" },
  deny: { type: "string", description: "Addresses always refused at connect (421)", valueHint: "CIDR,…" },
  xferlog: { type: "string", description: "Also write one wu-ftpd xferlog line per file transfer to FILE (reopened on SIGHUP)", valueHint: "FILE" },
} as const satisfies ArgsDef;

/** "127.0.0.1:9100", "[::1]:9100" → host and port. */
export function parseListenAddress(value: string, flag: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value.trim());
  const port = Number(m?.[3]);
  if (!m || port > 65535) throw new UsageError(`--${flag} must look like 127.0.0.1:9100 or [::1]:9100, got "${value}"`);
  return { host: m[1] ?? m[2]!, port };
}

function duration(value: string | undefined, flag: string, maxMs = Number.MAX_SAFE_INTEGER): number | undefined {
  if (value === undefined) return undefined;
  try {
    const ms = parseDuration(value);
    if (ms <= 0) throw new Error("must be more than 0");
    if (ms > maxMs) throw new Error(`must be at most ${formatDuration(Math.floor(maxMs / 86_400_000) * 86_400_000)}`);
    return ms;
  } catch (err) {
    throw new UsageError(`--${flag}: ${(err as Error).message}`);
  }
}

function cidrs(value: string | undefined, flag: string) {
  if (value === undefined) return undefined;
  try {
    return parseCidrList(value);
  } catch (err) {
    throw new UsageError(`--${flag}: ${(err as Error).message}`);
  }
}

export function parseHookFlag(value: string): HookSpec {
  const eq = value.indexOf("=");
  const event = (eq < 0 ? value : value.slice(0, eq)).trim();
  const command = eq < 0 ? "" : value.slice(eq + 1).trim();
  if (!(HOOK_EVENTS as readonly string[]).includes(event)) {
    throw new UsageError(`--hook must look like EVENT=COMMAND with EVENT one of ${HOOK_EVENTS.join(", ")}; got "${value}"`);
  }
  if (!command) throw new UsageError(`--hook ${event}: the command is empty`);
  const spec = { event: event as HookEvent, command };
  // Every fault of the value (a quote left open, a URL that is none, a program not found) is bad usage,
  // found here before anything starts: the server's own check (for startServer) made them exit 1.
  try {
    compileHooks([spec]);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  return spec;
}

/** Parsed flags → the `ops` part of the server options (undefined keys keep the defaults). */
export function opsOptionsFrom(args: Record<string, unknown>, rawArgs: readonly string[]): Partial<OpsOptions> {
  const s = (k: string) => args[k] as string | undefined;
  const o: Partial<OpsOptions> = {};
  const metrics = s("metrics");
  if (metrics !== undefined) o.metrics = parseListenAddress(metrics, "metrics");
  const hooks = repeatedFlag(rawArgs, "hook").map(parseHookFlag);
  if (hooks.length) o.hooks = hooks;
  const banAfter = s("ban-after");
  if (banAfter !== undefined) {
    if (!/^\d+$/.test(banAfter)) throw new UsageError(`--ban-after must be a whole number (0 = no bans), got "${banAfter}"`);
    o.banAfter = Number(banAfter);
  }
  const set = <K extends keyof OpsOptions>(k: K, v: OpsOptions[K] | undefined) => {
    if (v !== undefined) o[k] = v;
  };
  // A longer timer fires after 1 ms: `--hook-timeout 25d` killed every hook at once, as timed out.
  set("hookTimeoutMs", duration(s("hook-timeout"), "hook-timeout", MAX_TIMER_MS));
  set("banWindowMs", duration(s("ban-window"), "ban-window"));
  set("banTimeMs", duration(s("ban-time"), "ban-time"));
  set("banMaxMs", duration(s("ban-max"), "ban-max"));
  set("allow", cidrs(s("allow"), "allow"));
  set("deny", cidrs(s("deny"), "deny"));
  const xferlog = s("xferlog");
  if (xferlog !== undefined) {
    if (xferlog === "") throw new UsageError("--xferlog needs a file name");
    o.xferlog = resolve(xferlog);
  }
  if ((o.banTimeMs ?? d.banTimeMs) > (o.banMaxMs ?? d.banMaxMs)) throw new UsageError("--ban-time must not be longer than --ban-max");
  return o;
}
