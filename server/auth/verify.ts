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
    // Too costly a hash is never run (each attempt would take its memory or time: hashCostProblem).
    if (abandoned?.() || hashCostProblem(hash)) return false;
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
 * The most one password check may cost, in what a hash asks for. `ftpkit user add` makes argon2id
 * m=19456 KiB, t=2 (≈ 21 ms here); Bun's own default is m=65536, t=2. A hand-edited hash asking for
 * far more (m of 1 GiB or more, bcrypt cost 20) made each login attempt, a guesser's too, take that
 * memory or time from the server: a few guessers pinned its memory or every verify slot. Allowed,
 * with generous room: argon2 memory up to 256 MiB and memory × passes up to 1 GiB (≈ 0.7 s here: 27
 * times ours), bcrypt cost up to 14 (≈ 0.9 s; 16 times cost 10, the common default).
 */
export const MAX_ARGON2_MEMORY_KIB = 256 * 1024;
export const MAX_ARGON2_WORK_KIB = 1024 * 1024;
export const MAX_BCRYPT_COST = 14;

/** Why this server will not check a well-formed hash (its cost is above the caps), or null. */
export function hashCostProblem(hash: string): string | null {
  const argon = /^\$argon2(?:id|i|d)\$(?:v=\d+\$)?m=(\d+),t=(\d+),p=\d+\$/.exec(hash);
  if (argon) {
    const m = Number(argon[1]);
    const t = Number(argon[2]);
    if (m > MAX_ARGON2_MEMORY_KIB) return `argon2 m=${m} KiB is above the ${MAX_ARGON2_MEMORY_KIB} KiB (256 MiB) this server checks`;
    if (m * t > MAX_ARGON2_WORK_KIB) return `argon2 m=${m} KiB × t=${t} is above the ${MAX_ARGON2_WORK_KIB} KiB (1 GiB) of work this server checks`;
    return null;
  }
  const bcrypt = /^\$2[abxy]\$(\d\d)\$/.exec(hash);
  if (bcrypt && Number(bcrypt[1]) > MAX_BCRYPT_COST) return `bcrypt cost ${Number(bcrypt[1])} is above the ${MAX_BCRYPT_COST} this server checks`;
  return null;
}

/** Is this hash one Bun.password.verify can check (argon2 or bcrypt, whole), whatever it costs? */
export function isWellFormedHash(hash: string): boolean {
  return CHECKABLE_HASH.some((re) => re.test(hash));
}

/**
 * Can this hash ever match a password here? A crypt(3) hash from another server ("$6$…", "$1$…",
 * "$apr1$…") or an argon2 string cut short makes every login of its user fail like a wrong password;
 * one whose cost is above the caps (hashCostProblem) is never checked, so it fails too.
 */
export function isCheckableHash(hash: string): boolean {
  return isWellFormedHash(hash) && hashCostProblem(hash) === null;
}
