// SITE — RFC 959 §4.1.3: ftpkit's site commands (CHMOD, UMASK, QUOTA, HELP).
import type { CommandSpec } from "./types.ts";
import { PROCESS_UMASK, type Session } from "../session.ts";
import { FtpError } from "../../protocol/errors.ts";
import { formatSize } from "../../protocol/size.ts";
import { usageShown } from "../vfs/mounts.ts";
import { ROOT_MODE_REFUSED, StorageError } from "../storage/backend.ts";

export const site: CommandSpec = {
  verbs: ["SITE"],
  auth: true,
  arg: "required",
  help: "SITE CHMOD | SITE UMASK | SITE QUOTA | SITE HELP",
  async handle({ session, arg }) {
    const sub = arg.trim().split(/\s+/)[0]!.toUpperCase();
    if (sub === "HELP") {
      // CHMOD only where some place can set permission bits: on an all-S3 tree it always answers 550 (as MFMT leaves FEAT there).
      const chmodable = session.mounts.length === 0 || session.mounts.some((m) => m.storage.setMode);
      session.reply(214, [
        "SITE commands:",
        ...(chmodable ? ["CHMOD <mode> <path>: set a file's or directory's permission bits (e.g. 755)"] : []),
        "UMASK [mask]: show, or set for this session, the bits new files and directories leave out (e.g. 027)",
        "QUOTA: show your quota and usage",
        "End",
      ]);
      return;
    }
    // What follows CHMOD is kept whole (no trim): a path may end or begin with a space, as
    // lftp's "SITE CHMOD 644 ./trail.txt␠" says (trimmed, it named a file that is not there: 550).
    if (sub === "CHMOD") return chmod(session, arg.replace(/^\s*\S+ ?/, ""));
    if (sub === "UMASK") return umask(session, arg.trim().slice(sub.length).trim());
    // 500, as vsftpd, ProFTPD and Pure-FTPd answer (RFC 959 §5.4 lists 200, 202, 500, 501, 530 for
    // SITE): SITE IDLE (Pure-FTPd's) is among these.
    if (sub !== "QUOTA") throw new FtpError(500, "Unknown SITE command (try SITE HELP)");
    const lines = ["Quota status:"];
    for (const m of session.mounts) {
      if (m.vpath !== "/" && m.ledgerKey === session.mounts[0]!.ledgerKey) continue;
      const where = m.vpath === "/" ? "home" : m.vpath;
      if (!usageShown(session, m)) {
        const { limit } = m.ledger;
        lines.push(`${where}: ${limit > 0 ? `limit ${limit} bytes (${formatSize(limit)})` : "unlimited"}; usage not shown (others upload here)`);
        continue;
      }
      await m.ledger.measured();
      const { limit, used } = m.ledger;
      lines.push(
        limit > 0
          ? `${where}: used ${used} of ${limit} bytes (${formatSize(used)} of ${formatSize(limit)}), ${limit - Math.min(used, limit)} bytes available`
          : `${where}: used ${used} bytes (${formatSize(used)}), unlimited`,
      );
    }
    lines.push("End");
    session.reply(211, lines);
  },
};

/**
 * SITE CHMOD <mode> <path> (vsftpd, ProFTPD; `lftp mirror -R` and `ftpkit put -r` send it for
 * executables, FileZilla's permissions dialog for anything): the permission bits of a file or a
 * directory, where the storage has them; needs modify. Not on a home or mount root.
 */
async function chmod(session: Session, rest: string): Promise<void> {
  // One space, as vsftpd splits: the rest is the path. Octal as chmod(1) reads it: "64" is 064
  // (vsftpd and ProFTPD set it; it was 501 here).
  const m = /^([0-7]{1,4}) (.+)$/.exec(rest);
  if (!m) throw new FtpError(501, "Usage: SITE CHMOD <mode> <path>, e.g. SITE CHMOD 755 run.sh");
  const mode = parseInt(m[1]!, 8);
  if (mode > 0o777) throw new FtpError(550, "Only permission bits (000 to 777) can be set");
  const r = session.fs.resolve(m[2]!, "modify");
  // A home or mount root is the server's to keep usable (a shared mount is other users' too), as
  // it cannot be removed or renamed either.
  if (r.virtual) throw new FtpError(550, "Cannot change the permissions of a mount point");
  const storage = r.mount.storage;
  if (!storage.setMode) throw new FtpError(550, "Permissions cannot be set here");
  if (r.dirOnly) await session.fs.statStored(r); // "a.txt/": not a directory (chmod(2): ENOTDIR)
  await storage.setMode(r.key, mode).catch((err: unknown) => {
    // The root reached through a link to it (`self -> .`): refused as by its own path.
    if (err instanceof StorageError && err.message === ROOT_MODE_REFUSED) throw new FtpError(550, "Cannot change the permissions of a mount point");
    throw err;
  });
  session.reply(200, "SITE CHMOD command ok.");
}

/**
 * SITE UMASK [mask] (vsftpd's, with its replies): without a mask, "200 Your current UMASK is 022";
 * with one, it applies to the files and directories this session creates from then on (files 0666,
 * directories 0777, less the mask): "200 UMASK set to 027". The server process's umask stays in it:
 * the kernel applies it anyway, and the reply says what is in force. Where vsftpd reads "abc" or
 * "27x" as far as it is octal (0, 027), a mask that is not 1 to 4 octal digits is refused (501).
 */
function umask(session: Session, rest: string): void {
  if (rest === "") {
    session.reply(200, `Your current UMASK is ${octal(session.umask)}`);
    return;
  }
  if (!/^[0-7]{1,4}$/.test(rest)) throw new FtpError(501, "Usage: SITE UMASK [mask], e.g. SITE UMASK 027");
  session.umask = (parseInt(rest, 8) | PROCESS_UMASK) & 0o777;
  session.reply(200, `UMASK set to ${octal(session.umask)}`);
}

/** As vsftpd writes a mask: a 0, then the octal digits without leading zeros (0, 07, 022, 0777). */
function octal(mask: number): string {
  return mask === 0 ? "0" : `0${mask.toString(8)}`;
}
