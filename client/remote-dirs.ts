// Remote directory helpers of tree jobs and uploads: does a directory exist (asked of its parent's
// listing), and mkdir -p.
import { ClientError, type FtpClient } from "./client.ts";
import { isDataModeRefusal, isDataSetupFailure } from "./errors.ts";
import { listDir } from "./listing.ts";

/** Is `path` a directory? Asked of its parent's listing, which every server gets right. */
export async function remoteDirExists(client: FtpClient, path: string, opts: { strict?: boolean } = {}): Promise<boolean> {
  const clean = path.replace(/\/+$/, "");
  if (clean === "" || clean === "." || clean === "/" || clean === client.home) return true;
  const slash = clean.lastIndexOf("/");
  const parent = slash < 0 ? "." : slash === 0 ? "/" : clean.slice(0, slash);
  const name = clean.slice(slash + 1);
  try {
    const { entries } = await listDir(client, parent === "." && client.home ? client.home : parent);
    const entry = entries.find((e) => e.name === name);
    if (entry?.type === "dir") return true;
    // A link as LIST shows it (vsftpd) may lead to a directory: one CWD enters. Only where paths
    // are absolute (the login directory is known), so moving the session's directory changes nothing.
    if (!entry?.link || client.home === null) return false;
    return (await client.command("CWD", clean)).code < 400;
  } catch (err) {
    // strict (the walk's root): a dropped connection or a 4yz says nothing about the directory, and
    // taken for "missing" it made get -r of an existing empty directory fail as not found.
    if (opts.strict && ((err instanceof ClientError && err.retryable) || client.control.isClosed)) throw err;
    // No data connection (a mode refused, for good or for now; its port unreachable): the parent was
    // never listed, so the walk's root is not "missing". Elsewhere this probe follows a refusal of
    // the path (RETR's 550 onto a directory?), which is reported as it came unless the server has
    // no passive (or active) mode at all.
    if ((opts.strict && isDataSetupFailure(err)) || isDataModeRefusal(err)) throw err;
    return false;
  }
}

/**
 * MKD `path`, where a refusal because the directory is there already counts as made: another job made
 * it since this one listed (two uploads into one new directory), or this job's own MKD did before a
 * drop hid its reply. A refusal with no directory there (no permission, a file of that name) stands.
 */
export async function mkdirOrFound(client: FtpClient, path: string): Promise<void> {
  try {
    await client.mkdir(path);
  } catch (err) {
    if (err instanceof ClientError && (err.code ?? 0) >= 500 && (await remoteDirExists(client, path))) return;
    throw err;
  }
}

/**
 * MKD `path` and, like `mkdir -p`, any missing directory above it (the local side of a tree job is
 * created the same way). A refusal where the parent exists (no permission) is reported as it is.
 */
export async function makeRemoteDirs(client: FtpClient, path: string): Promise<void> {
  try {
    await client.mkdir(path);
  } catch (err) {
    if (!(err instanceof ClientError) || (err.code ?? 0) < 500) throw err;
    if (await remoteDirExists(client, path)) return;
    const clean = path.replace(/\/+$/, "");
    const slash = clean.lastIndexOf("/");
    const parent = slash > 0 ? clean.slice(0, slash) : null;
    if (parent === null || (await remoteDirExists(client, parent))) throw err;
    await makeRemoteDirs(client, parent);
    await mkdirOrFound(client, path);
  }
}
