// Reading one listing's data connection, bounded: its bytes, lines and longest line (and a tree
// walk's budget over all its listings), its stall time and deadline, and the checks of its end (a
// reset, a missing close_notify, a server's own "cut short"). Apart from listing.ts, which chooses
// MLSD or LIST and reads the lines into entries: this is what a hostile or broken server meets.
import { ListingLines } from "../protocol/listing-lines.ts";
import { ClientError, describe, replyError, type DataTransfer, type FtpClient } from "./client.ts";
import { DEFAULT_STALL_MS, finalReply, watchStall } from "./transfer.ts";
import { REPLY_SPAN_FACTOR } from "./reply-queue.ts";

/**
 * Most bytes one listing may take: a directory of a million entries lists in ~100 MB of MLSD. A
 * server that sends more (or sends forever) gets an error instead of all of the client's memory.
 */
export const MAX_LISTING_BYTES = 256 * 1024 * 1024;
/**
 * Most lines one listing may have. Each parsed entry takes ~340 bytes of memory: 256 MiB of the
 * shortest lines a server can send would have been 11 million entries and ~4 GB.
 */
export const MAX_LISTING_ENTRIES = 2_000_000;
/**
 * Most bytes one line of a listing may have (as a reply line, ReplyParser.MAX_BUFFER): a name is at
 * most a few hundred bytes. A line that never ended was held up to MAX_LISTING_BYTES, then joined
 * and decoded: ~730 MB of memory for one listing, 2.2 GB for a tree job's four.
 */
export const MAX_LISTING_LINE = 1 << 20;

/**
 * Lines the listings of one tree walk may bring in all, counted as they arrive over every listing
 * under way (tree-walk.ts): a level's listings are all held until the last one ends, and counted
 * only then, three directories of 1.9 million entries each took the client to 4.4 GB, and rising.
 */
export interface ListingBudget {
  /** Lines still allowed; below 0, every listing of the walk is given up. */
  left: number;
  /**
   * Bytes still allowed, likewise: with long names (2,000 bytes each), 5,000,000 entries were no
   * bound on memory (10 GB of names could be held).
   */
  bytesLeft: number;
  /** The error's message once `left` is spent. */
  readonly tooMany: string;
  /** The error's message once `bytesLeft` is spent. */
  readonly tooLarge: string;
}

/**
 * Read a listing's data connection, each line given to `reader` as it arrives (at most
 * MAX_LISTING_BYTES and MAX_LISTING_ENTRIES lines, and what `budget` has left), given up when it moves
 * no byte for the client's stall time, as is its final reply after it (a server silent at either step
 * held a tree job forever).
 */
export async function readAll<R>(client: FtpClient, t: DataTransfer, what: string, reader: LineReader<R>, budget?: ListingBudget): Promise<Listed<R>> {
  let lines = 0;
  let bytes = 0;
  const spent = () => budget !== undefined && (budget.left < 0 || budget.bytesLeft < 0);
  try {
    return await readCounted(client, t, what, reader, (n, size) => {
      lines += n;
      bytes += size;
      if (budget) {
        budget.left -= n;
        budget.bytesLeft -= size;
      }
      return spent();
    });
  } catch (err) {
    if (budget && spent()) throw new ClientError(budget.left < 0 ? budget.tooMany : budget.tooLarge);
    // A listing that failed (to be tried again, or tolerated) holds nothing of the walk's.
    if (budget) {
      budget.left += lines;
      budget.bytesLeft += bytes;
    }
    throw err;
  }
}

