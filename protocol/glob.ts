// Shell-style wildcards for one path segment (`*`, `?`, `[...]`), as vsftpd and ProFTPD expand
// them in NLST/LIST arguments. Pure: the server filters a directory listing with it, the client can
// filter names the same way.

/** Most names one wildcard may expand to: beyond this the server refuses instead of listing. */
export const MAX_GLOB_MATCHES = 10_000;

/** Does this segment contain an unescaped wildcard? */
export function hasGlob(segment: string): boolean {
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i];
    if (c === "\\") i++;
    else if (c === "*" || c === "?") return true;
    else if (c === "[" && classEnd(segment, i) > 0) return true;
  }
  return false;
}

/**
 * Compile a one-segment pattern into a matcher. `*` is any run of characters, `?` one character,
 * `[abc]`, `[a-z]` and `[!x]` / `[^x]` a class, `\` escapes the next character. As in a shell, a
 * leading `.` of a name is only matched by a pattern that starts with `.` (hidden files stay out of
 * `*`) unless `dotfiles` says otherwise. A `/` never matches: patterns apply within one directory.
 */
export function compileGlob(pattern: string, opts: { dotfiles?: boolean } = {}): (name: string) => boolean {
  let re = "^";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "\\" && i + 1 < pattern.length) re += escapeRe(pattern[++i]!);
    else if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const end = classEnd(pattern, i);
      if (end < 0) {
        re += "\\[";
        continue;
      }
      let body = pattern.slice(i + 1, end);
      let negate = false;
      if (body[0] === "!" || body[0] === "^") {
        negate = true;
        body = body.slice(1);
      }
      // Keep ranges (a-z); escape everything a RegExp class would otherwise interpret.
      const cls = body.replace(/[\\\]^[]/g, (m) => `\\${m}`);
      re += negate ? `[^/${cls}]` : `[${cls}]`;
      i = end;
    } else re += escapeRe(c);
  }
  let rx: RegExp;
  try {
    rx = new RegExp(re + "$", "u");
  } catch {
    return () => false; // e.g. a reversed range "[z-a]": matches nothing, as in a shell
  }
  const dotOk = opts.dotfiles === true || pattern.startsWith(".");
  return (name) => (dotOk || !name.startsWith(".")) && rx.test(name);
}

/** The name a pattern stands for when read literally (its escapes removed). */
export function globLiteral(pattern: string): string {
  return pattern.replace(/\\(.)/g, "$1");
}

/** Index of the `]` closing a class opened at `open`, or -1 (then `[` is literal). `[]x]` and `[!]x]` include `]`. */
function classEnd(s: string, open: number): number {
  let i = open + 1;
  if (s[i] === "!" || s[i] === "^") i++;
  if (s[i] === "]") i++;
  for (; i < s.length; i++) if (s[i] === "]") return i;
  return -1;
}

function escapeRe(c: string): string {
  // Only syntax characters: with the "u" flag an escaped "-" or "/" is itself a syntax error.
  return c.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
