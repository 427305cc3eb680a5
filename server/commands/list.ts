// LIST — RFC 959 §4.1.3: `ls -l` style lines over the data connection; needs read.
import type { CommandSpec, CommandContext } from "./types.ts";
import { FtpError } from "../../protocol/errors.ts";
import { compileGlob, GlobTooCostly, hasGlob, type GlobBudget } from "../../protocol/glob.ts";
import { formatListLine, type FileInfo } from "../../protocol/listing.ts";
import { virtualBasename } from "../../protocol/path.ts";
import { maskUnsafeNameChars } from "../../protocol/printable.ts";
import { StorageError } from "../storage/backend.ts";
import { sendText } from "../data/transfer.ts";
import { LoopShare } from "../../protocol/loop-share.ts";
import { TransferAborted } from "../data/connection.ts";
import { heldBy, listArgs, listDirectoryBatches, permFacts, type FileBatches, type ListArgs } from "./shared.ts";
import { requireDataEndpoint, startTransfer } from "../data/transfer-job.ts";
import type { Session } from "../session.ts";
import type { ServerContext } from "../context.ts";

/**
 * What a LIST/NLST/STAT argument names: a directory's entries (streamed in batches), one file, or
 * the entries of one directory that match a wildcard in the last segment. `prefix` is what NLST
 * puts before each name so that it answers the path as the client gave it (vsftpd, ProFTPD):
 * `NLST /a/x.txt` → `/a/x.txt`, `NLST dir` → `dir/name`; tnftp's mget/mdelete act on those names.
 */
export interface ListingTarget {
  vpath: string;
  batches: AsyncIterable<FileInfo[]> | Iterable<FileInfo[]>;
  prefix: string;
  /**
   * What the listing holds until its owner gives it back once sent: the directory's name list
   * (shared.ts FileBatches), or a sorted listing's share of the server's budget (sortedEntriesHeld).
   */
  held?: Disposable;
}

export async function listingTarget(session: Session, arg: string): Promise<ListingTarget> {
  const how = listArgs(arg);
  const t = await namedTarget(session, how.path);
  if (!how.byTime && !how.reverse) return t;
  const share = new SortedShare(session.server);
  try {
    return { ...t, batches: await ordered(t.batches, how, share), held: share };
  } catch (err) {
    share[Symbol.dispose]();
    throw err;
  } finally {
    t.held?.[Symbol.dispose](); // its names are read whole by now, or their reading failed
  }
}

/** Entries held by the sorted listings of each server, against its maxSortedEntries. */
const sortedEntriesHeld = new WeakMap<ServerContext, number>();

/** Entries one sorted listing holds, given back to its server's budget once (disposal). */
class SortedShare implements Disposable {
  private entries = 0;

  constructor(private readonly server: ServerContext) {}

  /** Count `n` more entries, or throw 450 when the server's sorted listings would hold too many. */
  take(n: number): void {
    const held = sortedEntriesHeld.get(this.server) ?? 0;
    if (held + n > this.server.options.maxSortedEntries) {
      throw new FtpError(450, "Too many entries in sorted listings right now; try again later, or list without -t and -r");
    }
    sortedEntriesHeld.set(this.server, held + n);
    this.entries += n;
  }

  [Symbol.dispose](): void {
    sortedEntriesHeld.set(this.server, (sortedEntriesHeld.get(this.server) ?? 0) - this.entries);
    this.entries = 0;
  }
}

/**
 * -t and -r, as vsftpd and ProFTPD sort: newest first (names in order among equal times), reversed.
 * The whole listing is read first, as theirs is; without these options it streams in name order.
 * Held whole, a big directory costs ~280 bytes an entry for as long as its client takes to read
 * it, so the entries all sorted listings hold are bounded per server (`share`).
 */
async function ordered(batches: AsyncIterable<FileInfo[]> | Iterable<FileInfo[]>, how: ListArgs, share: SortedShare): Promise<FileInfo[][]> {
  const all: FileInfo[] = [];
  for await (const batch of batches) {
    share.take(batch.length);
    for (const e of batch) all.push(e);
  }
  if (how.byTime) all.sort((a, b) => b.mtime.getTime() - a.mtime.getTime()); // stable: name order kept
  if (how.reverse) all.reverse();
  // Sent in slices, so that no one string holds the whole listing's lines.
  const slices: FileInfo[][] = [];
  for (let i = 0; i < all.length; i += SORTED_SLICE) slices.push(all.slice(i, i + SORTED_SLICE));
  return slices.length ? slices : [[]];
}

const SORTED_SLICE = 1000;

/**
 * What a wildcard listing's matches may take, in steps: `*.log`, `f*`, `*2024*` take 1–2 per
 * character of a name. Measured over 100,000 names of 255 characters: `*` + 127 a's + `b*` takes
 * ~16,000 steps a name, one NLST 10 s of the server's CPU (6 s with the ends compared in place);
 * with this budget it ends with 451 within 0.01 s, and a listing that stays under it takes at most
 * ~200 million steps (~0.8 s; the listing alone took 0.3–0.5 s).
 */
const GLOB_STEPS_PER_CHAR = 8;
const GLOB_STEPS_AT_START = 1_000_000;

