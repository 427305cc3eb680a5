// The probe's state and plumbing: sessions (through FtpClient, the one client), bounded waits,
// transfers held in memory (nothing is written locally), and recording one item at a time.
import { AsyncLocalStorage } from "node:async_hooks";
import type { FtpReply } from "../../protocol/reply.ts";
import { FtpClient, describe, type DataMode, type Features } from "../client.ts";
import { ClientError } from "../errors.ts";
import { CATALOGUE, type ProbeItem, type ProbeOptions, type ProbeStatus } from "./types.ts";

export type Verdict = [ProbeStatus, string];

/**
 * How many timeouts one check may take in all. Every reply and data connection of a check is
 * already bounded by the timeout on its own, and a check waits for up to ~26 of them (REST: a
 * reopened session, a ranged download, two uploads and a download back): this only catches a wait
 * that is not bounded, and must not fail a server that answers each reply in time.
 */
export const CHECK_TIMEOUTS = 40;

/** The least wait for ABOR's, STAT's or a long line's reply, also when --timeout is shorter. */
export const EDGE_REPLY_MS = 5000;

/**
 * How long to wait for ABOR's or STAT's reply during an upload, or a long line's: a server that reads
 * commands only between transfers (vsftpd) never sends it, so the whole wait is spent there. 5 s, or
 * for a server whose replies are slow (three times `rttMs`, a reply this session just took) up to the
 * timeout: one slower than 5 s per reply is not failed for it.
 */
export function unsureReplyMs(p: { timeoutMs: number }, rttMs: number): number {
  return Math.max(EDGE_REPLY_MS, Math.min(p.timeoutMs, 3 * rttMs));
}

/** How long to wait for a reply every server sends (NOOP's, the end of an upload): the timeout, and never less than 5 s. */
export function expectedReplyMs(p: { timeoutMs: number }): number {
  return Math.max(EDGE_REPLY_MS, p.timeoutMs);
}

/** A command's reply, and how long it took. */
export async function timed<T>(p: Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const r = await p;
  return [r, performance.now() - t0];
}

