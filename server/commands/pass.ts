// PASS — RFC 959 §4.1.1: the password for the account named by USER.
import type { CommandSpec } from "./types.ts";
import { FtpError } from "../../protocol/errors.ts";
import { UsageUnmeasured } from "../vfs/quota.ts";
import { StorageError } from "../storage/backend.ts";
import { tickets } from "../connection-gate.ts";
import type { Session } from "../session.ts";
import type { UserRecord } from "../auth/types.ts";
import { acquireMounts, forgetMounts, releaseMounts, type Mount } from "../vfs/mounts.ts";

/**
 * The name a failed login is logged and told to hooks under: up to its first ":", "@", space or tab,
 * then "***" (no account name holds one): `USER alice:secret` or `USER alice secret` (clients' ways
 * to send both at once) put the password in the log and in the hook's FTPKIT_USER. Anything else
 * is logged as sent (the log escapes control characters).
 */
export function nameForLog(name: string): string {
  const cut = name.search(/[:@ \t]/);
  return cut < 0 ? name : `${name.slice(0, cut + 1)}***`;
}

/** Failed PASS attempts per connection (--max-login-attempts ends it with 421). */
const failedAttempts = new WeakMap<Session, number>();

export const pass: CommandSpec = {
  verbs: ["PASS"],
  auth: false,
  arg: "optional",
  help: "PASS <password>: the password for USER",
  async handle({ session, arg }) {
    if (session.user) throw new FtpError(503, "Already logged in");
    const name = session.pendingUser;
    if (name === null) throw new FtpError(503, "Login with USER first");
    session.pendingUser = null;
    const { server } = session;
    // Guesses sent side by side: only as many are checked at once as the address's ban allows.
    const endTurn = await server.events.guessTurn(session);
    let user: UserRecord | null;
    try {
      // Banned since this session connected (or while it waited its turn; on another process
      // sharing state, whose announcement can come after the connection was let in): not tried.
      if (session.closed) return;
      if (server.events.banned(session.remoteIp)) {
        session.replyAndClose(421, "Too many failed logins from your address: try again later");
        return;
      }
      user = await server.auth.login(name, arg, session.remoteIp, () => session.closed);
      if (session.closed) return;
      if (!user) {
        const failed = (failedAttempts.get(session) ?? 0) + 1;
        failedAttempts.set(session, failed);
        const shown = nameForLog(name);
        server.log.warn("login failed", { session: session.id, ip: session.remoteIp, user: shown, attempt: failed });
        server.events.emit({ type: "login-failed", session, user: shown, failures: server.auth.failuresFrom?.(session.remoteIp) });
        // A ban this failure triggers is in force on every process before the 530 goes out. (It counts
        // failures within --ban-window, not the back-off's count, whose window runs from the last one.)
        await server.events.failedLogin(session);
        if (session.closed) return;
        if (failed >= server.options.maxLoginAttempts) {
          server.log.warn("too many failed logins: connection closed", { session: session.id, ip: session.remoteIp });
          session.reply(530, "Login incorrect");
          session.replyAndClose(421, "Too many failed login attempts; closing control connection");
          return;
        }
        throw new FtpError(530, "Login incorrect");
      }
    } finally {
      endTurn();
    }
    // require_tls (the users file may have been reloaded since USER, which checked it first).
    if (await server.loginTlsRefusal?.(session, name)) {
      server.log.warn("login refused: TLS required", { session: session.id, ip: session.remoteIp, user: name });
      throw new FtpError(530, "Login incorrect");
    }
    let mounts: Mount[] | null = null;
    session.openingHome = true;
    try {
      mounts = await acquireMounts(user, server, {
        s3Endpoint: server.options.s3Endpoint,
        keyLock: server.state.keyLock ?? null,
        sharedNames: server.state.kind !== "local",
        // Alone, the server removes the temp directories it made when it stops (if empty); shared, sibling processes use them.
        ownTempDir: server.state.kind === "local" ? (root, remove) => server.tempDirsMade.set(root, remove) : undefined,
        staleUploads: { ageMs: server.options.s3StaleUploadMs, log: (event, fields) => server.log.warn(event, fields) },
        nameBudget: server.nameLists,
        limitedDirs: server.auth.limitedDirs?.(),
        nestedLimits: server.auth.nestedLimits?.(),
        containers: server.auth.containers?.(),
        log: (event, fields) => server.log.error(event, fields),
        warn: (event, fields) => server.log.warn(event, fields),
      });
    } catch (err) {
      // acquireMounts gave its ledgers back.
      // A place the quota counts failing for now (a local home out of descriptors): not the shared
      // state, which this login said was away (under --workers or --state only).
      if (err instanceof UsageUnmeasured) {
        server.log.error("login refused: quota usage cannot be measured", { session: session.id, user: user.name });
        session.replyAndClose(421, "Service not available (storage unreachable), try again later");
        return;
      }
      // Shared state away: the quota cannot be known, so the login waits for the store (issue 12).
      if (err instanceof FtpError && err.code === 451) {
        server.log.error("login refused: shared state unreachable", { session: session.id, user: user.name });
        session.replyAndClose(421, "Service not available (shared state unreachable), try again later");
        return;
      }
      forgetMounts(server.plans, user);
      // The cause (e.g. "the bucket does not exist") is for the log only; the client learns no place.
      const reason = err instanceof StorageError ? err.message : "unavailable";
      // The object store not answering is a moment's outage, as the shared state's: 421 tells a
      // client to come back (530 read as a refused login, and ftpkit's client and cron jobs gave up).
      // A missing bucket or refused credentials stay 530: a setting to fix.
      if (err instanceof StorageError && err.outage) {
        server.log.error("login refused: home directory unreachable", { session: session.id, user: user.name, reason });
        session.replyAndClose(421, "Service not available (storage unreachable), try again later");
        return;
      }
      server.log.error("login refused: home directory unavailable", { session: session.id, user: user.name, reason });
      throw new FtpError(530, "Login failed: home directory unavailable");
    } finally {
      session.openingHome = false;
    }
    if (session.closed) {
      releaseMounts(mounts, server.quotas);
      return;
    }
    session.mounts = mounts;
    session.user = user;
    // Cut: a log field, not storage for whatever a client sends.
    if (user.name === "anonymous") session.anonymousIdent = arg.slice(0, 128);
    session.cwd = "/";
    session.limiters = server.limitersFor(user.name);
    server.state.userRateShare(user.name, true);
    tickets.get(session)?.login(); // no longer counted among the connections that have not logged in
    server.log.info("login", { session: session.id, ip: session.remoteIp, user: user.name });
    server.events.emit({ type: "login", session });
    session.reply(230, "Login successful");
    // After the reply: a killed server's temp files come off the disk now, not at this user's next upload.
    for (const m of mounts) m.storage.sweepLeftovers?.();
  },
};
