// ~/.netrc lookup (the format of ftp(1) and curl): "machine HOST login USER password PW", "default …".
import { readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

export interface NetrcEntry {
  machine: string | null; // null for "default"
  login?: string;
  password?: string;
  account?: string;
}

/**
 * A token as written: a quoted one without its quotes and escapes. A quote never closed on its line
 * (`password "s3cret`) opens the token and no more: cutting a closing quote that is not there took
 * the password's last character, and the login was refused for a reason nowhere to be seen.
 */
function unquote(word: string): string {
  if (!word.startsWith('"')) return word;
  const closed = word.length >= 2 && /(?:^|[^\\])(?:\\\\)*"$/.test(word.slice(1));
  return (closed ? word.slice(1, -1) : word.slice(1)).replace(/\\(.)/g, "$1");
}

/** Parse netrc text. Tokens are whitespace-separated; "macdef" bodies run to the next blank line. */
export function parseNetrc(text: string): NetrcEntry[] {
  const entries: NetrcEntry[] = [];
  const lines = text.split(/\r?\n/);
  const tokens: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const words: string[] = line.match(/"(?:[^"\\]|\\.)*"|\S+/g) ?? [];
    const mi = words.indexOf("macdef");
    if (mi >= 0) {
      tokens.push(...words.slice(0, mi).map(unquote));
      while (i + 1 < lines.length && lines[i + 1]!.trim() !== "") i++; // skip the macro body
      continue;
    }
    if (line.trimStart().startsWith("#")) continue;
    tokens.push(...words.map(unquote));
  }
  let cur: NetrcEntry | null = null;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t === "machine") {
      cur = { machine: tokens[++i] ?? "" };
      entries.push(cur);
    } else if (t === "default") {
      cur = { machine: null };
      entries.push(cur);
    } else if (cur && (t === "login" || t === "password" || t === "account")) {
      const v = tokens[++i];
      if (v !== undefined) cur[t] = v;
    }
  }
  return entries;
}

const netrcPath = () => join(process.env.HOME || homedir(), ".netrc");

/**
 * The netrc's permission bits when users besides its owner may read or write it (ftp(1) and
 * Python's netrc refuse such a file's passwords; curl uses them silently), else null.
 */
export function netrcExposedMode(file: string = netrcPath()): number | null {
  try {
    const mode = statSync(file).mode & 0o777;
    return mode & 0o077 ? mode : null;
  } catch {
    return null;
  }
}

/** The credentials for `host` (and `user`, when given) from `$HOME/.netrc`, or null. */
export function lookupNetrc(host: string, user?: string, file: string = netrcPath()): NetrcEntry | null {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return null;
  }
  const entries = parseNetrc(text);
  const fits = (e: NetrcEntry) => user === undefined || e.login === undefined || e.login === user;
  const h = host.toLowerCase();
  return (
    entries.find((e) => e.machine !== null && e.machine.toLowerCase() === h && fits(e)) ??
    entries.find((e) => e.machine === null && fits(e)) ??
    null
  );
}
