// Waiting with a deadline, leaving nothing behind.

/**
 * `work`, or `ms` if that comes first. The deadline's timer is cleared either way: a Bun.sleep that
 * lost its race stayed pending, and kept a process that embeds the server (startServer in a
 * script) alive for up to its full length after close().
 */
export async function within(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([work, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
