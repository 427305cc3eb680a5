// `--metrics ADDR:PORT`: what the server does, for Prometheus; /healthz and /readyz for orchestrators.
import type { ServerContext } from "../context.ts";
import { descriptorSoftLimit, openDescriptors } from "../fd-budget.ts";
import type { Session } from "../session.ts";
import type { OpsEvent } from "./events.ts";
import { listenMetricsHttp, type HttpAnswer, type MetricsListener } from "./metrics-http.ts";
import { Counter, Gauge, Histogram, PROMETHEUS_CONTENT_TYPE, Registry } from "./prometheus.ts";

/** Users shown by name in the quota gauges; the rest are summed as user="_other" (bounded label set). */
export const QUOTA_USERS_SHOWN = 50;
/** The label of the users beyond QUOTA_USERS_SHOWN, summed. */
const OTHER_USERS = "_other";
const UPLOAD_VERBS = new Set(["STOR", "APPE", "STOU"]);
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800];

export class Metrics {
  readonly registry = new Registry();
  readonly sessions: Counter;
  readonly healthChecks: Counter;
  readonly connections: Counter;
  readonly logins: Counter;
  readonly bytes: Counter;
  readonly transfers: Counter;
  readonly duration: Histogram;
  readonly tls: Counter;
  readonly bans: Counter;
  readonly refused: Counter;
  readonly fileOps: Counter;
  readonly errors: Counter;
  readonly hooks: Counter;
  readonly hookDrops: Counter;
  /**
   * Transfers from their start to their "transfer" event, whose bytes the byte counter shows while
   * they run. Not read from the open sessions: a client that hangs up mid-download ends its session
   * before its transfer has ended, and the counter fell by that transfer's bytes until its event
   * added them back (Prometheus takes any fall for a counter reset: rate() counts everything again).
   */
  private readonly running = new Map<Session, { readonly verb: string; readonly bytes: number }>();

