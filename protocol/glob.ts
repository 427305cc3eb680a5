// Shell-style wildcards for one path segment (`*`, `?`, `[...]`), as vsftpd and ProFTPD expand
// them in NLST/LIST arguments. Pure: the server filters a directory listing with it, the client can
// filter names the same way.

/** Does this segment contain an unescaped wildcard? */
export function hasGlob(segment: string): boolean {
  let closeAt: Int32Array | undefined;
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i];
    if (c === "\\") i++;
    else if (c === "*" || c === "?") return true;
    else if (c === "[" && classEnd(segment, i, (closeAt ??= closers(segment))) > 0) return true;
  }
  return false;
}

/** One element of a compiled pattern; characters are whole code points. */
type Token = { kind: "star" } | OneChar;
type OneChar = { kind: "one" } | { kind: "char"; ch: string } | { kind: "class"; negate: boolean; test: (ch: string) => boolean };

/**
 * A pattern as the one-character runs between its stars: `head*middle[0]*…*tail`, or `head`
 * alone without a star; `min` counts its one-character tokens (the shortest name it can match).
 */
interface Shape {
  head: OneChar[];
  middle: OneChar[][];
  tail: OneChar[];
  star: boolean;
  min: number;
}

/** A compiled pattern: does `name` match? A `budget` bounds the steps its matches may take. */
export type GlobMatcher = (name: string, budget?: GlobBudget) => boolean;

/**
 * Steps a run of matches may still take (the server's wildcard listings: see GlobTooCostly). The
 * owner grants more as it goes, e.g. for each name it is about to match.
 */
export interface GlobBudget {
  left: number;
}

/** A match would have taken more steps than its budget had left. */
export class GlobTooCostly extends Error {
  constructor() {
    super("the wildcard takes too many steps to match");
  }
}

/**
 * Compile a one-segment pattern into a matcher. `*` is any run of characters, `?` one character,
 * `[abc]`, `[a-z]` and `[!x]` / `[^x]` a class, `\` escapes the next character. As in a shell, a
 * leading `.` of a name is only matched by a pattern that starts with `.` (hidden files stay out of
 * `*`) unless `dotfiles` says otherwise. A `/` never matches: patterns apply within one directory.
 *
 * A name shorter than the pattern's characters is refused at once, the part before the first `*`
 * and the part after the last one are compared in place (`*.log` costs 4 steps a name), and each
 * part between stars is searched for once, leftmost: at most (name length × that part's length)
 * steps, which a `budget` bounds. A RegExp did it before, and backtracked: `*a*a*a*a*a*a*a*ab`
 * against 60 a's took 2 s, each `*a` more multiplying it, so one NLST could freeze the server's
 * event loop for everyone.
 */
export function compileGlob(pattern: string, opts: { dotfiles?: boolean } = {}): GlobMatcher {
  const tokens = tokenize(pattern);
  if (!tokens) return () => false; // e.g. a reversed range "[z-a]": matches nothing, as in a shell
  const dotOk = opts.dotfiles === true || pattern.startsWith(".");
  const shape = shapeOf(tokens);
  return (name, budget) => (dotOk || !name.startsWith(".")) && !name.includes("/") && matchShape(shape, name, budget);
}

/** The pattern as tokens, or null when it can match nothing (a reversed range). */
function tokenize(pattern: string): Token[] | null {
  const out: Token[] = [];
  const at = (i: number) => String.fromCodePoint(pattern.codePointAt(i)!); // the whole code point at i
  const closeAt = pattern.includes("[") ? closers(pattern) : new Int32Array(0);
  for (let i = 0; i < pattern.length; i += at(i).length) {
    const c = at(i);
    const close = c === "[" ? classEnd(pattern, i, closeAt) : -1;
    if (c === "\\" && i + 1 < pattern.length) {
      i += 1;
      out.push({ kind: "char", ch: at(i) });
    } else if (c === "*") {
      if (out.at(-1)?.kind !== "star") out.push({ kind: "star" }); // "**" is "*"
    } else if (c === "?") out.push({ kind: "one" });
    else if (close > 0) {
      let body = Array.from(pattern.slice(i + 1, close));
      let negate = false;
      if (body[0] === "!" || body[0] === "^") {
        negate = true;
        body = body.slice(1);
      }
      const test = classTest(body);
      if (!test) return null;
      out.push({ kind: "class", negate, test });
      i = close; // the loop steps past the "]"
    } else out.push({ kind: "char", ch: c });
  }
  return out;
}

/** Membership in a class body (single characters and ranges a-z); null for a reversed range. */
function classTest(body: string[]): ((ch: string) => boolean) | null {
  const singles = new Set<string>();
  const ranges: [number, number][] = [];
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (i + 2 < body.length && body[i + 1] === "-") {
      const lo = c.codePointAt(0)!;
      const hi = body[i + 2]!.codePointAt(0)!;
      if (lo > hi) return null;
      ranges.push([lo, hi]);
      i += 2;
    } else singles.add(c);
  }
  // Sorted and merged, a range is found by binary search: tried one by one, "*[Ā-ĀĂ-Ă…]" (800 ranges
  // fit in one 4 KiB NLST argument) cost 200,000 steps per 255-character name: 1.2 s of the server's
  // CPU for 2,000 such names, one NLST.
  ranges.sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  for (const r of ranges) {
    const last = merged.at(-1);
    if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
    else merged.push([r[0], r[1]]);
  }
  return (ch) => {
    if (singles.has(ch)) return true;
    const cp = ch.codePointAt(0)!;
    let lo = 0;
    let hi = merged.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const [from, to] = merged[mid]!;
      if (cp < from) hi = mid - 1;
      else if (cp > to) lo = mid + 1;
      else return true;
    }
    return false;
  };
}

