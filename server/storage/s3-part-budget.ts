// The memory of S3 part uploads in flight, shared by every upload of the process. Each upload sends
// up to PARTS_IN_FLIGHT parts of 8 MiB at once; without a cap, 50 STORs into a slow (or frozen)
// store held 1.36 GiB of parts and buffers, ~27 MiB each, with no bound but --max-connections. A part
// goes out only once its bytes fit in the budget; the upload meanwhile waits (in turn: first come,
// first booked), and so does its client (TCP).

/** What the parts in flight of all S3 uploads of a process into one store may hold: 32 parts of 8 MiB. */
export const PART_BUDGET_BYTES = 256 * 1024 * 1024;

interface Waiter {
  n: number;
  booked: (yes: boolean) => void;
}

export class PartBudget {
  private held = 0;
  private readonly queue: Waiter[] = [];

  constructor(
    /** Bytes; a part is always let through when nothing is held (a 64 MiB part over a small limit). */
    public limit: number,
  ) {}

  /** Bytes of parts in flight now. */
  get inUse(): number {
    return this.held;
  }

  /** Whether uploads wait for room (a finished part's buffer is then let go, not kept as a spare). */
  get pressed(): boolean {
    return this.queue.length > 0;
  }

  private fits(n: number): boolean {
    return this.held === 0 || this.held + n <= this.limit;
  }

  /** Book `n` bytes now if they fit and nobody waits before; false books nothing. */
  take(n: number): boolean {
    if (this.queue.length > 0 || !this.fits(n)) return false;
    this.held += n;
    return true;
  }

  /** Book `n` bytes, in turn: true once booked, false if `signal` aborted first (nothing booked). */
  book(n: number, signal: AbortSignal): Promise<boolean> {
    if (signal.aborted) return Promise.resolve(false);
    if (this.take(n)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const w: Waiter = {
        n,
        booked: (yes) => {
          signal.removeEventListener("abort", gone);
          resolve(yes);
        },
      };
      const gone = () => {
        const i = this.queue.indexOf(w);
        if (i < 0) return;
        this.queue.splice(i, 1);
        w.booked(false);
        this.serve(); // the one behind may fit where this one did not
      };
      signal.addEventListener("abort", gone);
      this.queue.push(w);
    });
  }

  give(n: number): void {
    this.held -= n;
    this.serve();
  }

  /** Book for the waiters at the head of the queue while they fit. */
  private serve(): void {
    while (this.queue.length > 0 && this.fits(this.queue[0]!.n)) {
      const w = this.queue.shift()!;
      this.held += w.n;
      w.booked(true);
    }
  }
}

/**
 * The budget of one object store (endpoint): a store that stops answering holds its uploads' parts
 * for their deadlines (minutes), and must not stop the uploads of a server (the package API can run
 * several) into another store meanwhile. Tests may lower a budget's limit.
 */
const budgets = new Map<string, PartBudget>();

export function partBudgetOf(endpoint: string): PartBudget {
  let b = budgets.get(endpoint);
  if (!b) budgets.set(endpoint, (b = new PartBudget(PART_BUDGET_BYTES)));
  return b;
}
