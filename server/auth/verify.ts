// Password checks (argon2id, bcrypt) for every LoginService: a bounded number at once, and none for a
// client that has gone.

/**
 * Password checks running at once: each costs 25–100 ms of a core (argon2id), so a crowd of
 * guessers queues here instead of taking every core from the sessions already logged in.
 */
const MAX_CONCURRENT_VERIFIES = Math.max(1, Math.min(4, Math.ceil((navigator.hardwareConcurrency || 2) / 2)));
let verifying = 0;
const verifyQueue: Array<() => void> = [];

/**
 * Bun.password.verify, at most MAX_CONCURRENT_VERIFIES at once. Unknown hash formats make it throw:
 * that is a failed login, not a crash. `abandoned` is asked when the check's turn comes: true (the
 * session that sent PASS has closed) skips the check, false. A client that sends USER and PASS
 * and hangs up is gone from the connection limits at once, while its check waited here: 3,000 such
 * connections in 3 s queued 3,000 checks, a real user's PASS behind them got 421 at the 30 s login
 * timeout, and the queue grew with every connection for as long as they came.
 */
export async function verifyPassword(password: string, hash: string, abandoned?: () => boolean): Promise<boolean> {
  if (verifying >= MAX_CONCURRENT_VERIFIES) await new Promise<void>((r) => verifyQueue.push(r));
  else verifying++;
  try {
    if (abandoned?.()) return false;
    return await Bun.password.verify(password, hash);
  } catch {
    return false;
  } finally {
    // Hand the slot straight to the next waiter (the count stays), or give it back.
    const next = verifyQueue.shift();
    if (next) next();
    else verifying--;
  }
}

/** The argon2 (PHC string) and bcrypt hashes Bun.password.verify checks; anything else it refuses to. */
const CHECKABLE_HASH = [
  /^\$argon2(?:id|i|d)\$(?:v=\d+\$)?m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/,
  /^\$2[abxy]\$\d\d\$[./A-Za-z0-9]{53}$/,
];

/**
 * Can this hash ever match a password? A crypt(3) hash from another server ("$6$…", "$1$…",
 * "$apr1$…") or an argon2 string cut short makes every login of its user fail like a wrong password.
 */
export function isCheckableHash(hash: string): boolean {
  return CHECKABLE_HASH.some((re) => re.test(hash));
}
