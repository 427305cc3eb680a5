// The connections of a tree job: up to --parallel sessions take files from one list, each file's
// commands pipelined behind the previous one's checks; a session the server refuses (421) only
// means fewer, and a disk that refuses to store more stops new files from starting.
import { ClientError, type FtpClient } from "./client.ts";
import type { PlanItem } from "./tree-plan.ts";
import type { Listers } from "./tree-walk-list.ts";
import { consola, type Notifier } from "./messages.ts";
import type { Session } from "./session.ts";

/** A server full for now: a 421, or ProFTPD's "maximum number of clients" 530 (retryable, unlike a refused password). */
const saysFull = (err: unknown) => err instanceof ClientError && (err.code === 421 || (err.code === 530 && err.retryable));

/** Set once no further file should start (a disk, local or the server's, refuses to store more). */
export interface Halt {
  reason: string | null;
}

/**
 * Every connection of a tree job, and their one owner: the first (open before anything else), and
 * up to `want` - 1 more. Those are opened in the background as soon as the walk has more than one
 * directory ahead of it, or a new copy knows how many files it moves (`widen`), so their logins
 * overlap the listing instead of following it (as lftp's mirror does; vsftpd takes ~35 ms per login
 * here), and the walk lists over each of them as it becomes ready. A connection opened that way but
 * not needed is closed with the others.
 */
export class Connections implements Listers {
  /** Every session that opened, in the order they did. */
  readonly sessions: Session[];
  /** Connections being opened in the background, in order; the transfers take them with next(). */
  private readonly opening: Promise<Session>[] = [];
  private handedOut = 0;
  private ended = false;
  /** Sessions free for a listing, and the listings waiting for one. */
  private readonly idle: Session[];
  private readonly waiting: ((s: Session) => void)[] = [];

  /** Aborts the connections still being opened once the job no longer needs them. */
  private readonly unneeded = new AbortController();

  constructor(
    readonly first: Session,
    private readonly want: number,
    private readonly openOne: (signal: AbortSignal) => Promise<Session>,
    private readonly note: Notifier,
  ) {
    this.sessions = [first];
    this.idle = [first];
  }

  /** Open the other connections, up to `needed` with the first (more when asked again with more). */
  widen(needed = Infinity): void {
    if (this.ended) return;
    while (this.opening.length < Math.min(this.want, needed) - 1) {
      const opened = this.adopt(this.openOne(this.unneeded.signal));
      opened.then((s) => this.giveBackSession(s), () => {}); // a refusal is reported by next(), if the transfers need that one
      this.opening.push(opened);
    }
  }

  async borrow(): Promise<FtpClient> {
    const s = this.idle.pop() ?? (await new Promise<Session>((resolve) => this.waiting.push(resolve)));
    return s.client;
  }

  async retry(client: FtpClient, err: unknown, attempt: number): Promise<{ client: FtpClient; attempt: number } | null> {
    const s = this.sessions.find((x) => x.client === client);
    const reached = s ? await s.retryAfter(client, err, attempt, this.note) : null;
    return reached === null ? null : { client: s!.client, attempt: reached };
  }

  giveBack(client: FtpClient): void {
    const s = this.sessions.find((x) => x.client === client);
    if (s) this.giveBackSession(s);
  }

  private giveBackSession(s: Session): void {
    const waiter = this.waiting.shift();
    if (waiter) waiter(s);
    else this.idle.push(s);
  }

  /** For the transfers: the next connection besides the first, opened in the background or now. */
  next(): Promise<Session> {
    const opened = this.opening[this.handedOut] ?? this.adopt(this.openOne(this.unneeded.signal));
    this.handedOut++;
    return opened;
  }

  /** Own a connection being opened: listed once open; one that opens after the job ended is closed at once. */
  private adopt(opening: Promise<Session>): Promise<Session> {
    return opening.then((s) => {
      if (this.ended) {
        s.destroy();
        throw new ClientError("the job has ended");
      }
      this.sessions.push(s);
      return s;
    });
  }

  /**
   * Log out of every open connection; those still opening are dropped (a server that never answered
   * a spare connection's USER held the finished job for its 60 s timeout).
   */
  async close(): Promise<void> {
    this.ended = true;
    this.unneeded.abort();
    await Promise.allSettled(this.opening);
    await Promise.all(this.sessions.map((s) => s.close()));
  }

  /** Drop every connection at once (a failed job), those still opening too. */
  destroy(): void {
    this.ended = true;
    this.unneeded.abort();
    for (const s of this.sessions) s.destroy();
  }
}

/** What a file's work may ask of the pool that runs it. */
export interface Lane {
  /** The file's last command is on the wire: the next file may start behind it on this connection. */
  controlFree(): void;
  /** Put the file back on the list now, for whichever connection is free first. */
  again(): void;
}

