// How a remote walk lists one level of its tree: each directory over the next free connection of
// the job, a dropped connection or a 4yz tried again, a refusal told apart from a failure, and the
// links of a LIST resolved by SIZE and MDTM. Apart from tree-walk.ts, which decides what of each
// listing enters the tree (and what is left out, and why).
import { joinRemote } from "../protocol/path.ts";
import { parseTimeVal, type FileInfo } from "../protocol/listing.ts";
import { ClientError, type FtpClient } from "./client.ts";
import { remoteState } from "./file-transfer.ts";
import { askForWantedFacts, lineTooLong, listDir, mlstFacts } from "./listing.ts";
import type { ListingBudget } from "./listing-read.ts";
import { remoteDirExists } from "./remote-dirs.ts";

/** Where the walk gets connections to list with: each serves one listing at a time. */
export interface Listers {
  borrow(): Promise<FtpClient>;
  giveBack(client: FtpClient): void;
  /** More than one listing (or `needed` files) is ahead: open the job's other connections now (no more than `needed`, with the first). */
  widen(needed?: number): void;
  /**
   * A listing failed on `client` with `err` (its `attempt`th try): a connection to try it again on
   * (reconnected, after a backoff) and the attempt the reconnection reached, or null when it is not
   * worth it (a lasting refusal, --retries used up).
   */
  retry(client: FtpClient, err: unknown, attempt: number): Promise<{ client: FtpClient; attempt: number } | null>;
}

/**
 * A server's lasting refusal of one listing (550, pyftpdlib's 501), not a dropped connection; nor a
 * 500, which is vsftpd's "500 OOPS" as it ends the session (nothing to do with that directory),
 * unless it says the command line was too long: that directory's path is (lineTooLong).
 */
export function isRefusal(err: unknown): err is ClientError {
  return err instanceof ClientError && !err.retryable && ((err.code ?? 0) > 500 || lineTooLong(err));
}

/** A 4yz reply ("not now"), not a dropped connection: what --retries tries again. */
export function isTransientReply(err: unknown): err is ClientError {
  return err instanceof ClientError && (err.code ?? 0) >= 400 && (err.code ?? 0) < 500;
}

type Listing = Awaited<ReturnType<typeof listDir>> & { self?: string; notFiles?: Set<string> };

/**
 * List one level's directories, each over the next free connection; null when the root turns out
 * not to exist. A failure `tolerated` is that directory's result; after any other, no further
 * listing starts, and the first (in the level's order) is thrown once the listings under way have ended.
 */
export async function listLevel(listers: Listers, root: string, level: readonly { rel: string }[], budget: ListingBudget, tolerated: (rel: string, err: unknown, retried?: boolean) => boolean): Promise<(Listing | Refused)[] | null> {
  let failed = false;
  const results = await Promise.allSettled(
    level.map(async ({ rel }): Promise<Listing | Refused | null | undefined> => {
      let client = await listers.borrow();
      try {
        // A dropped connection or a 4yz (450 "try again") is tried again, as a file's transfer is.
        for (let attempt = 1; ; attempt++) {
          if (failed) return undefined; // not listed: the walk fails anyway
          try {
            return await listOne(client, root, rel, budget);
          } catch (err) {
            if (tolerated(rel, err)) return { refused: err as ClientError };
            const again = await listers.retry(client, err, attempt).catch(() => null);
            if (!again) {
              // Still "not now" (450) after --retries, on a session that goes on: that directory
              // fails alone, as a lasting refusal does, not the whole job.
              if (isTransientReply(err) && !client.control.isClosed && tolerated(rel, err, true)) return { refused: err };
              failed = true;
              throw err;
            }
            client = again.client;
            attempt = again.attempt;
          }
        }
      } finally {
        listers.giveBack(client);
      }
    }),
  );
  const failure = results.find((r) => r.status === "rejected");
  if (failure) throw failure.reason;
  const listings = results.map((r) => (r as PromiseFulfilledResult<Listing | Refused | null>).value);
  return listings.some((l) => l === null) ? null : (listings as (Listing | Refused)[]);
}

/** A directory of a level whose listing the server refused. */
interface Refused {
  refused: ClientError;
}

/** One directory of the walk; null when it is the root and it does not exist. */
async function listOne(client: FtpClient, root: string, rel: string, budget: ListingBudget): Promise<Listing | null> {
  await askForWantedFacts(client);
  let listed;
  try {
    listed = await listDir(client, joinRemote(root, rel), budget);
  } catch (err) {
    // The root itself: a refusal (550, or pyftpdlib's 501) is "no such directory" to the caller.
    if (rel === "" && err instanceof ClientError && (err.code ?? 0) >= 500) return (await remoteDirExists(client, root, { strict: true })) ? Promise.reject(err) : null;
    throw err;
  }
  // vsftpd lists a missing directory as empty (226): an empty root is checked in its parent.
  if (rel === "" && listed.entries.length === 0 && !(await remoteDirExists(client, root, { strict: true }))) return null;
  const self = listed.unique ?? (rel === "" && listed.via === "MLSD" ? await uniqueOf(client, root) : undefined);
  const notFiles = await resolveLinks(client, joinRemote(root, rel), listed.entries);
  return { ...listed, ...(self !== undefined ? { self } : {}), ...(notFiles.size > 0 ? { notFiles } : {}) };
}

/**
 * LIST shows a symbolic link with its own size and time, not its target's, and not whether the
 * target is a file: each link is asked SIZE and MDTM, which follow it. A size: a link to a file,
 * planned with its target's size and time (planned with the link's, a sync copied it again on every
 * run). A 550: a link to a directory or to nothing, returned to be left out (planned as a file, a
 * sync --delete removed the local directory in its way before the server refused to send it). No
 * SIZE at all: left a link, resolved when it moves. Resolved entries are updated in place.
 */
async function resolveLinks(client: FtpClient, dir: string, entries: FileInfo[]): Promise<Set<string>> {
  const notFiles = new Set<string>();
  const links = entries.filter((e) => e.link && e.name !== "" && !e.name.includes("/"));
  // Pipelined, a batch at a time: a directory of many links costs a few round trips, not one each.
  for (let at = 0; at < links.length; at += LINK_BATCH) {
    await Promise.all(
      links.slice(at, at + LINK_BATCH).map(async (e) => {
        const st = await remoteState(client, joinRemote(dir, e.name));
        if (st.missing) notFiles.add(e.name);
        else if (st.size !== null) {
          // The mode LIST shows is the link's own (rwxrwxrwx): the target's is not known.
          Object.assign(e, { type: "file", size: st.size, link: undefined, mode: undefined });
          if (st.mtime !== null) Object.assign(e, { mtime: parseTimeVal(st.mtime), mtimePrecisionMs: 1000 });
        }
      }),
    );
  }
  return notFiles;
}

/** Links resolved at once (SIZE and MDTM each), pipelined on the listing's connection. */
const LINK_BATCH = 250;

/** A directory's `unique` fact by MLST, for servers whose MLSD has no cdir line (pyftpdlib). */
async function uniqueOf(client: FtpClient, path: string): Promise<string | undefined> {
  if (!client.features.has("MLST")) return undefined;
  try {
    return mlstFacts(await client.command("MLST", path))?.unique;
  } catch {
    return undefined; // a malformed fact line: no cycle check for the root, nothing worse
  }
}
