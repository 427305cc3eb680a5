// USER/PASS checking for the server (RFC 959 §4.1.1): users file with hot reload, uniform failure
// timing and per-IP back-off (login-failures.ts), and a verified-credential cache so repeat logins skip argon2id.
// What each load warns the admin about is users-file-warnings.ts.
import { randomBytes } from "node:crypto";
import { lstatSync, watch, type FSWatcher } from "node:fs";
import { stat } from "node:fs/promises";
import { basename, dirname, resolve } from "node:path";
import { ANONYMOUS, ANONYMOUS_ALIAS, hashPassword, loadUsers, UsersFileError } from "./ini-store.ts";
import type { UserRecord } from "./types.ts";
import { loadUsersOffThread } from "./load-off-thread.ts";
import { warnMissingPlaces } from "./missing-places.ts";
import { VerifiedCredentials } from "./verified-cache.ts";
import { isCheckableHash, verifyPassword } from "./verify.ts";
import type { OwnFile } from "./served-files.ts";
import { exposable, warnExposedUsersFile, warnLockedOut, warnReadableByAll } from "./users-file-warnings.ts";
import { LoginFailures } from "./login-failures.ts";
import { containingLedgers, nestedLimits, type ContainingLedger, type NestedLimit } from "./nested-limits.ts";

export interface AuthenticatorOptions {
  usersFile: string;
  /** Every failed login takes at least this long in total (default 400 ms). */
  failDelayMs?: number;
  /** Extra delay per recent failure from the same IP (default 250 ms)… */
  failPenaltyMs?: number;
  /** …capped at this (default 3000 ms)… */
  failPenaltyMaxMs?: number;
  /** …and forgotten after this long without a failure (default 5 minutes). */
  failWindowMs?: number;
  /** Verified credentials remembered (default 10,000). */
  cacheSize?: number;
  log?: (msg: string) => void;
  /** The server's own files besides the users file (TLS key, xferlog): a home or mount holding one is warned about at each load. */
  ownFiles?: readonly OwnFile[];
  /** false: the server has no TLS certificate, so a require_tls user can never log in (said at each load). */
  tlsAvailable?: boolean;
  /** Shared state (issue 12): count a failure across nodes; resolves to the earlier failures in the window. */
  countFailure?: (ip: string, windowMs: number) => Promise<number>;
}

/**
 * A users file rewritten in place (same inode: nano, `cat >`, a tool writing into it) is read once
 * it has been still this long: read at once, a login during the write met a half-written file (its
 * later users missing, so their logins failed and counted toward a ban; a value cut short). A
 * replaced file (`ftpkit user`, an editor's rename-save) is whole when it appears: read at once.
 */
export const IN_PLACE_SETTLE_MS = 300;
/** The events of one save (a temp file written, then renamed over the users file) come within this. */
const CHANGE_COALESCE_MS = 20;

/** Checks logins against the users file; one instance per server. */
export class Authenticator {
  readonly usersFile: string;
  private readonly log: (msg: string) => void;
  private users = new Map<string, UserRecord>();
  /** stat signature of the file the current users came from ("" = missing). */
  private signature: string | null = null;
  /** Signature of a file that failed to load, so the error is logged once, not per login. */
  private badSignature: string | null = null;
  private reloading: Promise<void> | null = null;
  private readonly verified: VerifiedCredentials;
  /** Failed logins by address: the uniform delay and the back-off (login-failures.ts). */
  private readonly failures: LoginFailures;
  private dummyHash: Promise<string> | null = null;
  /** The last load's look at the local homes and mounts (missing-places.ts), run in the background: settled once its warnings are said. */
  placesChecked: Promise<void> = Promise.resolve();
  /**
   * inotify on the users file's folder: an edit is read when it is made, not at the next login (a
   * broken one is reported at once). Logins still stat the file (7 µs): the event can come after a
   * login that follows the edit at once (`ftpkit user quota …` then a client).
   */
  private watcher: FSWatcher | null = null;
  /** A users file was read successfully (a broken reload keeps the previous users and this). */
  private loaded = false;
  /** An in-place change being waited out (IN_PLACE_SETTLE_MS): its signature and when it was first seen. */
  private settling: { sig: string; since: number } | null = null;
  private settleTimer: ReturnType<typeof setTimeout> | null = null;
  /** A read the watcher asked for, coalescing the events of one save. */
  private changeTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(opts: AuthenticatorOptions) {
    this.usersFile = resolve(opts.usersFile);
    this.failures = new LoginFailures({
      failDelayMs: opts.failDelayMs ?? 400,
      penaltyMs: opts.failPenaltyMs ?? 250,
      penaltyMaxMs: opts.failPenaltyMaxMs ?? 3000,
      windowMs: opts.failWindowMs ?? 5 * 60_000,
      countFailure: opts.countFailure,
    });
    this.verified = new VerifiedCredentials(opts.cacheSize ?? 10_000);
    this.log = opts.log ?? ((msg) => console.error(msg));
    this.ownFiles = opts.ownFiles ?? [];
    this.tlsAvailable = opts.tlsAvailable;
  }