/**
 * Run `work` over `items` on up to `want` sessions (the first already open, the others from `conns`). A session the server
 * refuses with 421 (too many connections) is not an error while another one works: the job goes on
 * with fewer. A file handed back (lane.again) goes to the end of `items` at once, for whichever
 * session is free first: no connection stops taking files while another file may still come back.
 * Returns how many items were started, and the error the last connection lost was lost to (if any).
 */
export async function runPool(items: PlanItem[], want: number, conns: Connections, work: (s: Session, item: PlanItem, lane: Lane) => Promise<void>, note: Notifier, halt: Halt): Promise<{ started: number; lostTo: unknown }> {
  let next = 0;
  let lostTo: unknown = null;
  let alive = 0;
  let refused = 0;
  /** Files started and not yet settled, on any connection: each may still come back. */
  let running = 0;
  let changed = Promise.withResolvers<void>();
  const wake = () => {
    changed.resolve();
    changed = Promise.withResolvers<void>();
  };
  const take = () => (halt.reason === null && next < items.length ? items[next++]! : null);
  /**
   * Reconnect `s` (dropped); false when the other connections took and finished every file meanwhile,
   * or the job halted (no file starts any more): the reconnection is given up then, so its backoff
   * does not hold the end of the job.
   */
  const replaced = async (s: Session): Promise<boolean> => {
    const unneeded = new AbortController();
    const reconnecting = s.reconnect(1, note, undefined, unneeded.signal);
    for (let settled = false; !settled; ) {
      if ((next >= items.length && running === 0) || halt.reason !== null) unneeded.abort();
      settled = await Promise.race([reconnecting.then(() => true, () => true), changed.promise.then(() => false)]);
    }
    try {
      await reconnecting;
      return true;
    } catch (err) {
      if (unneeded.signal.aborted) return false;
      throw err;
    }
  };
  // Resolved once the connected workers have ended with nothing left to take: a worker still
  // waiting for its connection then gives up on it instead of holding the job until it opens.
  let noneLeft!: () => void;
  const finished = new Promise<null>((resolve) => (noneLeft = () => resolve(null)));
  const worker = async (s: Session | null): Promise<void> => {
    if (!s) {
      if (next >= items.length) return;
      try {
        s = await Promise.race([conns.next(), finished]);
        if (s === null) return;
      } catch (err) {
        if (next >= items.length) return;
        if (alive === 0 && !saysFull(err)) throw err;
        refused++;
        if (saysFull(err) && refused === 1) note.warn(`the server refused more connections (${(err as ClientError).code}); continuing with fewer`);
        else if (!saysFull(err)) note.warn(`could not open another connection: ${(err as Error).message}; continuing with fewer`);
        return;
      }
    }
    const mine = s;
    alive++;
    // A file whose last command (HASH) is sent lets the next one start behind it on the same
    // connection; it finishes (reply, compare, rename) meanwhile. Only the unsettled ones are kept:
    // every file's promise, kept to the job's end, was 100,000 promises held by a 100,000-file job.
    const finishing = new Set<Promise<void>>();
    let lost = null as { err: unknown } | null; // set by a file whose work failed: this connection is done
    try {
      for (;;) {
        for (;;) {
          if (lost) throw lost.err;
          // A connection that dropped under its last file is replaced before it takes another (its
          // backoff holds only this worker; never reconnected just to end the job).
          if (mine.client.control.isClosed && halt.reason === null && next < items.length && !(await replaced(mine))) break;
          const item = take();
          if (!item) break;
          const freed = Promise.withResolvers<void>();
          const lane: Lane = {
            controlFree: () => freed.resolve(),
            again: () => {
              items.push(item);
              wake();
            },
          };
          running++;
          const whole = work(mine, item, lane)
            .catch((err) => void (lost ??= { err }))
            .finally(() => {
              finishing.delete(whole);
              running--;
              wake();
            });
          finishing.add(whole);
          await Promise.race([freed.promise, whole]);
        }
        if (halt.reason !== null) break;
        // Nothing to take, but a file still moving elsewhere may be handed back: wait for it.
        if (next >= items.length && running === 0) break;
        if (next >= items.length) await changed.promise;
      }
    } catch (err) {
      lostTo = err;
      note.warn(`a connection was lost: ${(err as Error).message}`);
    } finally {
      await Promise.allSettled(finishing); // every started file has its report before the job sums up
      alive--;
      if (alive === 0 && (next >= items.length || halt.reason !== null)) noneLeft();
    }
  };
  const extra = Math.min(want, Math.max(1, items.length)) - 1;
  await Promise.all([worker(conns.first), ...Array.from({ length: extra }, () => worker(null))]);
  if (refused > 0 && !note.progress) consola().info(`ran with ${want - refused} connection(s)`);
  return { started: next, lostTo };
}
