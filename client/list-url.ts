// `ftpkit ls URL` (and the package API's list): one listing, retried on a new connection after a drop.
import type { FileInfo } from "../protocol/listing.ts";
import { compileGlob, hasGlob, unescapeGlob, urlGlobSegment } from "../protocol/glob.ts";
import { ClientError, type FtpClient } from "./client.ts";
import { askForWantedFacts, listDir, listPath } from "./listing.ts";
import { checkTlsFlags, parseUrlArg, type SecurityOptions } from "./options.ts";
import type { Trace } from "./trace.ts";
import { Notifier } from "./messages.ts";
import { Credentials } from "./credentials.ts";
import { Session } from "./session.ts";

/**
 * `ftpkit ls URL`. A listing cut short by a dropped or stalled connection (or a 4yz) is listed again
 * on a new one, --retries times (none by default: the package API's `list`).
 */
export async function listUrl(urlText: string, opts: { active: boolean; retries?: number; stallMs?: number; backoffMs?: number; quiet?: boolean; trace?: Trace } & SecurityOptions): Promise<FileInfo[]> {
  // A wildcard spelled %2A, %3F or %5B is literal, as in get.
  const url = parseUrlArg(urlGlobSegment(urlText), { listing: true });
  checkTlsFlags(url, opts);
  const note = new Notifier(opts.quiet ?? true);
  const session = await Session.open(url, { ...opts, retries: opts.retries ?? 0 }, new Credentials(url), note);
  try {
    const entries = await listRetrying(session, url.path, note);
    await session.close();
    return entries;
  } catch (err) {
    session.destroy();
    throw err;
  }
}

async function listRetrying(session: Session, urlPath: string, note: Notifier): Promise<FileInfo[]> {
  for (let attempt = 1; ; attempt++) {
    const client = session.client;
    try {
      return await listTarget(client, client.resolve(urlPath));
    } catch (err) {
      const reached = await session.retryAfter(client, err, attempt, note);
      if (reached === null) throw err;
      attempt = reached;
    }
  }
}

/** What `ls` shows for `path`: a directory's entries, one file, or what a glob in the last segment matches. */
async function listTarget(client: FtpClient, path: string): Promise<FileInfo[]> {
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
    const matched = (await listDir(client, parent)).entries.filter((e) => matches(e.name));
    if (matched.length > 0) return matched;
    return await listPath(client, path).catch((err) => {
      if (err instanceof ClientError && err.code === 550) throw new ClientError(`no remote file matches "${last}" in ${parent}`, { kind: "server" });
      throw err;
    });
  }
  return await listPath(client, path.slice(0, slash + 1) + unescapeGlob(last));
}
