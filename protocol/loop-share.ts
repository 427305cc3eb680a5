// A long loop's share of the event loop. Reads from the page cache never wait, writes to a peer
// that keeps up never wait for drain, and an async generator's yield is only a microtask: a loop
// made of these holds every other connection, timer and accept until it ends (measured in the
// server: a NOOP on another session waited 8.4 s during an 8 GiB RETR to curl, and 0.4 s during
// a LIST of 100,000 files). A turn every few milliseconds costs nothing measurable.

/** Longest stretch a loop runs without giving the event loop a turn. */
const TURN_EVERY_MS = 4;

export class LoopShare {
  private at = performance.now();

  /**
   * Whether a turn is due. A loop over many small items checks this first: awaiting turn() on every
   * item cost 10–50 ms per 100,000 items (a promise each), checking first 3 ms.
   */
  due(): boolean {
    return performance.now() - this.at >= TURN_EVERY_MS;
  }

  /** Resolves at once, or after one turn of the event loop once TURN_EVERY_MS have passed. */
  async turn(): Promise<void> {
    if (!this.due()) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.at = performance.now();
  }
}
