// What each load of the users file warns the admin about, the users kept working: a user no login
// can reach (a hash no check matches, require_tls without a certificate), a home or mount that
// serves the users file or the server's own files, a users file every local account can read.
// Apart from authenticator.ts, which decides who logs in: these only speak.
import { statSync } from "node:fs";
import { isS3Url } from "../../protocol/s3-url.ts";
import type { UserRecord } from "./types.ts";
import { hashCostProblem, isCheckableHash, isWellFormedHash } from "./verify.ts";
import { exposedFiles, type OwnFile } from "./served-files.ts";

/**
 * A password hash no check can match (another server's crypt(3) format, a hand-edited argon2
 * string cut short) locked its user out in silence: each login was "login failed" as for a wrong
 * password, counted toward a ban of the user's address. Said at each load, with the hash's scheme
 * only; the other users keep working. So is a require_tls user on a server without a certificate.
 */
export function warnLockedOut(usersFile: string, users: Iterable<UserRecord>, tlsAvailable: boolean | undefined, log: (msg: string) => void): void {
  for (const u of users) {
    // USER is refused until AUTH TLS, which a server without a certificate does not offer: locked out in silence too.
    if (u.requireTls && tlsAvailable === false) log(`users file ${usersFile}: ${u.name} has require_tls = true, but this server has no TLS certificate (--tls-cert and --tls-key), so ${u.name} cannot log in`);
    if (u.hash === undefined || isCheckableHash(u.hash)) continue;
    const costly = isWellFormedHash(u.hash) ? hashCostProblem(u.hash) : null;
    if (costly) {
      log(`users file ${usersFile}: ${u.name}'s password hash asks too much of each login (${costly}): it is not checked, so ${u.name} cannot log in until \`ftpkit user passwd ${u.name}\``);
      continue;
    }
    const scheme = /^\$[^$]*\$/.exec(u.hash)?.[0] ?? "$";
    log(`users file ${usersFile}: ${u.name}'s password hash (${scheme}…) is not argon2 or bcrypt, or is cut short: no password can match it, so ${u.name} cannot log in until \`ftpkit user passwd ${u.name}\``);
  }
}

/**
 * A home or mount that holds the users file lets its user download every hash (and, allowed to
 * write, rewrite the file): `ftpkit user` refuses to set one up, but a hand edit, or a file written
 * before it did, may have one; so may one that holds the server's TLS key or xferlog (ownFiles).
 * Said at each load, places and files followed through symlinks; the users keep working.
 */
export function warnExposedUsersFile(usersFile: string, users: Iterable<UserRecord>, ownFiles: readonly OwnFile[], log: (msg: string) => void): void {
  for (const line of exposedFiles(users, exposable(usersFile, ownFiles), (place) => !isS3Url(place))) {
    log(`users file ${usersFile}: ${line}`);
  }
}

/**
 * A users file every local account can read gives its password hashes away on a shared machine
 * (argon2id slows a guess; it does not stop one): said at each load, as the TLS key's mode is.
 * `ftpkit user` writes it 0600; a copy made with the default umask is 0644.
 */
export function warnReadableByAll(usersFile: string, log: (msg: string) => void): void {
  try {
    const mode = statSync(usersFile).mode & 0o777;
    if (mode & 0o004) log(`users file ${usersFile} can be read by every local user (mode ${mode.toString(8).padStart(4, "0")}), password hashes and all: \`chmod 600\` it`);
  } catch {
    /* gone meanwhile: the next load says so */
  }
}

/** The files no home or mount should hold: the users file and the server's own. */
export function exposable(usersFile: string, ownFiles: readonly OwnFile[]): OwnFile[] {
  const own: OwnFile = { path: usersFile, what: "the users file", risk: "download every password hash, and rewrite the file if allowed to write there" };
  return [own, ...ownFiles];
}
