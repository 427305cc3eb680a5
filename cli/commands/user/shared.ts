// Helpers shared by the `ftpkit user` subcommands: strict flags, password input, store access.
import { resolve } from "node:path";
import { createConsola } from "consola";
import { CliError, UsageError, usersFilePath } from "../../args.ts";
import { breaksCommandLine, MAX_PASS_BYTES } from "../../../protocol/command.ts";
import { saveUsers } from "../../../server/auth/ini-save.ts";
import { loadUsers, parsePerms, readUsersFile, type ParseOptions } from "../../../server/auth/ini-store.ts";
import { formatSizeExact } from "../../../protocol/size.ts";
import { withUsersFileLock } from "../../../server/auth/users-lock.ts";
import type { Perm, UserRecord } from "../../../server/auth/types.ts";
import { stderrStream } from "../../../client/report.ts";
import { holdsFile } from "../../../server/auth/served-files.ts";

/**
 * Messages go to stderr so stdout carries only data (`user list`). Info level even when
 * NODE_ENV=test (consola would go quiet), unless CONSOLA_LEVEL says otherwise. The fancy layout
 * (icons, a warning between blank lines) only on a terminal: a log or a pipe gets one `[warn] …`
 * line per message, as errors always were. (`fancy` is read by consola's node entry; the types lack it.)
 */
export const log = createConsola({
  stdout: stderrStream(),
  stderr: stderrStream(),
  level: process.env.CONSOLA_LEVEL ? Number(process.env.CONSOLA_LEVEL) : 3,
  ...({ fancy: stderrStream().isTTY === true } as object),
});

/** The longest password, in characters (code points: an emoji is one, not two UTF-16 units); MAX_PASS_BYTES bounds its bytes. */
export const MAX_PASSWORD = 1024;

/**
 * A quota as the admin wrote it, exactly: 5GB stays "5GB" (it was shown as "4.7 GiB", and a
 * mount's 1GB as "954MiB"); a count no unit divides is shown in bytes. 0 is "unlimited".
 */
export function formatQuota(bytes: number): string {
  if (bytes === 0) return "unlimited";
  const exact = formatSizeExact(bytes);
  return /\d$/.test(exact) ? `${exact}B` : exact;
}

/** Load an existing users file (every subcommand but `add` needs one). */
export async function openStore(flag: string | undefined, opts: ParseOptions = {}): Promise<{ file: string; users: Map<string, UserRecord> }> {
  const file = usersFilePath(flag);
  return { file, users: await loadUsers(file, opts) };
}

/**
 * Read-modify-write of the users file under its lock: `change` edits the loaded users (or throws,
 * and nothing is written); they are saved before the lock is released.
 */
export async function editStore<T>(
  flag: string | undefined,
  change: (store: { file: string; users: Map<string, UserRecord> }) => T | Promise<T>,
  opts: { allowMissing?: boolean } & ParseOptions = {},
): Promise<T> {
  const file = usersFilePath(flag);
  return withUsersFileLock(file, async () => {
    const { text, users, sections } = await readUsersFile(file, opts);
    // The change edits records in place: saveUsers compares against a copy of them as read, and so
    // need not parse the file again (each parse of a 50,000-user file costs a few hundred ms).
    const before = { users: copyUsers(users), sections };
    const result = await change({ file, users });
    await saveUsers(file, users, { ...opts, loaded: text, before });
    return result;
  });
}

/** A copy of each record deep enough that a change to the originals (quota, perms, mounts) leaves it as it was. */
function copyUsers(users: Map<string, UserRecord>): Map<string, UserRecord> {
  const out = new Map<string, UserRecord>();
  for (const [name, u] of users) out.set(name, { ...u, perms: [...u.perms], mounts: u.mounts.map((m) => ({ ...m, perms: [...m.perms] })) });
  return out;
}

/**
 * Refuse a home or mount directory that holds the users file (its directory, or one above it): its
 * user could download every password hash and, allowed to write, replace the file and give
 * themselves any home. Symlinks are followed; a directory that does not exist yet holds nothing.
 */