  private readonly tlsAvailable: boolean | undefined;

  private readonly ownFiles: readonly OwnFile[];

  /** Load the users file. Missing = no users (warned); invalid → throws UsersFileError. */
  async start(): Promise<void> {
    this.dummyHash ??= hashPassword(randomBytes(16).toString("hex"));
    const sig = await this.stat();
    this.users = await loadUsers(this.usersFile, { allowMissing: true });
    warnExposedUsersFile(this.usersFile, this.users.values(), this.ownFiles, this.log);
    warnReadableByAll(this.usersFile, this.log);
    warnLockedOut(this.usersFile, this.users.values(), this.tlsAvailable, this.log);
    this.placesChecked = warnMissingPlaces(this.usersFile, this.users.values(), this.log);
    this.signature = sig;
    this.loaded = sig !== "";
    if (sig === "") this.log(`users file ${this.usersFile} not found: no one can log in until it is created (ftpkit user add)`);
    else if (this.users.size === 0) this.log(`users file ${this.usersFile} has no users: no one can log in until one is added (ftpkit user add)`);
    this.watch();
    await this.dummyHash;
  }

  private watch(): void {
    if (this.watcher) return;
    // A symlinked users file changes where it points (`ftpkit user` writes the target), and no event
    // comes from this folder: such a file is stat'ed at every login instead, as without inotify.
    try {
      if (lstatSync(this.usersFile).isSymbolicLink()) return;
    } catch {}
    const name = basename(this.usersFile);
    try {
      // Watch the folder, not the file: an atomic save replaces the file's inode.
      this.watcher = watch(dirname(this.usersFile), (_event, changed) => {
        if (!changed || changed === name || changed.startsWith(`.${name}`)) this.changed();
      });
      this.watcher.on("error", () => {
        this.watcher?.close();
        this.watcher = null;
      });
      (this.watcher as { unref?: () => void }).unref?.();
    } catch {
      this.watcher = null; // no inotify: fall back to a stat per login
    }
  }

  /**
   * A change event: the file is read now (a replaced one), or once still (in place), not at the next
   * login. Read at a login only, what a broken edit kept was the users of the last login, not the
   * last good file: `ftpkit user add f1` then a typo, no login between, and f1 got 530 (counted toward
   * a ban), while the typo went unreported and /readyz counted the old users until someone logged in.
   * One save makes several events (its temp file, the rename): they share one read.
   */
  private changed(): void {
    if (this.changeTimer) return;
    this.changeTimer = setTimeout(() => {
      this.changeTimer = null;
      // A read under way may have begun before this change: the next one starts after it.
      void (this.reloading ?? Promise.resolve()).then(() => this.refresh());
    }, CHANGE_COALESCE_MS);
    (this.changeTimer as { unref?: () => void }).unref?.();
  }

  close(): void {
    if (this.settleTimer) clearTimeout(this.settleTimer);
    this.settleTimer = null;
    if (this.changeTimer) clearTimeout(this.changeTimer);
    this.changeTimer = null;
    this.watcher?.close();
    this.watcher = null;
    this.verified.clear();
    this.failures.clear();
  }

  /** Does any loaded account have require_tls? (FTPS login policy.) */
  anyRequiresTls(): boolean {
    for (const u of this.users.values()) if (u.requireTls && u.name !== ANONYMOUS) return true;
    return false;
  }

