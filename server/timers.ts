// Waiting with a deadline, leaving nothing behind.

/** The longest delay one timer takes (about 24.8 days): a longer one fires after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * `work`, or `ms` if that comes first. The deadline's timer is cleared either way: a Bun.sleep that
 * lost its race stayed pending, and kept a process that embeds the server (startServer in a
 * script) alive for up to its full length after close(). A deadline beyond one timer's reach is
 * waited for in steps: as one timer, `--shutdown-grace 2160000` ended each wait of a shutdown after
 * 1 ms, which then polled its running transfers every millisecond.
 */
export async function within(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = performance.now() + ms;
  const arm = (resolve: () => void) => {
    const left = deadline - performance.now();
    timer = left > MAX_TIMER_MS ? setTimeout(() => arm(resolve), MAX_TIMER_MS) : setTimeout(resolve, Math.max(0, left));
  };
  try {
    await Promise.race([work, new Promise<void>(arm)]);
  } finally {
    clearTimeout(timer);
  }
}
