// Logins given inline (`serve --root DIR --user NAME:PASS`, `startServer({ users })`): no users file.
// Passwords are hashed with argon2id at start() and the plain text is dropped; nothing is written.
// Repeat logins are checked against the verified-credential cache, as with a users file.
import { randomBytes } from "node:crypto";
import { ANONYMOUS, ANONYMOUS_ALIAS, hashPassword, validateUserName } from "./ini-store.ts";
import { ParseError } from "../../protocol/errors.ts";
import type { LoginService } from "../context.ts";
import type { Perm, UserRecord } from "./types.ts";
import { VerifiedCredentials } from "./verified-cache.ts";
import { verifyPassword } from "./verify.ts";

/** One inline account. `password` undefined is only allowed for `anonymous` (any password). */
export interface InlineUser {
  name: string;
  password?: string;
  /** Absolute real directory. */
  home: string;
  perms: Perm[];
  /** Bytes, 0 = unlimited. */
  quota?: number;
}

const NO_LIMITED_DIRS: ReadonlySet<string> = new Set();

/** How its errors name the option that turns anonymous logins on: `serve`'s flag, or startServer's option (cli/api.ts). */
export interface InlineLoginWords {
  anonymous: string;
}

const SERVE_WORDS: InlineLoginWords = { anonymous: "--anonymous" };

/** Checks logins against accounts held in memory; same uniform failure delay as the users file. */
export class MemoryLogins implements LoginService {
  private users = new Map<string, UserRecord>();
  private pending: InlineUser[] | null;
  private dummyHash: string | null = null;
  private readonly verified = new VerifiedCredentials();

  constructor(
    users: InlineUser[],
    private readonly failDelayMs = 400,
    words: InlineLoginWords = SERVE_WORDS,
  ) {
    const seen = new Set<string>();
    for (const u of users) {
      const lower = u.name.toLowerCase();
      const isAnonymous = lower === ANONYMOUS || lower === ANONYMOUS_ALIAS;
      if (!isAnonymous) validateUserName(u.name);
      // "ftp" and "anonymous" log in with any password: one given here would protect nothing.
      else if (u.password !== undefined) throw new ParseError(`"${u.name}" is the anonymous login, which takes any password: use ${words.anonymous} for read-only anonymous access, or choose another user name`);
      const name = isAnonymous ? ANONYMOUS : u.name;
      // ParseError, as validateUserName's: a bad value given (the API's "option"), not a failure here.
      if (seen.has(name)) throw new ParseError(`user "${name}" is given twice`);
      seen.add(name);
      if (!isAnonymous && (u.password === undefined || u.password === "")) throw new ParseError(`user "${u.name}" needs a password`);
    }
    this.pending = users;
  }

  async start(): Promise<void> {
    const list = this.pending ?? [];
    this.pending = null;
    const isAnonymous = (u: InlineUser) => [ANONYMOUS, ANONYMOUS_ALIAS].includes(u.name.toLowerCase());
    // All at once (Bun hashes on its thread pool): one after another, a user and the dummy took twice
    // one argon2id's time at every start of a throwaway server (startServer, serve --root).
    const dummy = this.dummyHash ?? hashPassword(randomBytes(16).toString("hex"));
    const [dummyHash, ...hashes] = await Promise.all([dummy, ...list.map((u) => (isAnonymous(u) ? undefined : hashPassword(u.password!)))]);
    this.dummyHash = dummyHash;
    for (const [i, u] of list.entries()) {
      const anonymous = isAnonymous(u);
      this.users.set(anonymous ? ANONYMOUS : u.name, {
        name: anonymous ? ANONYMOUS : u.name,
        hash: hashes[i],
        home: u.home,
        quota: u.quota ?? 0,
        perms: [...u.perms],
        mounts: [],
        requireTls: false,
      });
    }
  }

  lookup(name: string): UserRecord | undefined {
    return this.users.get(name);
  }

  async login(user: string, password: string, _remoteIp?: string, abandoned?: () => boolean): Promise<UserRecord | null> {
    const started = performance.now();
    const lower = user.toLowerCase();
    const record = this.users.get(lower === ANONYMOUS || lower === ANONYMOUS_ALIAS ? ANONYMOUS : user);
    if (record && !record.hash) return record;
    if (record?.hash && this.verified.has(record.name, password, record.hash)) return record;
    // Unknown users pay the same argon2id cost as known ones, so timing does not reveal names.
    const ok = await verifyPassword(password, record?.hash ?? this.dummyHash ?? "", abandoned);
    if (record?.hash && ok) {
      this.verified.remember(record.name, password, record.hash);
      return record;
    }
    if (abandoned?.()) return null;
    const wait = this.failDelayMs - (performance.now() - started);
    if (wait > 0) await Bun.sleep(wait);
    return null;
  }

  /**
   * For /readyz: the accounts (in memory, nothing to load) and up to `max` of their homes to check:
   * `serve --root` and startServer's root. Without it the probe checked no place at all ("0/0 homes
   * reachable", 200) while the root was gone and every login failed.
   */
  health(max = 8): { loaded: boolean; users: number; homes: string[] } {
    const homes = new Set<string>();
    for (const u of this.users.values()) if (homes.size < max) homes.add(u.home);
    return { loaded: true, users: this.users.size, homes: [...homes] };
  }

  /** Inline accounts have no mounts, so no directory limit (their homes book no "dir:" ledger). */
  limitedDirs(): ReadonlySet<string> {
    return NO_LIMITED_DIRS;
  }

  close(): void {}
}