  /** For /readyz: users file loaded, user count, and up to `max` homes and mounts to check. */
  health(max = 8): { loaded: boolean; users: number; homes: string[]; stale: boolean } {
    const homes = new Set<string>();
    for (const u of this.users.values()) {
      if (homes.size >= max) break;
      homes.add(u.home);
      for (const m of u.mounts) if (homes.size < max) homes.add(m.dir);
    }
    return { loaded: this.loaded, users: this.users.size, homes: [...homes], stale: this.loaded && this.badSignature !== null };
  }

  /** The directories some account's mount sets a limit on (one set per load: it changes with the user records). */
  limitedDirs(): ReadonlySet<string> {
    if (this.limitedFor !== this.users) {
      this.limited = new Set([...this.users.values()].flatMap((u) => u.mounts.filter((m) => m.quota > 0).map((m) => m.dir)));
      this.limitedFor = this.users;
    }
    return this.limited;
  }

  private limited: ReadonlySet<string> = new Set();
  private limitedFor: Map<string, UserRecord> | null = null;

  /** The homes and mounts that hold a limited directory below them, and where (one map per load). */
  nestedLimits(): ReadonlyMap<string, readonly NestedLimit[]> {
    if (this.nestedFor !== this.users) {
      this.nested = nestedLimits(this.users.values(), this.limitedDirs());
      this.nestedFor = this.users;
    }
    return this.nested;
  }

  private nested: ReadonlyMap<string, readonly NestedLimit[]> = new Map();
  private nestedFor: Map<string, UserRecord> | null = null;

  /** The ledgers of the places above each home and mount (one map per load). */
  containers(): ReadonlyMap<string, readonly ContainingLedger[]> {
    if (this.containersFor !== this.users) {
      this.containing = containingLedgers(this.users.values(), this.limitedDirs());
      this.containersFor = this.users;
    }
    return this.containing;
  }

  private containing: ReadonlyMap<string, readonly ContainingLedger[]> = new Map();
  private containersFor: Map<string, UserRecord> | null = null;

  places(): string[] {
    const out = new Set<string>();
    for (const u of this.users.values()) {
      out.add(u.home);
      for (const m of u.mounts) out.add(m.dir);
    }
    return [...out];
  }

  /** SIGHUP: read the file again now, changed or not. A broken or deleted file keeps the previous users (ok false). */
  async reload(): Promise<{ ok: boolean; users: number }> {
    if (this.reloading) await this.reloading;
    this.signature = null;
    this.badSignature = null;
    await this.refresh();
    return { ok: this.badSignature === null, users: this.users.size };
  }

  /** The user as currently loaded (no reload check: call refresh() first for the file as it is now). */
  lookup(name: string): UserRecord | undefined {
    return this.users.get(name);
  }

  /**
   * The user on success; null on any failure, after a uniform delay. Never throws for bad input.
   * `abandoned`: the client has gone (checked when the password check's turn comes; then no check, no delay).
   */
  async login(user: string, password: string, remoteIp: string, abandoned?: () => boolean): Promise<UserRecord | null> {
    const started = performance.now();
    this.failures.sweep(performance.now());
    await this.refresh();
    const lower = user.toLowerCase();
    const name = lower === ANONYMOUS || lower === ANONYMOUS_ALIAS ? ANONYMOUS : user;
    const record = this.users.get(name);
    if (record && name === ANONYMOUS && !record.hash) return record;
    // A hash no check can match, or one too costly to check (verify.ts), costs the dummy's check: the same time as any failure.
    if (record?.hash && isCheckableHash(record.hash)) {
      if (this.verified.has(name, password, record.hash)) return record;
      if (await verifyPassword(password, record.hash, abandoned)) {
        this.verified.remember(name, password, record.hash);
        return record;
      }
    } else {
      // Unknown user, one without a password or with an unusable hash: pay the same argon2id cost as a real check.
      this.dummyHash ??= hashPassword(randomBytes(16).toString("hex"));
      await verifyPassword(password, await this.dummyHash, abandoned);
    }
    if (abandoned?.()) return null;
    await this.failures.fail(remoteIp, started);
    return null;
  }