/** readAll's reading; `spent` hears of each chunk's line breaks and bytes, and says when the walk's budget is spent. */
async function readCounted<R>(client: FtpClient, t: DataTransfer, what: string, reader: LineReader<R>, spent: (lines: number, bytes: number) => boolean): Promise<Listed<R>> {
  const stallMs = client.opts.stallMs ?? DEFAULT_STALL_MS;
  // Parsed as it arrives: the bytes of a listing of millions of entries are never all held.
  const split = new ListingLines((line) => reader.add(line));
  let total = 0;
  let lines = 0;
  let stop = false;
  let longLine = false;
  t.conn.onData((c) => {
    total += c.length;
    let n = 0;
    for (let at = c.indexOf(10); at >= 0; at = c.indexOf(10, at + 1)) n++;
    lines += n;
    stop ||= spent(n, c.length) || total > MAX_LISTING_BYTES || lines > MAX_LISTING_ENTRIES;
    if (!stop) {
      split.push(c);
      stop = longLine = split.unended > MAX_LISTING_LINE;
    }
    if (stop) t.conn.destroy();
  });
  const stall = watchStall(t.conn, stallMs);
  // Never silent is not enough: a server sending a line every few seconds held a tree job for ever.
  let late = false;
  const deadlineMs = stallMs * REPLY_SPAN_FACTOR;
  const deadline = deadlineMs > 0 ? setTimeout(() => ((late = true), t.conn.destroy()), deadlineMs) : undefined;
  await t.conn.closed;
  clearTimeout(deadline);
  stall.stop();
  if (spent(0, 0)) throw new ClientError(`the listing of ${what} was given up`); // readAll names why
  if (stall.stalled) throw new ClientError(`the listing of ${what} stalled (no byte for ${stallMs / 1000} s)`, { retryable: true, kind: "network" });
  if (late) throw new ClientError(`the listing of ${what} did not end in ${deadlineMs / 1000} s (ten times ${client.words.stall}; ${total} bytes came): a server that lists this slowly needs a larger ${client.words.stall}`, { kind: "network" });
  // Malformed: the server broke the protocol (exit 7), as with an over-long reply line. (The limits
  // below are ftpkit's own: a directory may really be that big, exit 1.)
  if (longLine) throw new ClientError(`the listing of ${what} has a line longer than ${MAX_LISTING_LINE / 1024 / 1024} MiB (no line end); gave up on it`, { kind: "protocol" });
  if (total > MAX_LISTING_BYTES) {
    throw new ClientError(`the listing of ${what} is larger than ${MAX_LISTING_BYTES / 1024 / 1024} MiB; gave up on it`);
  }
  if (lines > MAX_LISTING_ENTRIES) {
    throw new ClientError(`the listing of ${what} has more than ${MAX_LISTING_ENTRIES.toLocaleString("en-US")} entries; gave up on it`);
  }
  const r = await finalReply(t.done, stallMs, total);
  if (r.code >= 300) throw replyError("listing", r);
  // A reset is no end of the listing, even with a 226 after it (a middlebox's RST, a worker that
  // crashed while its parent answers): taken as whole, a sync --delete removed what it left out.
  if (t.conn.error) throw new ClientError(`the listing of ${what} was cut short: the data connection failed after ${total} bytes (${t.conn.error.message})`, { retryable: true, kind: "network" });
  // Under PROT P nothing but the server's close_notify says a listing came whole: a bare FIN, which
  // someone on the path can forge, cuts it at a line's end unseen (a sync --delete then removes the rest).
  if (t.conn.closeNotify === false) {
    throw new ClientError(`the listing of ${what} was cut short: the data connection ended after ${total} bytes without TLS close_notify`, { retryable: true, kind: "network" });
  }
  // vsftpd ends the listing of a directory it cannot read with a success and nothing in it: taken
  // as empty, a sync --delete removed everything the destination had there.
  if (/failed to open directory/i.test(r.lines.join(" "))) throw new ClientError(`the listing of ${what}: ${describe(r)}`, { code: 550 });
  // Pure-FTPd sends at most its -L limit of entries (10,000 by default, "." and ".." among them) and
  // ends with "226 Output truncated to 10000 matches": taken as whole, get -r left the rest out and
  // exited 0, and a sync --delete from it removed every local file past the limit. Its words, not
  // "truncated" alone: FileZilla Server's 226 names the directory ('Successfully transferred "/x/truncated"').
  if (/\bOutput truncated to \d+ matches\b/i.test(r.lines.join(" "))) {
    throw new ClientError(`the listing of ${what} is incomplete, the server cut it short (${describe(r)}); on Pure-FTPd, raise its limit: pure-ftpd -L 100000:5`, { code: 550 });
  }
  split.end();
  return { parsed: reader.done(), lossy: split.lossy, lines };
}

/** What a listing's lines are read into, one by one; `done` once it has ended whole. */
export interface LineReader<R> {
  add(line: string): void;
  done(): R;
}

/** A listing read: what its reader made of it; `lossy` when some bytes were not UTF-8 (and read as U+FFFD); its line breaks. */
export interface Listed<R> {
  parsed: R;
  lossy: boolean;
  lines: number;
}
