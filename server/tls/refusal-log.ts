// Refused data connections are logged per session at a rate the server sets, not the client: TLS
// ones (a failed handshake, a session not resumed under --tls-session-reuse required), and passive
// ones from another address than the session's. Each PASV and connect that was refused wrote one
// WARN line, and a client (or a stranger scanning the passive ports) can open thousands. The first of a
// session is logged as it happens (its address and why); the ones after it are counted and summed
// up in one line at most once per interval, and what is left when the session ends. A count waits at
// most an interval for its line: a timer (one per session, only while a count waits) writes it then,
// where it used to wait for the next refusal or the session's end (hours, on an idle session).
import type { Logger } from "../log.ts";
import type { Session } from "../session.ts";

/** At most one summary line per session this often. */
export const REFUSAL_SUMMARY_MS = 60_000;

interface Tally {
  /** Refusals since the last line. */
  unlogged: number;
  loggedAt: number;
  /** The latest refusal's address and reason. */
  ip: string;
  reason: string;
  /** Writes the count when the interval ends; set only while one waits, cleared by every summary. */
  timer: ReturnType<typeof setTimeout> | null;
}

/** The events of one kind of refusal: the first of a session, and the count of the others. */
export interface RefusalEvents {
  one: string;
  many: string;
}

export const TLS_DATA_REFUSALS: RefusalEvents = { one: "tls data connection refused", many: "tls data connections refused" };

export class DataRefusalLog {
  private readonly tallies = new WeakMap<Session, Tally>();

  constructor(
    /** The server's logger as it is now (it may be replaced while the server runs). */
    private readonly logger: () => Logger,
    private readonly intervalMs = REFUSAL_SUMMARY_MS,
    private readonly events: RefusalEvents = TLS_DATA_REFUSALS,
  ) {}

  /** `detail`: more fields for the first line (what was expected). */
  refused(session: Session, ip: string, reason: string, detail: Record<string, string> = {}): void {
    const t = this.tallies.get(session);
    if (!t) {
      this.logger().warn(this.events.one, { session: session.id, ip, reason, ...detail });
      this.tallies.set(session, { unlogged: 0, loggedAt: performance.now(), ip, reason, timer: null });
      session.gone.addEventListener("abort", () => this.summarise(session), { once: true });
      return;
    }
    t.unlogged++;
    t.ip = ip;
    t.reason = reason;
    const wait = t.loggedAt + this.intervalMs - performance.now();
    if (session.gone.aborted || wait <= 0) return this.summarise(session);
    if (t.timer) return;
    // The session owns it: its end summarises, which clears it.
    t.timer = setTimeout(() => this.summarise(session), wait);
    (t.timer as { unref?: () => void }).unref?.();
  }

  private summarise(session: Session): void {
    const t = this.tallies.get(session);
    if (!t) return;
    if (t.timer) clearTimeout(t.timer);
    t.timer = null;
    if (t.unlogged === 0) return;
    const seconds = Math.round((performance.now() - t.loggedAt) / 1000);
    this.logger().warn(this.events.many, { session: session.id, ip: t.ip, count: t.unlogged, seconds, reason: t.reason });
    t.unlogged = 0;
    t.loggedAt = performance.now();
  }
}
