// One line of the users file as text: the line breaks the file is split at, which lines are blank
// or comments, and a `key = value` line decoded as the `ini` package decodes it (with a fast path for
// the lines every users file is made of). Apart from ini-store.ts, which says what the lines mean
// (users, settings, their errors), because ini-edit.ts must split, skip and compare the very same
// lines when it edits the admin's text in place.
import ini from "ini";

/** A line the parser skips: blank, or a comment (`;` or `#` first). */
export const isBlankLine = (line: string) => /^\s*$/.test(line);
export const isCommentLine = (line: string) => /^\s*[;#]/.test(line);

/**
 * One `key = value` line decoded as the `ini` package does, except for a comment after a quoted
 * value: `ini` reads `home = "/srv/a b" ; note` as the value `"/srv/a b"`, quotes and all (a home
 * nobody meant; a quoted hash refused as "not a hash"). Here the quotes end the value and the
 * comment is a comment, as it is after a bare value. ini-edit.ts compares lines through this too.
 */
export function decodeLine(raw: string): Array<[string, unknown]> {
  const eq = raw.indexOf("=");
  const fast = eq > 0 ? decodePlainLine(raw, eq) : undefined;
  if (fast) return fast;
  // Only a value that holds ";" or "#" can carry a comment after its quotes.
  const commented = eq > 0 && (raw.includes(";", eq) || raw.includes("#", eq));
  const quoted = commented ? /^(\s*(?:"(?:[^"\\]|\\.)*"|'[^']*'))\s*[;#]/.exec(raw.slice(eq + 1)) : null;
  return Object.entries(ini.parse(quoted ? raw.slice(0, eq + 1) + quoted[1] : raw));
}

/** What `ini` cannot read the common way: escapes, comments, quotes, `[]` keys, line separators. */
const LINE_BREAK = /[\r\n\u2028\u2029]/;
const UNUSUAL_KEY = /["'\\;#[\]]/;
const UNUSUAL_VALUE = /[\\;#]/;

/**
 * decodeLine for the lines every users file is made of (`home = home/alice`, a hash in double
 * quotes), as `ini.parse` reads them, without it: its per-character unescaping of every value was
 * most of a 50,000-user file's parse (0.6 of 1 s). undefined for any other line (ini decides).
 */
function decodePlainLine(raw: string, eq: number): Array<[string, unknown]> | undefined {
  if (LINE_BREAK.test(raw)) return undefined; // trim() would hide one at either end
  const keyText = raw.slice(0, eq);
  if (UNUSUAL_KEY.test(keyText)) return undefined;
  const key = keyText.trim();
  if (key === "" || key === "__proto__") return undefined;
  const v = raw.slice(eq + 1).trim();
  let value: unknown;
  if (v.length >= 2 && v.startsWith('"') && v.endsWith('"') && !/[\\\x00-\x1f]/.test(v) && v.indexOf('"', 1) === v.length - 1) {
    value = v.slice(1, -1); // JSON.parse of a quoted string without escapes or inner quotes
  } else if (v === "" || (!UNUSUAL_VALUE.test(v) && v[0] !== '"' && v[0] !== "'")) {
    value = v;
  } else return undefined;
  // ini reads these three bare words as JSON; a null value is then nested under a dotted key.
  if (value === "null") return undefined;
  if (value === "true" || value === "false") value = value === "true";
  return [[key, value]];
}

/** `text.split(/\r\n|\r|\n/)`; a file without CR (most) is split by the faster string search. */
export function splitLines(text: string): string[] {
  return text.includes("\r") ? text.split(/\r\n|\r|\n/) : text.split("\n");
}
