// Directory listings over a data connection: MLSD (RFC 3659) when the server offers it, else LIST
// in the `ls -l` shape every Unix server uses; MLST (or LIST path) for a single file. The lines are
// read into entries here; reading the data connection itself, bounded, is listing-read.ts.
import { parseListLine, parseMlsxLine, type FileInfo } from "../protocol/listing.ts";
import type { FtpReply } from "../protocol/reply.ts";
import { ClientError, describe, type DataTransfer, type FtpClient } from "./client.ts";
import { readAll, type LineReader, type Listed, type ListingBudget } from "./listing-read.ts";

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
