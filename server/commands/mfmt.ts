// MFMT — draft-somers-ftp-mfxx §3: set a file's modification time (UTC); needs modify.
import type { CommandSpec } from "./types.ts";
import type { Session } from "../session.ts";
import { FtpError, ParseError } from "../../protocol/errors.ts";
import { formatTimeVal, parseTimeVal } from "../../protocol/listing.ts";


/**
 * "YYYYMMDDHHMMSS[.fraction] path" (RFC 3659 time-val: any number of fraction digits): the time and the path, or null when the argument has no time in front.
 * One space separates them (draft-somers-ftp-mfxx: time-val SP pathname): what follows is the name,
 * leading spaces included (lftp's `MFMT … ␠lead.txt` set nothing, the name read as "lead.txt").
 */
export function splitTimeAndPath(arg: string): { time: string; path: string } | null {
  const m = /^(\d{14}(?:\.\d+)?) (.+)$/.exec(arg);
  return m ? { time: m[1]!, path: m[2]! } : null;
}

/** Set the modification time of `path` (a file or a directory) and return the time now stored. */
export async function setModifyTime(session: Session, time: string, path: string): Promise<Date> {
  let when: Date;
  try {
    when = parseTimeVal(time);
  } catch (err) {
    if (err instanceof ParseError) throw new FtpError(501, "Invalid time, expected YYYYMMDDHHMMSS");
    throw err;
  }
  // A leap second (60) is the next minute's first: the filesystem has no other way to hold it.
  if (Number.isNaN(when.getTime())) throw new FtpError(501, "Invalid time, expected YYYYMMDDHHMMSS");
  const r = session.fs.resolve(path, "modify");
  const storage = r.mount.storage;
  // A directory too, as ProFTPD does: lftp's mirror and rclone keep directories' times (a home or
  // mount root included; a directory that exists only above mount points is not in storage: 550).
  const before = await session.fs.statStored(r);
  if (!storage.setMtime) throw new FtpError(550, "Setting modification times is not supported here");
  await storage.setMtime(r.key, when);
  const stored = (await storage.stat(r.key)).mtime;
  // A time the filesystem cannot hold is stored clamped (ext4: 1901-12-13 to 2446): 213 with that
  // other time told a mirror its time was kept. Put the old one back and refuse, as ProFTPD does.
  if (Math.abs(stored.getTime() - when.getTime()) > MAX_STORED_SKEW_MS) {
    await storage.setMtime(r.key, before.mtime);
    throw new FtpError(501, "Time out of range for the file system here");
  }
  return stored;
}

/** Filesystems that keep coarser times (FAT: 2 s) store a time this close: not a refusal. */
const MAX_STORED_SKEW_MS = 2000;

export const mfmt: CommandSpec = {
  verbs: ["MFMT"],
  auth: true,
  arg: "required",
  perm: "modify",
  help: "MFMT <YYYYMMDDHHMMSS> <file>: set the modification time (UTC)",
  // After login, a tree where no place can set times (every mount on S3) does not offer MFMT:
  // rclone and WinSCP read FEAT after login and, offered MFMT, count its 550 as a failed upload.
  feat: (session) => (session.mounts.length > 0 && session.mounts.every((m) => !m.storage.setMtime) ? [] : "MFMT"),
  async handle({ session, arg }) {
    const parts = splitTimeAndPath(arg);
    if (!parts) throw new FtpError(501, "Usage: MFMT YYYYMMDDHHMMSS path");
    const mtime = await setModifyTime(session, parts.time, parts.path);
    session.reply(213, `Modify=${formatTimeVal(mtime)}; ${parts.path}`);
  },
};
