// `ftpkit ls URL` (and the package API's list): one listing, retried on a new connection after a drop.
import type { FileInfo } from "../protocol/listing.ts";
import { compileGlob, hasGlob, unescapeGlob, urlGlobSegment } from "../protocol/glob.ts";
import { ClientError, type FtpClient } from "./client.ts";
import { askForWantedFacts, listDir, listPath, readableEntries, type OnUnreadable } from "./listing.ts";
import { checkTlsFlags, parseUrlArg, type SecurityOptions } from "./options.ts";
import type { Trace } from "./trace.ts";
import { Notifier } from "./messages.ts";
import { Credentials } from "./credentials.ts";
import { Session } from "./session.ts";

/** Told of each MLSD name left out of a listing, and why. */
type LeftOut = (name: string, why: string) => void;

/** What listTarget tells of the entries it leaves out: named ones (MLSD names with "/"), and lines it could not read (without: an error). */
interface LeftOutSinks {
  leftOut?: LeftOut;
  unreadable?: OnUnreadable;
}

/**
 * `ftpkit ls URL`. A listing cut short by a dropped or stalled connection (or a 4yz) is listed again
 * on a new one, --retries times (none by default: the package API's `list`). MLSD names holding "/"
 * are left out, each told to `leftOut`, as a tree walk leaves them out: no name in a directory holds
 * one, and shown, "a/b.txt" read as a file in a directory a. (LIST's are kept: a server may list
 * `LIST dir/file` under the path it was asked.)
 */
export async function listUrl(urlText: string, opts: { active: boolean; retries?: number; stallMs?: number; backoffMs?: number; quiet?: boolean; trace?: Trace; prompt?: boolean } & LeftOutSinks & SecurityOptions): Promise<FileInfo[]> {
  // A wildcard spelled %2A, %3F or %5B is literal, as in get.
  const url = parseUrlArg(urlGlobSegment(urlText), { listing: true });
  checkTlsFlags(url, opts);
  const note = new Notifier(opts.quiet ?? true);
  const session = await Session.open(url, { ...opts, retries: opts.retries ?? 0 }, new Credentials(url, undefined, opts.prompt), note);
  try {
    const entries = await listRetrying(session, url.path, note, { leftOut: opts.leftOut, unreadable: opts.unreadable });
    await session.close();
    return entries;
  } catch (err) {
    session.destroy();
    throw err;
  }
}

async function listRetrying(session: Session, urlPath: string, note: Notifier, sinks: LeftOutSinks): Promise<FileInfo[]> {
  for (let attempt = 1; ; attempt++) {
    const client = session.client;
    try {
      return await listTarget(client, client.resolve(urlPath), sinks);
    } catch (err) {
      const reached = await session.retryAfter(client, err, attempt, note);
      if (reached === null) throw err;
      attempt = reached;
    }
  }
}

/** What `ls` shows for `path`: a directory's entries, one file, or what a glob in the last segment matches. */
async function listTarget(client: FtpClient, path: string, { leftOut, unreadable }: LeftOutSinks): Promise<FileInfo[]> {
  const slash = path.lastIndexOf("/");
  const last = path.slice(slash + 1);
  if (hasGlob(last)) {
    // A glob in the last segment: the parent's entries that match it, as a shell's `ls` would
    // show; one that matches nothing stands for itself (a name with brackets), as in `get`.
    const parent = path.slice(0, slash) || "/";
    const matches = compileGlob(last);
    // The facts a plain ls asks for (OPTS MLST: pyftpdlib sends UNIX.mode only then), so a glob's
    // lines show the same mode columns, not the perm fact's cut-down ones.
    await askForWantedFacts(client);
    const listed = await listDir(client, parent);
    const matched = readableEntries(listed, unreadable).filter((e) => matches(e.name));
    if (matched.length > 0) return listed.via === "MLSD" ? withoutSlashes(matched, leftOut) : matched;
    return await listPath(client, path, unreadable).catch((err) => {
      if (err instanceof ClientError && err.code === 550) throw new ClientError(`no remote file matches "${last}" in ${parent}`, { kind: "server" });
      throw err;
    });
  }
  const entries = await listPath(client, path.slice(0, slash + 1) + unescapeGlob(last), unreadable);
  // listPath lists by MLSD (or names the one file MLST found by its path's last segment) where MLST is offered.
  return client.features.has("MLST") ? withoutSlashes(entries, leftOut) : entries;
}

function withoutSlashes(entries: FileInfo[], leftOut?: LeftOut): FileInfo[] {
  if (!entries.some((e) => e.name.includes("/"))) return entries;
  return entries.filter((e) => {
    if (!e.name.includes("/")) return true;
    leftOut?.(e.name, 'a name holding "/", which no name in a directory can: left out');
    return false;
  });
}
