// The local walk of a tree job (readdir): links to directories are not followed, and what the walk
// leaves out is told to its caller, as the remote walk (tree-walk.ts) does.
import { lstatSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { ClientError } from "./client.ts";
import { localCause } from "./errors.ts";
import { PART_SUFFIX } from "./file-transfer.ts";
import { clashingNames, isBesideName, type WalkOptions } from "./tree-walk.ts";
import type { TreeEntry } from "./tree-plan.ts";

/**
 * List a local tree below `root`. A symbolic link to a file counts as that file; one to a directory
 * is not followed, and a name FTP cannot carry is left out (`onSkip` hears of both). Following
 * links, one to an ancestor made `put -r` upload the same files again at every level until the
 * kernel's limit on nested links, and one out of the tree let `sync --delete` remove files outside it.
 */
export function walkLocal(root: string, opts: WalkOptions): TreeEntry[] {
  const out: TreeEntry[] = [];
  /** An entry below the root that cannot be read goes to onUnreadable (the root itself fails the walk). */
  const unreadable = (rel: string, err: unknown): void => {
    const failure = new ClientError(`cannot read ${join(root, rel)}: ${localCause(err)}`, { kind: "local" });
    if (rel === "" || !opts.onUnreadable) throw failure;
    opts.onUnreadable(rel, failure);
  };
  /** A directory's names, or null when it cannot be read (and was reported so). */
  const readNames = (rel: string): string[] | null => {
    try {
      return readdirSync(join(root, rel)).sort();
    } catch (err) {
      unreadable(rel, err);
      return null;
    }
  };
  const { leftovers } = opts;
  /** Copied by a source walk: a file (or a link to one) that the filters let through. */
  const copied = (rel: string, name: string): boolean => {
    const child = rel ? `${rel}/${name}` : name;
    if ((rel === "" && opts.match && !opts.match(name)) || opts.excluded(child, () => false)) return false;
    try {
      return statSync(join(root, child)).isFile();
    } catch {
      return false;
    }
  };
  const visit = (rel: string, names: string[]) => {
    const clashes = leftovers?.side === "source" ? clashingNames(names, (name) => copied(rel, name), "local") : undefined;
    let garbled = 0;
    for (const name of names) {
      const child = rel ? `${rel}/${name}` : name;
      // The job's own: its journal; in a download's destination, its part files and set-aside copies.
      if (child === leftovers?.journal) continue;
      if (leftovers?.side === "dest" && (isBesideName(name) || name === ".ftpkit") && !leftovers.sourceHas?.(child)) {
        if (name.endsWith(PART_SUFFIX)) opts.onPart?.(child);
        continue;
      }
      if (rel === "" && opts.match && !opts.match(name)) continue;
      // A directory as lstat says (a link to one is not followed): asked only of a "dir/" pattern's match.
      if (opts.excluded(child, () => lstatSync(join(root, child), { throwIfNoEntry: false })?.isDirectory() === true)) {
        opts.onExcluded?.(child);
        continue;
      }
      const clash = clashes?.get(name);
      if (clash !== undefined) {
        opts.onSkip?.(child, clash);
        continue;
      }
      if (/[\r\n]/.test(name)) {
        // FTP commands end at CR LF: such a name cannot be sent (the command would be cut in two).
        opts.onSkip?.(child, "a name with a line break cannot be sent over FTP");
        continue;
      }
      const full = join(root, child);
      let st;
      try {
        st = lstatSync(full);
      } catch (err) {
        const code = (err as { code?: string }).code;
        // A name that is not valid UTF-8 arrives with U+FFFD in place of its bytes, so it names
        // nothing here, and a server speaking UTF8 could not take it either.
        if (name.includes("\uFFFD")) {
          opts.onSkip?.(child, "its name is not valid UTF-8, which FTP cannot carry; rename it");
          garbled++;
        }
        else if (code !== "ENOENT") unreadable(child, err); // not "absent": sync --delete would remove its copy
        continue; // else it went away since the listing
      }
      if (st.isSymbolicLink()) {
        try {
          st = statSync(full);
        } catch (err) {
          const code = (err as { code?: string }).code;
          opts.onSkip?.(child, code === "ELOOP" ? "a symbolic link that leads to itself (a loop)" : code === "ENOENT" || code === "ENOTDIR" ? "a symbolic link to nothing" : `a symbolic link whose target cannot be read: ${localCause(err)}`, true);
          continue;
        }
        if (st.isDirectory()) {
          opts.onSkip?.(child, "a symbolic link to a directory is not followed", true);
          continue;
        }
      }
      if (st.isDirectory()) {
        out.push({ rel: child, type: "dir", size: 0, mtimeMs: Math.trunc(st.mtimeMs), precisionMs: 1000 });
        const inside = opts.recursive ? readNames(child) : [];
        if (inside !== null) visit(child, inside);
      } else if (st.isFile()) out.push({ rel: child, type: "file", size: st.size, mtimeMs: Math.trunc(st.mtimeMs), precisionMs: 1000, mode: st.mode & 0o777 });
      else opts.onSkip?.(child, "not a regular file: a FIFO, socket or device");
    }
    // The destination may hold such a file under its UTF-8 spelling (uploaded by a tool that converted
    // it): it is not "gone from the source", and sync --delete removed it.
    if (garbled > 0 && leftovers?.side === "source") opts.onPartial?.(rel, `${garbled} name(s) in it are not valid UTF-8, which FTP cannot carry: left out`, []);
  };
  visit("", readNames("")!);
  return out;
}
