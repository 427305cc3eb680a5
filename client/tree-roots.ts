// What a tree job was asked to move, and where that is: the remote root and the local root, each
// perhaps with a glob as its last segment.
import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { hasGlob, unescapeGlob, urlGlobSegment } from "../protocol/glob.ts";
import type { FtpUrl } from "../protocol/url.ts";
import type { TreeSpec } from "./journal.ts";
import type { JobReport } from "./report.ts";
import { parseUrlArg } from "./options.ts";
import { ClientError } from "./errors.ts";

export interface TreeRequest {
  direction: "get" | "put";
  /** The remote URL text (its last segment may be a glob). */
  url: string;
  /** The local directory (or, for `put`, a directory or a glob in its last segment). */
  local: string | undefined;
  spec: TreeSpec;
  dryRun?: boolean;
  json?: boolean;
  /** Where the job's report goes instead of stdout: `ftpkit resume --json` gathers several jobs' into one. */
  onReport?: (report: JobReport) => void;
}

/** Where a tree job reads and writes: the remote root (+ glob), the local root (+ glob). */
export interface Roots {
  url: FtpUrl;
  remoteDir: string;
  local: string;
  glob?: string;
}

/** A path's last segment as a glob, if it is one (an escaped `\[x\]` names "[x]" itself). */
function splitGlob(path: string): { dir: string; glob?: string } {
  const trimmed = path.replace(/\/+$/, "");
  const slash = trimmed.lastIndexOf("/");
  const last = trimmed.slice(slash + 1);
  if (!hasGlob(last)) return { dir: trimmed.slice(0, slash + 1) + unescapeGlob(last) + path.slice(trimmed.length) };
  return { dir: slash < 0 ? "" : trimmed.slice(0, slash + 1), glob: last };
}

/**
 * The local directory a download lands in when none is named: the remote directory's own name, read
 * after `.` and `..` are taken out (`dir/sub/..` is dir, never the local parent); the login directory
 * (an empty path or `/`) lands in the current directory, as before.
 */
function defaultLocalName(remoteDir: string): string {
  const absolute = remoteDir.startsWith("/");
  const kept: string[] = [];
  for (const seg of remoteDir.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg !== "..") kept.push(seg);
    else if (kept.length > 0 && kept[kept.length - 1] !== "..") kept.pop();
    else if (!absolute) kept.push(seg); // the root's parent is the root
  }
  const last = kept[kept.length - 1];
  if (last === undefined) return ".";
  // Above the login directory (`ftp://h/..`): its name is the server's to know, not ours.
  if (last === "..") throw new ClientError(`the URL's path ${JSON.stringify(remoteDir)} ends above the login directory, whose name only the server knows: name the local directory (get -r URL LOCALDIR)`, { kind: "usage" });
  return last;
}

export function roots(req: TreeRequest): Roots {
  // A remote glob is read as the URL spells it: `sync ftp://h/x%2A` is the directory "x*", not a
  // pattern that also took in xy (get does the same before it gets here).
  const url0 = parseUrlArg(req.direction === "get" ? urlGlobSegment(req.url) : req.url);
  if (req.direction === "get") {
    const { dir, glob } = splitGlob(url0.path);
    const url = { ...url0, path: dir };
    // `get -r ftp://h/dir` lands in ./dir; a glob lands in the current directory.
    const fallback = glob ? "." : defaultLocalName(dir);
    return { url, remoteDir: dir, local: resolve(req.local ?? fallback), glob };
  }
  // A local directory that exists is itself, whatever its name: `sync 'L[1]' URL` copies L[1]. (A
  // file named like its pattern is one of the pattern's matches: `put 'st*r.txt'` takes stXr.txt too.)
  const isDir = req.local !== undefined && existsSync(req.local) && statSync(req.local).isDirectory();
  const { dir, glob } = isDir ? { dir: req.local! } : splitGlob(req.local ?? ".");
  return { url: url0, remoteDir: url0.path, local: resolve(dir || "."), glob };
}