function shapeOf(tokens: Token[]): Shape {
  const runs: OneChar[][] = [[]];
  for (const t of tokens) {
    if (t.kind === "star") runs.push([]);
    else runs.at(-1)!.push(t);
  }
  const min = runs.reduce((n, r) => n + r.length, 0);
  if (runs.length === 1) return { head: runs[0]!, middle: [], tail: [], star: false, min };
  return { head: runs[0]!, middle: runs.slice(1, -1), tail: runs.at(-1)!, star: true, min };
}

/** Names with a surrogate pair are read by code point; the others, by far the most, as they are. */
const SURROGATE = /[\uD800-\uDFFF]/;

function matchShape(shape: Shape, name: string, budget: GlobBudget | undefined): boolean {
  // A name has at most as many characters as UTF-16 units: too few of those, and it cannot match.
  if (name.length < shape.min) return false;
  const chars: ArrayLike<string> = SURROGATE.test(name) ? Array.from(name) : name;
  const len = chars.length;
  if (!shape.star) return len === shape.min && runAt(shape.head, chars, 0);
  if (len < shape.min) return false;
  if (!runAt(shape.tail, chars, len - shape.tail.length) || !runAt(shape.head, chars, 0)) return false;
  // Each run between stars at its leftmost place: a later place only leaves the next runs less room.
  let from = shape.head.length;
  const end = len - shape.tail.length;
  for (const run of shape.middle) {
    const at = findRun(run, chars, from, end, budget);
    if (at < 0) return false;
    from = at + run.length;
  }
  return true;
}

function runAt(run: OneChar[], chars: ArrayLike<string>, at: number): boolean {
  for (let k = 0; k < run.length; k++) if (!matchesOne(run[k]!, chars[at + k]!)) return false;
  return true;
}

/** The first place at or after `from` where `run` matches and ends by `end`, or -1. */
function findRun(run: OneChar[], chars: ArrayLike<string>, from: number, end: number, budget: GlobBudget | undefined): number {
  for (let i = from; i + run.length <= end; i++) {
    let k = 0;
    while (k < run.length && matchesOne(run[k]!, chars[i + k]!)) k++;
    if (k === run.length) return i;
    if (budget && (budget.left -= k + 1) < 0) throw new GlobTooCostly();
  }
  return -1;
}

function matchesOne(tok: OneChar, ch: string): boolean {
  if (tok.kind === "one") return true;
  if (tok.kind === "char") return tok.ch === ch;
  return tok.test(ch) !== tok.negate;
}

/** The name a pattern stands for when read literally (its escapes removed). */
export function globLiteral(pattern: string): string {
  return pattern.replace(/\\(.)/g, "$1");
}

/**
 * A segment without wildcards as the name it means: `\[ab\].txt` is the file "[ab].txt" (escaping
 * is how a name with brackets is asked for literally). Only escaped wildcard characters and
 * backslashes lose their `\`; any other backslash is part of the name.
 */
export function unescapeGlob(segment: string): string {
  return segment.replace(/\\([*?[\]\\])/g, "$1");
}

/**
 * A URL with its last path segment read as a URL spells a glob: `%5C` is the escape `\`, and a
 * wildcard spelled percent-encoded (`%2A`, `%3F`, `%5B`) is a literal one, escaped, so that
 * `a%5B1%5D.txt` names "a[1].txt" once decoded (`ls` listed a1.txt for it), as `a\[1\].txt` does.
 */
export function urlGlobSegment(url: string): string {
  // An escape before an encoded wildcard (%5C%2A) escapes it once, as `\*` does.
  const spelled = /(?:%5c)?(%2a|%3f|%5b)|%5c/gi;
  // The last segment and the slashes after it, found by hand: the RegExp /[^/]*\/*$/ did it, and
  // retried from every position of a segment followed by more path (50,000 characters: 1.6 s).
  let end = url.length;
  while (end > 0 && url[end - 1] === "/") end--;
  const start = url.lastIndexOf("/", end - 1) + 1;
  // A URL whose path is empty or "/" has no segment: the last "/" is the scheme's, and what follows
  // it the user, password and host (a password "p?w", sent as "p%3Fw", went out as "p\?w": 530).
  const scheme = url.indexOf("://");
  if (scheme >= 0) {
    const path = url.indexOf("/", scheme + 3);
    if (path < 0 || start <= path) return url;
  }
  return url.slice(0, start) + url.slice(start).replace(spelled, (_, wild?: string) => `\\${wild ? decodeURIComponent(wild) : ""}`);
}

/**
 * For each index, where the first `]` at or after it is (-1: none), so that finding a class's end
 * is one lookup. Searching from each `[` scanned to the end every time: 40,000 `[` took 1 s.
 */
function closers(s: string): Int32Array {
  const next = new Int32Array(s.length + 1).fill(-1);
  for (let i = s.length - 1; i >= 0; i--) next[i] = s[i] === "]" ? i : next[i + 1]!;
  return next;
}

/** Index of the `]` closing a class opened at `open`, or -1 (then `[` is literal). `[]x]` and `[!]x]` include `]`. */
function classEnd(s: string, open: number, closeAt: Int32Array): number {
  let i = open + 1;
  if (s[i] === "!" || s[i] === "^") i++;
  if (s[i] === "]") i++;
  return i < s.length ? closeAt[i]! : -1;
}
