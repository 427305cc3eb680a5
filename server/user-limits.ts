// The rate limiters one account's sessions share (--max-user-rate, the HASH budget): held while a
// session of the account is logged in, and let go with its last one, so a server that has seen many
// accounts keeps limiters only for those logged in now.
import { RateLimiter } from "./data/rate.ts";

interface Entry {
  /** Logged-in sessions of the account. */
  sessions: number;
  rate?: RateLimiter;
  hash?: RateLimiter;
}

export class UserLimits {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly maxUserRate: number,
    private readonly hashBytesPerSec: number,
    /** This node's share of the user's rate (shared state: 1 / the nodes serving the user). */
    private readonly share: (user: string) => number,
  ) {}

  /** A session of `user` logged in: its shared bucket (--max-user-rate), if there is a limit. */
  login(user: string): RateLimiter | undefined {
    const e = this.entry(user);
    e.sessions++;
    if (this.maxUserRate <= 0) return undefined;
    return (e.rate ??= new RateLimiter(this.maxUserRate, () => this.share(user)));
  }

  /** A logged-in session of `user` ended: with the last one, its limiters go. */
  logout(user: string): void {
    const e = this.entries.get(user);
    if (!e) return;
    if (--e.sessions <= 0) this.entries.delete(user);
  }

  /** The account's HASH budget, shared by its sessions (one a logged-in session asks for). */
  hash(user: string): RateLimiter {
    const e = this.entries.get(user);
    // Not logged in (cannot happen: HASH needs a login): a budget of its own, kept by no one.
    if (!e) return new RateLimiter(this.hashBytesPerSec);
    return (e.hash ??= new RateLimiter(this.hashBytesPerSec));
  }

  /** Accounts whose limiters are held (for tests and metrics). */
  get size(): number {
    return this.entries.size;
  }

  private entry(user: string): Entry {
    let e = this.entries.get(user);
    if (!e) this.entries.set(user, (e = { sessions: 0 }));
    return e;
  }
}
