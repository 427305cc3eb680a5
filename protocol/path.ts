import { FtpError } from "./errors.ts";

/**
 * Resolve a client-supplied path against a virtual cwd into a clean absolute virtual path.
 * "." ".." "//" and backslashes are folded; the result never goes above "/".
 * NUL bytes are refused (they truncate C strings on the way to the filesystem).
 */
export function normalizeVirtualPath(cwd: string, input: string): string {
  if (input.includes("\0")) throw new FtpError(501, "Invalid character in path");
  const raw = input.startsWith("/") ? input : `${cwd}/${input}`;
  const parts: string[] = [];
  for (const seg of raw.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") parts.pop();
    else parts.push(seg);
  }
  return "/" + parts.join("/");
}

/** Parent of a clean virtual path ("/" stays "/"). */
export function virtualDirname(vpath: string): string {
  const i = vpath.lastIndexOf("/");
  return i <= 0 ? "/" : vpath.slice(0, i);
}

/** Last segment of a clean virtual path ("" for "/"). */
export function virtualBasename(vpath: string): string {
  return vpath.slice(vpath.lastIndexOf("/") + 1);
}

/** Join a clean virtual directory and a name. */
export function joinVirtual(dir: string, name: string): string {
  return dir === "/" ? `/${name}` : `${dir}/${name}`;
}

/** Is `vpath` equal to `prefix` or inside it? Both clean. */
export function isWithin(prefix: string, vpath: string): boolean {
  return prefix === "/" || vpath === prefix || vpath.startsWith(prefix + "/");
}

/** RFC 959 Appendix II: a pathname in a 257 reply is quoted; embedded quotes are doubled. */
export function quotePath(vpath: string): string {
  return `"${vpath.replaceAll('"', '""')}"`;
}

/** Inverse of quotePath, applied to the text of a 257 reply: `"/a ""b"" c" created` → `/a "b" c`. */
export function unquotePath(text: string): string | null {
  if (!text.startsWith('"')) return null;
  let out = "";
  for (let i = 1; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"') {
      if (text[i + 1] === '"') {
        out += '"';
        i++;
      } else return out;
    } else out += ch;
  }
  return null;
}

/**
 * The remote path a URL path names once logged in: absolute URL paths stand as they are, relative
 * ones (RFC 1738 §3.2.2) join the login directory `home` (from PWD). Without a known home a relative
 * path is returned as-is: servers resolve it against the current directory, which is the login one.
 */
export function remotePath(home: string | null, urlPath: string): string {
  if (urlPath.startsWith("/")) return normalizeVirtualPath("/", urlPath);
  if (home === null) return urlPath.replace(/\/+$/, "") || ".";
  return normalizeVirtualPath(home, urlPath);
}

/** Join a remote directory (absolute, or relative to the login directory) and a relative name. */
export function joinRemote(dir: string, rel: string): string {
  if (rel === "") return dir;
  if (dir === "." || dir === "") return rel;
  return dir.endsWith("/") ? dir + rel : `${dir}/${rel}`;
}