  /**
   * Reload if the file's stat signature changed; a broken or deleted one keeps the previous users. Cheap
   * enough to run before every USER: a stat, and a parse only when the file changed. login() runs it too.
   */
  async refresh(): Promise<void> {
    if (this.reloading) return this.reloading;
    const sig = await this.stat();
    if (this.reloading) return this.reloading; // another login started the reload meanwhile
    if (sig === this.signature || sig === this.badSignature) return;
    if (this.stillBeingWritten(sig)) return;
    // Gone after a good load: an editor's rename-save, a tool replacing it, or a mistaken rm. Like a
    // corrupt file, it keeps the last good users (said once) until a file is there again.
    if (sig === "" && this.loaded) {
      this.badSignature = sig;
      this.log(`users file ${this.usersFile} is gone (removed, or being replaced); keeping the previous users (${this.users.size}) until it is back`);
      return;
    }
    // After a line that said the file was broken, gone or not found, one that says it applies again:
    // else the log's last word on it stayed "keeping the previous users" once the fix was in.
    const said = sig === "" ? null : this.badSignature !== null ? "read again, in place of the last good one's users" : this.signature === "" ? "found" : null;
    this.reloading = (async () => {
      try {
        // Off the event loop: sessions keep being served while a big file is parsed.
        const { users, exposed, placesChecked } = await loadUsersOffThread(this.usersFile, { allowMissing: sig === "", allowEmpty: false }, exposable(this.usersFile, this.ownFiles), this.log);
        if (said) this.log(`users file ${this.usersFile} ${said}: ${users.size} user${users.size === 1 ? "" : "s"}`);
        this.users = users;
        for (const line of exposed) this.log(`users file ${this.usersFile}: ${line}`);
        warnReadableByAll(this.usersFile, this.log);
        warnLockedOut(this.usersFile, this.users.values(), this.tlsAvailable, this.log);
        this.placesChecked = placesChecked;
        this.signature = sig;
        this.badSignature = null;
        this.loaded = sig !== "";
        this.verified.clear();
      } catch (err) {
        this.badSignature = sig;
        const msg = err instanceof UsersFileError ? err.message : `users file ${this.usersFile}: ${(err as Error).message}`;
        this.log(`${msg}; keeping the previous users`);
      } finally {
        this.reloading = null;
      }
    })();
    return this.reloading;
  }

  /**
   * A change in place not yet still for IN_PLACE_SETTLE_MS: the current users stay, and a check is due
   * when it may be (logins between keep the users they had). SIGHUP's reload() reads at once.
   * Still means still by the file's own times too: a login is the first to see an edit where no
   * inotify event comes (a symlinked file, a network filesystem), and the file written minutes ago
   * must not make it wait (carol, added by hand an hour before, got 530 at her first login, counted
   * toward a ban). The time this process first saw the signature stays a bound of its own, for a
   * file whose times are not of our clock (a network filesystem's, ahead of ours).
   */
  private stillBeingWritten(sig: string): boolean {
    const inode = (x: string | null) => (x ? x.split(":")[0] : null);
    const before = inode(this.signature) ?? inode(this.badSignature);
    if (!before || inode(sig) !== before) {
      this.settling = null;
      return false;
    }
    const now = Date.now();
    const [, , mtimeMs, ctimeMs] = sig.split(":").map(Number);
    if (now - Math.max(mtimeMs!, ctimeMs!) >= IN_PLACE_SETTLE_MS) {
      this.settling = null;
      return false;
    }
    if (this.settling?.sig !== sig) this.settling = { sig, since: now };
    if (now - this.settling.since >= IN_PLACE_SETTLE_MS) {
      this.settling = null;
      return false;
    }
    if (!this.settleTimer) {
      this.settleTimer = setTimeout(() => {
        this.settleTimer = null;
        void this.refresh();
      }, IN_PLACE_SETTLE_MS - (now - this.settling.since) + 5);
      (this.settleTimer as { unref?: () => void }).unref?.();
    }
    return true;
  }

  private async stat(): Promise<string> {
    try {
      const s = await stat(this.usersFile);
      // ino catches an atomic rename that kept the same size within one mtime tick.
      return `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
    } catch {
      return "";
    }
  }

  /**
   * Failed logins from `remoteIp` (its /64 for IPv6) within the back-off window as last counted, on
   * every process and node sharing state (the login-failed event's count). Not a ban's count: this
   * window runs from the last failure, so failures spaced wider than --ban-window add up here.
   */
  failuresFrom(remoteIp: string): number {
    return this.failures.everywhere(remoteIp);
  }

  /** Addresses whose failures are remembered now. */
  get failingAddresses(): number {
    return this.failures.size;
  }
}
