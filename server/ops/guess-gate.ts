// Password checks in flight from one address: never more than the failures its ban still allows.
// A failure is counted (and a ban taken) only after the uniform failed-login delay, so guesses sent
// side by side on many connections were all checked before the first one counted: --ban-after 3
// let a dozen through, a right password among them logging in. Here the check past the budget waits
// for one in flight to end, then finds the ban in force (or a budget left, if that one succeeded).
import { banKey } from "../../protocol/cidr.ts";

interface Turns {
  inFlight: number;
  /** Checks waiting for a turn: woken each time one ends, to look again. */
  waiting: Set<() => void>;
}

export class GuessGate {
  private readonly byAddress = new Map<string, Turns>();

  /**
   * Wait for a turn to check a password from `ip` (`left()`: failures the address may still make
   * before its ban, Infinity when it cannot be banned). Resolves with the turn's release, to call
   * once the check ended and its failure (if any) was counted; or when `gone` aborts (the turn's
   * release is then a no-op). Entries live only while a check is in flight or waiting.
   */
  async turn(ip: string, left: () => number, gone: AbortSignal): Promise<() => void> {
    const key = banKey(ip);
    let t = this.byAddress.get(key);
    if (!t) this.byAddress.set(key, (t = { inFlight: 0, waiting: new Set() }));
    const turns = t;
    // One check always runs: with none in flight, a budget used up means a ban is on its way or over.
    while (turns.inFlight > 0 && turns.inFlight >= left()) {
      if (gone.aborted) return this.leave(key, turns, false);
      await new Promise<void>((resolve) => {
        const wake = () => {
          turns.waiting.delete(wake);
          gone.removeEventListener("abort", wake);
          resolve();
        };
        turns.waiting.add(wake);
        gone.addEventListener("abort", wake, { once: true });
      });
    }
    if (gone.aborted) return this.leave(key, turns, false);
    turns.inFlight++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      turns.inFlight--;
      this.leave(key, turns, true);
    };
  }

  /** Addresses with a check in flight or waiting. */
  get size(): number {
    return this.byAddress.size;
  }

  private leave(key: string, turns: Turns, ended: boolean): () => void {
    const woken = ended ? [...turns.waiting] : [];
    for (const wake of woken) wake();
    // Woken checks still use this entry (they look again, then take a turn or leave): kept till they do.
    if (turns.inFlight === 0 && turns.waiting.size === 0 && woken.length === 0) this.byAddress.delete(key);
    return () => {};
  }
}