  constructor(
    private readonly ctx: () => ServerContext,
    reads: { activeBans: () => number; hookQueue: () => number },
  ) {
    const r = this.registry;
    r.add(new Gauge("ftpkit_sessions_open", "Control connections open now.", [], () => this.ctx().sessions.size));
    // Sessions, not connections: a connection refused at connect (a ban, the caps) or whose implicit-TLS
    // handshake failed is no session. The help said "accepted", and an admin comparing it with the
    // balancer's count found it short: ftpkit_connections_total is that count.
    this.sessions = r.add(new Counter("ftpkit_sessions_total", "Control sessions started: connections greeted with 220 (implicit TLS: after the handshake).", []));
    this.healthChecks = r.add(new Counter("ftpkit_health_checks_total", "Load-balancer health checks greeted (PROXY v2 LOCAL connections): not counted as sessions.", []));
    this.connections = r.add(new Counter("ftpkit_connections_total", "Control connections accepted, by listener (control, implicit-tls), before any refusal or TLS handshake.", ["listener"]));
    this.logins = r.add(new Counter("ftpkit_logins_total", "Login attempts by result (ok, failed).", ["result"]));
    this.bytes = r.add(new Counter("ftpkit_transfer_bytes_total", "Data bytes moved, counting transfers still running (in = uploads).", ["direction"]));
    this.bytes.extra = () => this.runningBytes();
    r.add(new Gauge("ftpkit_transfers_active", "Data transfers running now.", [], () => this.running.size));
    this.transfers = r.add(new Counter("ftpkit_transfers_total", "Finished data transfers by verb and result (ok, aborted, quota, error).", ["verb", "result"]));
    this.duration = r.add(new Histogram("ftpkit_transfer_duration_seconds", "Duration of finished data transfers.", ["verb"], DURATION_BUCKETS));
    this.tls = r.add(new Counter("ftpkit_tls_handshakes_total", "TLS handshakes by channel (control, data); reused=true when a data connection resumed the control session.", ["channel", "reused"]));
    this.bans = r.add(new Counter("ftpkit_bans_total", "Addresses banned by the defender (bans this process took).", []));
    r.add(new Gauge("ftpkit_bans_active", "Bans in force now.", [], reads.activeBans));
    this.refused = r.add(new Counter("ftpkit_connections_refused_total", "Connections refused at connect by the defender (banned), --deny (denied) or for their PROXY header (proxy).", ["reason"]));
    this.fileOps = r.add(new Counter("ftpkit_file_operations_total", "Deletes, renames, mkdir and rmdir that succeeded.", ["op"]));
    r.add(new Gauge("ftpkit_quota_used_bytes", `Bytes charged to each logged-in user's quota (top ${QUOTA_USERS_SHOWN}; the rest as _other).`, ["user"], () => this.quota("used")));
    r.add(new Gauge("ftpkit_quota_limit_bytes", "Quota of each logged-in user (0 = unlimited); _other: the sum of the rest's quotas, 0 (unlimited) when any of them is unlimited.", ["user"], () => this.quota("limit")));
    // Read at scrape time from the hash cache: HASH reads storage off any session's transfer.
    const hashRead = r.add(new Counter("ftpkit_hash_read_bytes_total", "Bytes read from storage to answer HASH and XMD5/XSHA… (digests computed while transfers streamed are not counted).", []));
    hashRead.extra = () => [{ labels: [], value: this.ctx().hashCache.bytesRead }];
    r.add(new Gauge("ftpkit_hashes_active", "HASH digests being computed now (sessions asking for the same range of the same file share one).", [], () => this.ctx().hashCache.hashing.computations));
    r.add(new Gauge("ftpkit_hash_waiting_sessions", "Sessions waiting now for a HASH digest being computed.", [], () => this.ctx().hashCache.hashing.askers));
    this.errors = r.add(new Counter("ftpkit_errors_total", "Errors logged, by kind.", ["kind"]));
    this.hooks = r.add(new Counter("ftpkit_hooks_total", "Hooks run, by event and result (ok, failed, timeout, refused).", ["event", "result"]));
    this.hookDrops = r.add(new Counter("ftpkit_hook_queue_dropped_total", "Post-event hooks dropped because the queue was full.", []));
    r.add(new Gauge("ftpkit_hook_queue_length", "Post-event hooks waiting to run.", [], reads.hookQueue));
    // Series whose labels are known in advance exist from the start, at 0: one that appeared only with
    // its first event began at 1, and Prometheus's rate()/increase() (and an alert on them) never saw
    // that first failed login, ban refusal or failed transfer: a new series has no earlier sample.
    for (const result of ["ok", "failed"]) this.logins.inc([result], 0);
    for (const listener of ["control", "implicit-tls"]) this.connections.inc([listener], 0);
    for (const reason of ["banned", "denied", "proxy"]) this.refused.inc([reason], 0);
    for (const op of ["delete", "rename", "mkdir", "rmdir"]) this.fileOps.inc([op], 0);
    for (const verb of ["RETR", "STOR", "APPE", "STOU"]) {
      for (const result of ["ok", "aborted", "error", ...(UPLOAD_VERBS.has(verb) ? ["quota"] : [])]) this.transfers.inc([verb, result], 0);
    }
    const started = Date.now() / 1000;
    r.add(new Gauge("ftpkit_start_time_seconds", "When the server started (Unix time).", [], () => started));
    // The process collector's series every Prometheus client library exports by default, which
    // dashboards and alerts (process_open_fds / process_max_fds) expect by these names.
    const cpu = r.add(new Counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", []));
    cpu.extra = () => {
      const u = process.cpuUsage();
      return [{ labels: [], value: (u.user + u.system) / 1e6 }];
    };
    const one = (v: number | null) => (v === null ? [] : [{ labels: [], value: v }]);
    r.add(new Gauge("process_resident_memory_bytes", "Resident memory size in bytes.", [], () => process.memoryUsage.rss()));
    r.add(new Gauge("process_open_fds", "Number of open file descriptors.", [], () => one(openDescriptors())));
    r.add(new Gauge("process_max_fds", "Maximum number of open file descriptors.", [], () => one(descriptorSoftLimit())));
    r.add(new Gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", [], () => performance.timeOrigin / 1000));
  }

  observe(e: OpsEvent): void {
    switch (e.type) {
      case "connection":
        this.connections.inc([e.listener]);
        break;
      case "session-open":
        // A balancer's check (PROXY v2 LOCAL) is no client's session: one a second per node and
        // balancer made rate(ftpkit_sessions_total) show sessions that never happened.
        if (e.healthCheck) this.healthChecks.inc();
        else this.sessions.inc();
        break;
      case "login":
        this.logins.inc(["ok"]);
        break;
      case "login-failed":
        this.logins.inc(["failed"]);
        break;
      case "transfer-start":
        this.running.set(e.session, e.transfer);
        break;
      case "transfer":
        this.running.delete(e.session);
        this.bytes.inc([UPLOAD_VERBS.has(e.verb) ? "in" : "out"], e.bytes);
        this.transfers.inc([e.verb, e.result]);
        this.duration.observe([e.verb], e.ms / 1000);
        break;
      case "delete":
      case "rename":
      case "mkdir":
      case "rmdir":
        this.fileOps.inc([e.type]);
        break;
      case "tls-handshake":
        this.tls.inc([e.channel, String(e.reused)]);
        break;
      case "connection-refused":
        this.refused.inc([e.reason]);
        break;
    }
  }

  private runningBytes(): Array<{ labels: string[]; value: number }> {
    let up = 0;
    let down = 0;
    for (const t of this.running.values()) {
      if (UPLOAD_VERBS.has(t.verb)) up += t.bytes;
      else down += t.bytes;
    }
    return [
      { labels: ["in"], value: up },
      { labels: ["out"], value: down },
    ];
  }

  private quota(which: "used" | "limit"): Array<{ labels: string[]; value: number }> {
    const byUser = new Map<string, { used: number; limit: number }>();
    for (const s of this.ctx().sessions) {
      const ledger = s.user && s.mounts[0]?.ledger;
      if (ledger && !byUser.has(s.user!.name)) byUser.set(s.user!.name, { used: ledger.used, limit: ledger.limit });
    }
    const sorted = [...byUser].sort((a, b) => b[1].used - a[1].used);
    let shown = sorted;
    const rest: typeof sorted = [];
    if (sorted.length > QUOTA_USERS_SHOWN) {
      // "_other" is a valid user name: shown by name beside the rest's sum, it made two series of one
      // label set, which Prometheus refuses (a duplicate sample). Such a user joins the rest instead.
      const named = sorted.filter(([user]) => user !== OTHER_USERS);
      shown = named.slice(0, QUOTA_USERS_SHOWN);
      rest.push(...named.slice(QUOTA_USERS_SHOWN), ...sorted.filter(([user]) => user === OTHER_USERS));
    }
    const out = shown.map(([user, q]) => ({ labels: [user], value: q[which] }));
    // 0 means unlimited: summed with real limits it vanished, and the rest's sum looked like a ceiling
    // their bytes (the unlimited user's included) could pass. One unlimited user makes the rest unlimited.
    const unlimited = which === "limit" && rest.some(([, q]) => q.limit === 0);
    if (rest.length) out.push({ labels: [OTHER_USERS], value: unlimited ? 0 : rest.reduce((n, [, q]) => n + q[which], 0) });
    return out;
  }
}

export interface ReadyCheck {
  name: string;
  ok: boolean;
  detail?: string;
}

/** The HTTP listener: GET /metrics, /healthz (alive), /readyz (accepting, users loaded, storage reachable). */
export function serveMetrics(host: string, port: number, metrics: Metrics, ready: () => Promise<ReadyCheck[]>): MetricsListener {
  return listenMetricsHttp(host, port, async (method, path): Promise<HttpAnswer> => {
    if (method !== "GET" && method !== "HEAD") return { status: 405, body: "method not allowed\n", headers: { allow: "GET, HEAD" } };
    if (path === "/metrics") return { status: 200, body: metrics.registry.render(), headers: { "content-type": PROMETHEUS_CONTENT_TYPE } };
    if (path === "/healthz") return { status: 200, body: "ok\n" };
    if (path === "/readyz") {
      const checks = await ready();
      const ok = checks.every((c) => c.ok);
      const body = checks.map((c) => `${c.name} ${c.ok ? "ok" : "FAIL"}${c.detail ? `: ${c.detail}` : ""}`).join("\n") + "\n";
      return { status: ok ? 200 : 503, body };
    }
    return { status: 404, body: "not found: try /metrics, /healthz or /readyz\n" };
  });
}