/** A reply or a timeout error, whichever comes first. */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new ClientError(`no ${what} within ${ms / 1000} s`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** "550 No such file" as one short line. */
export function line(r: FtpReply): string {
  const text = describe(r);
  return text.length > 90 ? `${text.slice(0, 87)}…` : text;
}

/** The sessions one check opened, and whether its cap cut it off (then it may open no more). */
interface CheckScope {
  id: string;
  sessions: Set<FtpClient>;
  cancelled: boolean;
  /** The scratch directory's removal: the one code that opens sessions after halt(). */
  cleanup?: true;
}

export class Probe {
  readonly items: ProbeItem[] = [];
  readonly timeoutMs: number;
  /** The session most items share; reopened (and moved into the scratch directory) if it dies. */
  private main: FtpClient | null = null;
  private extra = new Set<FtpClient>();
  features: Features = new Map();
  greeting = "";
  syst = "";
  /** Login directory (from PWD) and the scratch directory inside it. */
  home = "/";
  /** The login directory itself, where the URL's path moved `home` elsewhere. */
  loginDir = "/";
  scratch: string | null = null;
  writable = false;
  /** Why the account cannot write (the MKD reply). */
  readOnlyReason = "";
  /** The data mode that works: EPSV, else PASV. */
  mode: DataMode | undefined;
  /** The file RETR/SIZE/HASH work on: our upload, or an existing file for a read-only account. */
  file: { name: string; data: Uint8Array } | null = null;
  /** Names written in the scratch directory, for clean-up. */
  readonly created = new Set<string>();
  /** The check the calling code runs in (async context: a capped check's code goes on running). */
  private readonly scope = new AsyncLocalStorage<CheckScope>();
  /** Checks running now (halt() cuts them off). */
  private readonly checksRunning = new Set<CheckScope>();
  /** Interrupted (Ctrl-C, SIGTERM): no check starts or is recorded, only the clean-up opens sessions. */
  private halted = false;

  constructor(readonly opts: ProbeOptions) {
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  /** Record an item (title and required flag come from the catalogue). */
  record(id: string, status: ProbeStatus, reason: string, required?: boolean): void {
    const def = CATALOGUE.find((c) => c.id === id);
    if (!def) throw new Error(`unknown probe item ${id}`);
    // After an interrupt, only what was decided before it is reported.
    if (this.halted || this.items.some((i) => i.id === id)) return;
    const item: ProbeItem = { id, title: def.title, required: required ?? def.required, status, reason: reason.replace(/\s+/g, " ").trim() };
    this.items.push(item);
    this.opts.onItem?.(item);
  }

  /** Run one check, bounded in time; an exception is a FAIL with its message. */
  async check(id: string, fn: () => Promise<Verdict>, limitMs = this.timeoutMs * CHECK_TIMEOUTS): Promise<ProbeStatus> {
    if (this.halted) return "n/a";
    let verdict: Verdict;
    const scope: CheckScope = { id, sessions: new Set(), cancelled: false };
    this.checksRunning.add(scope);
    const running = this.scope.run(scope, fn).then(
      (v) => ({ v }),
      (e: Error) => ({ e }),
    );
    let timer: ReturnType<typeof setTimeout> | undefined;
    const cap = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), limitMs)));
    const outcome = await Promise.race([running, cap]);
    clearTimeout(timer);
    this.checksRunning.delete(scope);
    // Cut off by an interrupt: its sessions were closed under it, so its verdict would say so.
    if (this.halted) return "n/a";
    if (outcome === null) {
      verdict = ["fail", `no answer within ${limitMs / 1000} s`];
      // Cut off by the cap, the check's code goes on running: end its sessions and the shared one,
      // and let it open or take no other, so that the next check starts clean.
      scope.cancelled = true;
      for (const c of scope.sessions) void this.discard(c);
      this.dropMain();
    } else if ("e" in outcome) {
      verdict = ["fail", outcome.e.message];
      // A session that timed out may be mid-reply: never reuse it.
      if (/within|timed out|closed/.test(outcome.e.message)) this.dropMain();
    } else verdict = outcome.v;
    this.record(id, verdict[0], verdict[1]);
    return verdict[0];
  }

  /** Mark every item not decided yet as N/A with `reason`. */
  skipRest(reason: string): void {
    for (const c of CATALOGUE) this.record(c.id, "n/a", reason);
  }

  /** A new session: greeting read, TLS set up as asked, logged in unless `login` is false. */
  async open(opts: { login?: boolean; tls?: ProbeOptions["tls"] | "none" } = {}): Promise<FtpClient> {
    this.refuseCancelled();
    const mode = opts.tls === "none" ? undefined : (opts.tls ?? this.opts.tls);
    const c = await FtpClient.connect({
      host: this.opts.host,
      port: this.opts.port,
      timeoutMs: this.timeoutMs,
      tls: mode ? { mode, settings: { host: this.opts.host, ca: this.opts.ca, insecure: this.opts.insecure, words: this.opts.words } } : undefined,
      words: this.opts.words,
    });
    this.extra.add(c);
    const scope = this.scope.getStore();
    scope?.sessions.add(c);
    // Cut off while connecting: the check's sessions were ended without this one.
    if (scope?.cancelled) {
      void this.discard(c);
      this.refuseCancelled();
    }
    if (opts.login !== false) {
      try {
        await this.login(c);
        const t = await c.command("TYPE", "I");
        if (t.code !== 200) throw new ClientError(`TYPE I: ${line(t)}`);
      } catch (err) {
        c.destroy();
        throw err;
      }
    }
    return c;
  }

  async login(c: FtpClient): Promise<void> {
    await c.login(this.user, () => this.opts.password ?? "ftpkit-probe@");
  }

  get user(): string {
    return this.opts.user ?? "anonymous";
  }

  /** Close a side session (never throws). */
  async discard(c: FtpClient, polite = false): Promise<void> {
    this.extra.delete(c);
    if (polite) await c.quit();
    else c.destroy();
  }

  /** The shared session, reopened and back in the scratch directory if it was lost. */
  async session(): Promise<FtpClient> {
    this.refuseCancelled();
    if (this.main && !this.main.control.isClosed) return this.main;
    const c = await this.open();
    this.extra.delete(c);
    // Only a scratch directory the probe got into: one whose MKD went unanswered may not exist.
    if (this.scratch && this.writable) {
      const r = await c.command("CWD", this.scratch).catch((err: Error) => err);
      if (r instanceof Error || r.code !== 250) {
        // Not the shared session after all: close it, or it holds the probe open until the server hangs up.
        c.destroy();
        throw r instanceof Error ? r : new ClientError(`CWD ${this.scratch}: ${line(r)}`);
      }
    }
    this.main = c;
    return c;
  }

  /** A check cut off by its cap, or any code after halt() but the clean-up, gets no session any more. */
  private refuseCancelled(): void {
    const scope = this.scope.getStore();
    if (scope?.cancelled) throw new ClientError(`the ${scope.id} check was cut off ${this.halted ? "by the interrupt" : "by its time cap"}`);
    if (this.halted && !scope?.cleanup) throw new ClientError("the probe was interrupted");
  }

  /**
   * Interrupted: the checks running now are cut off (their sessions closed, their verdicts not
   * recorded) and none starts, so the scratch directory's removal has the server to itself. Before,
   * the run went on beside it on the shared session: a slow upload held the removal past its bound
   * and the directory was left.
   */
  halt(): void {
    this.halted = true;
    for (const scope of this.checksRunning) scope.cancelled = true;
    this.closeAll();
  }

  /** Run the scratch directory's removal: it may open sessions after halt(). */
  cleanup<T>(fn: () => Promise<T>): Promise<T> {
    return this.scope.run({ id: "clean-up", sessions: new Set(), cancelled: false, cleanup: true }, fn);
  }

  adoptMain(c: FtpClient): void {
    this.extra.delete(c);
    this.main = c;
  }

  dropMain(): void {
    this.main?.destroy();
    this.main = null;
  }

  /** Run a data command and collect everything the server sends. */
  async fetch(c: FtpClient, verb: string, arg?: string, opts: { mode?: DataMode; rest?: number } = {}): Promise<{ data: Buffer; reply: FtpReply }> {
    const t = await c.transfer(verb, arg, { mode: opts.mode ?? this.mode, rest: opts.rest });
    const chunks: Buffer[] = [];
    t.conn.onData((chunk) => chunks.push(chunk));
    try {
      await within(t.conn.closed, this.timeoutMs, `end of the ${verb} data`);
      const reply = await within(t.done, this.timeoutMs, `reply to ${verb}`);
      return { data: Buffer.concat(chunks), reply };
    } finally {
      t.conn.destroy();
    }
  }

  /** Run STOR/APPE with `data` (after REST `rest`); returns the final reply. */
  async send(c: FtpClient, verb: "STOR" | "APPE", name: string, data: Uint8Array, opts: { rest?: number } = {}): Promise<FtpReply> {
    this.created.add(name);
    const t = await c.transfer(verb, name, { mode: this.mode, rest: opts.rest });
    try {
      await within(t.conn.write(data), this.timeoutMs, "room to send the data");
      t.conn.shutdown();
      const reply = await within(t.done, this.timeoutMs, `reply to ${verb}`);
      await within(t.conn.closed, 2000, "close").catch(() => {});
      return reply;
    } finally {
      t.conn.destroy();
    }
  }

  /** Upload and insist on success. */
  async put(c: FtpClient, name: string, data: Uint8Array | string): Promise<void> {
    const r = await this.send(c, "STOR", name, typeof data === "string" ? Buffer.from(data) : data);
    if (r.code !== 226 && r.code !== 250) throw new ClientError(`STOR ${name}: ${line(r)}`);
  }

  /** Download and insist on success. */
  async get(c: FtpClient, name: string): Promise<Buffer> {
    const { data, reply } = await this.fetch(c, "RETR", name);
    if (reply.code !== 226 && reply.code !== 250) throw new ClientError(`RETR ${name}: ${line(reply)}`, { code: reply.code });
    return data;
  }

  /** Close every session the probe opened. */
  closeAll(): void {
    for (const c of this.extra) c.destroy();
    this.extra.clear();
    this.dropMain();
  }
}

/** 64 KiB that are neither text nor zeros, so a wrong offset or a conversion shows. */
export function sampleBytes(size = 65_536): Uint8Array {
  const out = new Uint8Array(size);
  let x = 0x9e3779b9;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length), Buffer.from(b.buffer, b.byteOffset, b.length)) === 0;
}

/** Parse `257 "path" …` (quotes inside the path are doubled, RFC 959 Appendix II). */
export function parse257(text: string): string | null {
  const m = /"((?:[^"]|"")*)"/.exec(text);
  return m ? m[1]!.replace(/""/g, '"') : null;
}
