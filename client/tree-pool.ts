// The connections of a tree job: up to --parallel sessions take files from one list, each file's
// commands pipelined behind the previous one's checks; a session the server refuses (421) only
// means fewer, and a disk that refuses to store more stops new files from starting.
import { ClientError } from "./client.ts";
import type { PlanItem } from "./tree-plan.ts";
import { consola, type Notifier, type Session } from "./session.ts";

const is421 = (err: unknown) => err instanceof ClientError && err.code === 421;

/** Set once no further file should start (a disk, local or the server's, refuses to store more). */
export interface Halt {
  reason: string | null;
}

/**
 * Run `work` over `items` on up to `want` sessions (the first already open). A session the server
 * refuses with 421 (too many connections) is not an error while another one works: the job goes on
 * with fewer. A file whose work answers "again" goes back at the end of `items` (a retry on whatever
 * session takes it). Returns how many items were started.
 */
export async function runPool(
  items: PlanItem[],
  want: number,
  first: Session,
  sessions: Session[],
  open: () => Promise<Session>,
  work: (s: Session, item: PlanItem, controlFree: () => void) => Promise<"again" | void>,
  note: Notifier,
  halt: Halt,
): Promise<number> {
  let next = 0;
  let alive = 0;
  let refused = 0;
  const take = () => (halt.reason === null && next < items.length ? items[next++]! : null);
  const worker = async (s: Session | null): Promise<void> => {
    if (!s) {
      if (next >= items.length) return;
      try {
        s = await open();
      } catch (err) {
        if (next >= items.length) return;
        if (alive === 0 && !is421(err)) throw err;
        refused++;
        if (is421(err) && refused === 1) note.warn(`the server refused more connections (421); continuing with fewer`);
        else if (!is421(err)) note.warn(`could not open another connection: ${(err as Error).message}; continuing with fewer`);
        return;
      }
      sessions.push(s);
    }
    alive++;
    // A file whose last command (HASH) is sent lets the next one start behind it on the same
    // connection; it finishes (reply, compare, rename) meanwhile.
    const finishing: Promise<void>[] = [];
    try {
      for (;;) {
        for (let item = take(); item; item = take()) {
          let free!: () => void;
          const freed = new Promise<void>((r) => (free = r));
          const whole = work(s, item, free).then((again) => void (again && items.push(item)));
          whole.catch(() => {}); // observed below, with the others
          finishing.push(whole);
          await Promise.race([freed, whole]);
        }
        await Promise.all(finishing);
        // A file that finished last may have gone back to the list: this worker takes it.
        if (halt.reason !== null || next >= items.length) break;
      }
    } catch (err) {
      note.warn(`a connection was lost: ${(err as Error).message}`);
    } finally {
      await Promise.allSettled(finishing); // every started file has its report before the job sums up
      alive--;
    }
  };
  const extra = Math.min(want, Math.max(1, items.length)) - 1;
  await Promise.all([worker(first), ...Array.from({ length: extra }, () => worker(null))]);
  if (refused > 0 && !note.progress) consola().info(`ran with ${want - refused} connection(s)`);
  return next;
}