export async function refuseServingUsersFile(dir: string, file: string, what: string): Promise<void> {
  if (holdsFile(dir, resolve(file))) {
    throw new CliError(`${what} ${dir} holds the users file ${file}: its user could read every password hash (and rewrite the file); choose a directory that does not contain it`);
  }
}

/**
 * A --perm value: an empty one (`--perm "$PERMS"` with the variable unset) is refused rather than
 * read as no permissions (a user or mount that can do nothing, said as a success); `none` says that.
 */
export function permsFlag(text: string): Perm[] {
  if (text.trim() === "") throw new UsageError(`--perm is empty: give read, write and/or modify (comma-separated), or none for no permissions`);
  return parsePerms(text);
}

export function requireUser(users: Map<string, UserRecord>, name: string, file: string): UserRecord {
  const user = users.get(name);
  if (!user) throw new CliError(`no user "${name}" in ${file}`);
  return user;
}

/**
 * The new password: the first line of stdin with `--password-stdin` (its \n or \r\n dropped),
 * else typed twice without echo on a terminal. A terminal is asked so with `--password-stdin` too:
 * read as a line, what the admin typed was echoed on the screen (and into its scrollback).
 */
export async function readNewPassword(fromStdin: boolean): Promise<string> {
  let password: string;
  if (fromStdin && !process.stdin.isTTY) {
    password = await readStdinLine();
  } else {
    if (!process.stdin.isTTY) {
      throw new CliError("no terminal to ask for the password: use --password-stdin (e.g. `printf '%s\\n' \"$PW\" | ftpkit user …`)");
    }
    password = await promptHidden("Password: ");
    if (password === "") throw new CliError("empty password refused");
    const again = await promptHidden("Repeat password: ");
    if (again !== password) throw new CliError("passwords do not match");
  }
  if (password === "") throw new CliError("empty password refused");
  let chars = 0;
  for (const _ of password) chars++;
  if (chars > MAX_PASSWORD) throw new CliError(`password longer than ${MAX_PASSWORD} characters refused`);
  const bytes = Buffer.byteLength(password);
  if (bytes > MAX_PASS_BYTES) throw new CliError(`password of ${bytes} bytes in UTF-8 refused: the server's command line carries at most ${MAX_PASS_BYTES} after PASS, so no client could log in with it`);
  // No client can log in with it: CR, LF and NUL end (or break) the PASS command.
  if (breaksCommandLine(password)) throw new CliError("password with CR, LF or NUL refused: no FTP client can send it");
  return password;
}

async function readStdinLine(): Promise<string> {
  const reader = Bun.stdin.stream().getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      const nl = value.indexOf(10);
      if (nl >= 0) {
        chunks.push(value.subarray(0, nl));
        break;
      }
      chunks.push(value);
      total += value.length;
      if (total > MAX_PASS_BYTES + 1) break; // no newline in sight: longer than any password (and its CR)
    }
  } finally {
    reader.releaseLock();
  }
  const line = new TextDecoder().decode(Buffer.concat(chunks));
  return line.endsWith("\r") ? line.slice(0, -1) : line;
}

function promptHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  // No echo before the prompt shows: keys typed the moment it appears are not printed.
  stdin.setRawMode(true);
  process.stderr.write(prompt);
  stdin.resume();
  return new Promise((resolvePw, reject) => {
    let buf = "";
    const finish = () => {
      stdin.off("data", onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write("\n");
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString("utf8")) {
        if (ch === "\r" || ch === "\n") {
          finish();
          return resolvePw(buf);
        }
        if (ch === "\u0003" || (ch === "\u0004" && buf === "")) {
          finish();
          return reject(new CliError("cancelled"));
        }
        if (ch === "\u007f" || ch === "\b") buf = [...buf].slice(0, -1).join("");
        else if (ch >= " ") buf += ch;
      }
    };
    stdin.on("data", onData);
  });
}