async function namedTarget(session: Session, given: string): Promise<ListingTarget> {
  const r = session.fs.resolve(given || ".", "read");
  const slash = given.lastIndexOf("/");
  const parentPrefix = given.slice(0, slash + 1);
  const last = given.slice(slash + 1);
  // A name that exists is taken literally: a directory is listed ("x?y", as vsftpd and ProFTPD list
  // it), and so is a file whose only wildcard is `[` ("a[1].txt", as ProFTPD does). A file holding
  // `*` or `?` is expanded, as vsftpd and ProFTPD do (the name matches itself): `mget *.txt` got
  // only a file named "*.txt".
  const named = hasGlob(last) ? await session.fs.statOrNull(r) : await session.fs.statResolved(r);
  const st = named?.type === "file" && /[*?]/.test(last) ? null : named;
  if (st?.type === "file") {
    return { vpath: r.vpath, batches: [[{ name: virtualBasename(r.vpath), ...st, perm: permFacts(r.mount.perms, "file") }]], prefix: parentPrefix };
  }
  if (st) {
    const prefix = given === "" || given === "." ? "" : given.endsWith("/") ? given : `${given}/`;
    const batches = await listDirectoryBatches(session, r);
    return { vpath: r.vpath, batches, prefix, held: heldBy(batches) };
  }
  // A wildcard: expanded over the listing of its directory, through the resolver like any path, batch
  // by batch as a directory streams, so every match is listed (vsftpd and ProFTPD list them all:
  // `mget *.log` in a directory of 20,000 logs). The first match is found before the 150 (none: 550).
  const dir = session.fs.resolve(parentPrefix || ".", "read");
  const dirSt = await session.fs.statResolved(dir);
  if (dirSt.type !== "dir") throw new StorageError("not-a-directory");
  const match = compileGlob(last);
  // A part between stars costs up to (name length × its length) steps per name: the listing's
  // matches may take GLOB_STEPS_PER_CHAR steps per character of the names read, as any pattern a
  // person writes does, and the loop is shared meanwhile.
  const share = new LoopShare();
  const budget: GlobBudget = { left: GLOB_STEPS_AT_START };
  const matching = async (batch: FileInfo[]) => {
    const out: FileInfo[] = [];
    for (const e of batch) {
      if (share.due()) await share.turn();
      budget.left += GLOB_STEPS_PER_CHAR * e.name.length;
      try {
        if (match(e.name, budget)) out.push(e);
      } catch (err) {
        if (err instanceof GlobTooCostly) throw new FtpError(451, "The wildcard takes too long to match in this directory; use a simpler pattern");
        throw err;
      }
    }
    return out;
  };
  const source: FileBatches = await listDirectoryBatches(session, dir);
  const it = (async function* () {
    for await (const batch of source) yield batch;
  })();
  let first: FileInfo[] = [];
  try {
    while (first.length === 0) {
      const next = await it.next();
      if (next.done) throw new FtpError(550, "No files found");
      first = await matching(next.value);
    }
  } catch (err) {
    source[Symbol.dispose]?.();
    throw err;
  }
  const batches = (async function* () {
    yield first;
    for await (const batch of it) {
      const found = await matching(batch);
      if (found.length) yield found;
    }
  })();
  return { vpath: dir.vpath, batches, prefix: parentPrefix, held: heldBy(source) };
}

/**
 * LIST/NLST of a path: a directory is streamed (its entries stat'ed in batches, each batch sent
 * while the next is stat'ed), a file is one line. Errors reading the directory still come before
 * the 150. `format` gets the entry and the NLST prefix.
 */
export async function sendEntries(ctx: CommandContext, arg: string, format: (e: FileInfo, prefix: string) => string): Promise<void> {
  const t = await listingTarget(ctx.session, arg);
  sendListingBatches(ctx, [], t.batches, (e) => format(e, t.prefix), t.vpath, t.held);
}

/** Send `head` lines, then each batch formatted as it arrives. */
export function sendListingBatches(
  ctx: CommandContext,
  head: string[],
  batches: AsyncIterable<FileInfo[]> | Iterable<FileInfo[]>,
  format: (e: FileInfo) => string,
  vpath: string,
  held?: Disposable,
): void {
  // Each batch is formatted only once the previous one has been taken by the client's socket:
  // a client that never reads holds one batch, not the whole listing.
  startTransfer(ctx.session, { verb: ctx.verb, vpath, opening: "Here comes the directory listing", log: false, held }, async (t, conn) => {
    if (head.length) t.progress(await sendText(conn, head.map(maskUnsafeNameChars).join("\r\n") + "\r\n"));
    for await (const batch of batches) {
      if (t.aborted) throw new TransferAborted("aborted");
      let text = "";
      // A name with control characters (made outside FTP) is shown masked, never raw.
      for (const e of batch) text += maskUnsafeNameChars(format(e)) + "\r\n";
      if (text) t.progress(await sendText(conn, text));
    }
    await conn.finish();
    return { code: 226, text: "Directory send OK", result: "ok" };
  });
}

export function sendListing(ctx: CommandContext, lines: string[], vpath: string): void {
  sendListingBatches(ctx, lines, [], (e) => e.name, vpath);
}

export const list: CommandSpec = {
  verbs: ["LIST"],
  auth: true,
  arg: "optional",
  perm: "read",
  help: "LIST [path]: long directory listing (wildcards * ? [...] in the last segment)",
  async handle(ctx) {
    requireDataEndpoint(ctx.session);
    const now = new Date();
    await sendEntries(ctx, ctx.arg, (e) => formatListLine(e, now));
  },
};
