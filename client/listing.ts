// Directory listings over a data connection: MLSD (RFC 3659) when the server offers it, else LIST
// in the `ls -l` shape every Unix server uses; MLST (or LIST path) for a single file.
import { parseListLine, parseMlsxLine, type FileInfo } from "../protocol/listing.ts";
import { ListingLines } from "../protocol/listing-lines.ts";
import type { FtpReply } from "../protocol/reply.ts";
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
async function readAll<R>(client: FtpClient, t: DataTransfer, what: string, reader: LineReader<R>, budget?: ListingBudget): Promise<Listed<R>> {
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
interface LineReader<R> {
  add(line: string): void;
  done(): R;
}

/** A listing read: what its reader made of it; `lossy` when some bytes were not UTF-8 (and read as U+FFFD); its line breaks. */
interface Listed<R> {
  parsed: R;
  lossy: boolean;
  lines: number;
}

/** A listing's entries, and how many of its lines could not be read (the first one's error kept to be shown). */
interface Entries {
  entries: FileInfo[];
  unreadable: number;
  firstUnreadable?: string;
}

/**
 * A listing read against `budget` keeps only the `kept` entries it yields charged: its other lines
 * (cdir, ".", "..", "total") were charged as they came.
 */
function keepCharged(budget: ListingBudget | undefined, listed: Listed<unknown>, kept: number): void {
  if (budget) budget.left += Math.max(0, listed.lines - kept);
}

/**
 * Names a lossy listing garbled: FTP commands carry UTF-8, so a name sent back with U+FFFD in
 * place of its bytes names nothing (RETR answered 550 and failed the job).
 */
function garbled(listed: Listed<unknown>, entries: readonly FileInfo[]): { undecodable?: Set<string> } {
  if (!listed.lossy) return {};
  const names = new Set(entries.filter((e) => e.name.includes("\uFFFD")).map((e) => e.name));
  return names.size > 0 ? { undecodable: names } : {};
}

/** The facts of MLST's reply (the line between its first and last), or null when it refused. */
export function mlstFacts(r: FtpReply): (FileInfo & { typeFact: string }) | null {
  if (r.code !== 250) return null;
  const factLine = r.lines.slice(1, -1).find((l) => l.trim() !== "") ?? r.lines[0]!;
  return parseMlsxLine(factLine.replace(/^ /, ""));
}

function stripTypeFact(info: FileInfo & { typeFact?: string }): FileInfo {
  const { typeFact: _ignored, ...rest } = info;
  return rest;
}

function basename(path: string): string {
  const p = path.replace(/\/+$/, "");
  return p.slice(p.lastIndexOf("/") + 1) || p;
}

/**
 * The lines of a listing parsed by `parse` as they come, the entries `keep` makes of them kept; lines
 * it cannot read are counted (a name with a line break splits its line in two: one such file made a
 * whole tree job fail), the first one's error kept to be shown. A listing of which no line could be
 * read is a format not understood, and an error.
 */
function readLines<T extends { name: string }>(parse: (line: string) => T | null, keep: (item: T) => FileInfo | null): LineReader<Entries> {
  const entries: FileInfo[] = [];
  let read = 0;
  let unreadable = 0;
  let first: unknown = null;
  return {
    add(line) {
      if (!line.trim()) return;
      try {
        const item = parse(line);
        // Read (a shape known), though its name cannot be used: a directory holding only such a file is no format error.
        read++;
        if (item && /[\r\n\0]/.test(item.name)) throw new ClientError(`a name with ${item.name.includes("\0") ? "a NUL" : "a line break"} cannot be named in a command`);
        const entry = item && keep(item);
        if (entry) entries.push(detached(entry));
      } catch (err) {
        unreadable++;
        first ??= err;
      }
    },
    done() {
      // No line read at all: a listing in a shape not known (the server's, exit 7), not a local failure.
      if (unreadable > 0 && read === 0) throw first instanceof ClientError && first.kind ? first : new ClientError((first as Error).message, { kind: "protocol" });
      return first === null ? { entries, unreadable } : { entries, unreadable, firstUnreadable: first instanceof Error ? first.message : String(first) };
    },
  };
}

/**
 * `e` with its strings copied out of the line they were cut from: a slice shares its source string's
 * memory in JavaScriptCore, so each name held the whole line of facts it came from (a 200,000-file
 * walk held 30 bytes an entry more after it; a ProFTPD line with every fact is ~250 bytes).
 */
function detached(e: FileInfo): FileInfo {
  e.name = copied(e.name);
  if (e.perm !== undefined) e.perm = copied(e.perm);
  if (e.unique !== undefined) e.unique = copied(e.unique);
  if (e.unreadableTime !== undefined) e.unreadableTime = copied(e.unreadableTime);
  return e;
}

/** A string equal to `s` in memory of its own (any string: JSON carries lone surrogates too). */
function copied(s: string): string {
  return JSON.parse(JSON.stringify(s)) as string;
}

/** Told that lines of a listing could not be read (how many, and why the first): the rest is listed. */
export type OnUnreadable = (count: number, why: string) => void;

/**
 * The entries read. Unreadable lines (a name with a line break, a shape not known) are told to
 * `onUnreadable` where the caller can use a partial listing (`ls` warns, as a tree walk does: one
 * such name made `ls` of a shared directory fail for everyone); without it they are an error.
 */
export function readableEntries(listing: { entries: FileInfo[]; unreadable: number; firstUnreadable?: string }, onUnreadable?: OnUnreadable): FileInfo[] {
  if (listing.unreadable > 0) {
    if (onUnreadable) onUnreadable(listing.unreadable, unreadableWhy(listing));
    else throw new ClientError(`the listing has ${listing.unreadable} line(s) ftpkit cannot read (${unreadableWhy(listing)})`, { kind: "protocol" });
  }
  return listing.entries;
}

/** Why lines were unreadable, for a message: the first one's error, which shows the line (a shape not known, half of a name broken in two). */
export function unreadableWhy(listing: { firstUnreadable?: string }): string {
  return listing.firstUnreadable ? `the first: ${listing.firstUnreadable}` : "a name with a line break?";
}

/** MLSD's files and directories, and the listed directory's own `unique` fact (its first cdir line) when sent. */
function mlsdReader(): LineReader<Entries & { unique?: string }> {
  let cdir = false;
  let unique: string | undefined;
  const lines = readLines(parseMlsxLine, (i) => {
    if (i.typeFact === "cdir" && !cdir) {
      cdir = true;
      unique = i.unique;
    }
    return i.typeFact === "file" || i.typeFact === "dir" || i.link || i.special ? stripTypeFact(i) : null;
  });
  return {
    add: lines.add,
    done() {
      const read = lines.done();
      return unique ? { ...read, unique } : read;
    },
  };
}

/** LIST's entries, without "." and "..". */
function listReader(): LineReader<Entries> {
  return readLines((line) => parseListLine(line), (i) => (i.name === "." || i.name === ".." ? null : i));
}

/**
 * A server that offers MLSD's `unique` fact (cycle checks) or `UNIX.mode` (execute bits) without
 * sending it by default (pyftpdlib) is asked to add them to the facts it sends (OPTS MLST), once
 * per connection: a tree job carries execute bits, ls shows the real modes.
 */
export async function askForWantedFacts(client: FtpClient): Promise<void> {
  const facts = (client.features.get("MLST") ?? "").split(";").map((f) => f.trim()).filter(Boolean);
  const wanted = facts.filter((f) => !f.endsWith("*") && ["unique", "unix.mode"].includes(f.toLowerCase()));
  if (wanted.length === 0) return;
  const selected = facts.filter((f) => f.endsWith("*")).map((f) => f.slice(0, -1));
  const r = await client.command("OPTS", `MLST ${[...selected, ...wanted].map((f) => `${f};`).join("")}`);
  if (r.code === 200) client.features.set("MLST", [...selected, ...wanted].map((f) => `${f}*;`).join(""));
}

/**
 * List a directory (MLSD, falling back to LIST) — or, when `path` names a file, that file
 * (MLST, falling back to LIST path).
 */
export async function listPath(client: FtpClient, path: string, onUnreadable?: OnUnreadable): Promise<FileInfo[]> {
  if (client.features.has("MLST")) {
    await askForWantedFacts(client);
    const st = await client.command("MLST", path);
    const info = mlstFacts(st);
    const one = info && [{ ...stripTypeFact(info), name: basename(path) }];
    if (info) {
      if (info.type === "file" && !info.link) return one!;
    } else if (st.code === 550) throw new ClientError(`${path}: ${describe(st)}`, { code: 550 });
    // A link (ftpkit's MLST shows a link to a directory as the link): listed through, as `ls cur`
    // lists what cur names; one that MLSD cannot list (a link to a file) is that one entry.
    const mlsd = await mlsdTransfer(client, path).catch((err: unknown) => {
      if (info?.link && err instanceof ClientError && err.code !== undefined && err.code >= 500) return null;
      throw err;
    });
    if (info?.link && !mlsd) return one!;
    if (mlsd) return readableEntries((await readAll(client, mlsd, path, mlsdReader())).parsed, onUnreadable);
  }
  // vsftpd expands wildcards in LIST's last segment (`LIST b*` listed bx too): a name holding one
  // is looked up in its directory's listing instead, which CWD reaches without expanding anything.
  const name = basename(path);
  if (/[*?[]/.test(name)) return listLiteral(client, path, name);
  const entries = readableEntries((await readAll(client, await client.transfer("LIST", path), path, listReader())).parsed, onUnreadable);
  // vsftpd lists a missing path as nothing (226): an empty listing is a directory only if CWD enters it.
  if (entries.length === 0 && client.home !== null && (await client.command("CWD", path)).code >= 400) {
    throw new ClientError(`${path}: no such file or directory`, { code: 550 });
  }
  // And a directory it cannot open as its own entry (`ls -d`): "secret/" seemed to hold "secret".
  // Only CWD tells that from a directory that holds one of its name.
  if (entries.length === 1 && entries[0]!.type === "dir" && entries[0]!.name === name && client.home !== null) {
    const entered = await client.command("CWD", path);
    if (entered.code >= 400) throw new ClientError(`${path}: ${describe(entered)}`, { code: entered.code });
  }
  return entries;
}

/** `path`, whose last segment `name` holds a wildcard character, over LIST: found by its exact name. */
async function listLiteral(client: FtpClient, path: string, name: string): Promise<FileInfo[]> {
  const trimmed = path.replace(/\/+$/, "");
  const parent = trimmed.slice(0, trimmed.length - name.length) || (trimmed.startsWith("/") ? "/" : ".");
  const hit = (await listDirByList(client, parent)).entries.find((e) => e.name === name);
  if (!hit) throw new ClientError(`${path}: no such file or directory`, { code: 550 });
  return hit.type === "dir" ? (await listDirByList(client, path)).entries : [hit];
}

/**
 * The entries of a directory (MLSD when offered, else LIST), which verb listed them, and the
 * directory's `unique` fact when the server sends one.
 */
export async function listDir(client: FtpClient, path: string, budget?: ListingBudget): Promise<{ entries: FileInfo[]; via: "MLSD" | "LIST"; unreadable: number; firstUnreadable?: string; unique?: string; undecodable?: Set<string> }> {
  const mlsd = client.features.has("MLST") || client.features.has("MLSD") ? await mlsdTransfer(client, path) : null;
  if (mlsd) {
    const listed = await readAll(client, mlsd, path, mlsdReader(), budget);
    const parsed = listed.parsed;
    keepCharged(budget, listed, parsed.entries.length);
    return { ...parsed, ...garbled(listed, parsed.entries), via: "MLSD" };
  }
  return { ...(await listDirByList(client, path, budget)), via: "LIST" };
}

/**
 * A 500 that says the command line was too long (ftpkit's "Command line too long", vsftpd's "Input
 * line too long"): the path it carried is, not the server's command.
 */
export function lineTooLong(err: ClientError): boolean {
  return err.code === 500 && /too long/i.test(err.message);
}

/**
 * MLSD of `path`, or null where the server lacks it: some offer MLST without MLSD and answer it
 * 500 or 502, which a tree job took for a missing directory ("remote directory not found", or "is a
 * file" where SIZE answered) and ls for a failure. LIST is used from then on, on this connection, as
 * where MLSD is not offered. Any other refusal (550: no such directory) is the listing's answer.
 */
async function mlsdTransfer(client: FtpClient, path: string): Promise<DataTransfer | null> {
  if (client.lacksMlsd) return null;
  try {
    return await client.transfer("MLSD", path);
  } catch (err) {
    if (!(err instanceof ClientError) || err.refused !== "MLSD" || (err.code !== 500 && err.code !== 502)) throw err;
    // This path's line was too long for the server, which has MLSD: every later listing went by LIST.
    if (lineTooLong(err)) throw err;
    client.lacksMlsd = true;
    return null;
  }
}

/**
 * The names in `dir` that its LIST shows as symbolic links ("l…"). A server whose MLSD follows links
 * (pyftpdlib: a link to a directory is "type=dir", with its target's unique) says so only there.
 */
export async function linksByList(client: FtpClient, dir: string): Promise<Set<string>> {
  const { entries } = await listDirByList(client, dir);
  return new Set(entries.filter((e) => e.link).map((e) => e.name));
}

/**
 * A directory's entries by LIST, as lftp lists: CWD into it, then LIST. `LIST path` cannot tell a
 * directory from a file: vsftpd lists a file (and a directory it cannot open) as that one entry,
 * which a tree job took for a directory holding it. CWD fails on both. (With no login directory
 * known, paths are relative to the current one, which must then stay put.)
 * Hidden files: vsftpd lists dot-files only for `LIST -a`, and a sync --delete removed local
 * dot-files the server had. Whether a server takes `-a` as an option is probed on its listings
 * (a server that takes it for a name lists nothing, or refuses): `-a` must show everything plain
 * LIST does, and more than nothing, before it is trusted.
 */
async function listDirByList(client: FtpClient, path: string, budget?: ListingBudget): Promise<{ entries: FileInfo[]; unreadable: number; firstUnreadable?: string; undecodable?: Set<string> }> {
  const cwd = client.home !== null;
  if (cwd) await client.expect("CWD", path, [250, 200], `cannot enter ${path}`);
  const list = async (all: boolean) => {
    const arg = [all ? "-a" : "", cwd ? "" : path].filter(Boolean).join(" ");
    const listed = await readAll(client, await client.transfer("LIST", arg || undefined), path, listReader(), budget);
    const parsed = listed.parsed;
    keepCharged(budget, listed, parsed.entries.length);
    return { ...parsed, ...garbled(listed, parsed.entries) };
  };
  if (client.listsHidden === false) return list(false);
  let all: Awaited<ReturnType<typeof list>>;
  try {
    all = await list(true);
  } catch (err) {
    if (!(err instanceof ClientError) || (err.code ?? 0) < 500) throw err;
    client.listsHidden = false;
    return list(false);
  }
  if (client.listsHidden) return all;
  const plain = await list(false);
  const names = new Set(all.entries.map((e) => e.name));
  if (all.entries.length > 0 && plain.entries.every((e) => names.has(e.name))) client.listsHidden = true;
  else if (plain.entries.length > 0) client.listsHidden = false;
  // The probe's other listing is dropped, and its entries with it.
  if (budget) budget.left += (client.listsHidden ? plain : all).entries.length;
  return client.listsHidden ? all : plain;
}
