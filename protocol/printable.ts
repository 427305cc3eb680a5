// Text a peer chose (file names, reply text), made safe to print. A terminal acts on control
// characters: a file name or a server's reply holding ESC sequences could retitle, recolour or
// overwrite what the user sees. They are shown as visible \xNN escapes instead. The bidirectional
// embeddings, overrides and isolates (U+202A–E, U+2066–9) reorder what follows them on screen:
// "report\u202Efdp.exe" shows as "reportexe.pdf" (the Trojan Source trick, CVE-2021-42574); they are
// escaped too (\u202e). Right-to-left letters themselves need none of them and stay as they are.

const CONTROLS = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const CONTROLS_BUT_LINES = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const escape = (c: string) => {
  const code = c.charCodeAt(0);
  return code > 0xff ? `\\u${code.toString(16).padStart(4, "0")}` : `\\x${code.toString(16).padStart(2, "0")}`;
};

/** A name on one line: every C0 control (newline and tab too), DEL, the C1 range and the bidi controls escaped. */
export function printableName(text: string): string {
  return text.replace(CONTROLS, escape);
}

/** A message that may span lines: as printableName, but newlines and tabs stay. */
export function printableMessage(text: string): string {
  return text.replace(CONTROLS_BUT_LINES, escape);
}

/**
 * JSON for a terminal (--json output, which users also read on screen): as JSON.stringify(value,
 * null, 2), with DEL, the C1 range, U+2028/U+2029 and the bidi controls written as \uNNNN escapes
 * too (JSON.stringify escapes only C0). The same value parses back; a name a server chose can no
 * longer send a one-character CSI (U+009B) or reorder the line (U+202E) when the output is shown.
 */
export function printableJson(value: unknown): string {
  // Outside strings JSON holds only ASCII punctuation, digits, letters and spaces: these can only be in strings.
  return JSON.stringify(value, null, 2).replace(/[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/**
 * What a file name must not carry onto the wire, where other users' clients print it: every C0
 * control (TAB too, as vsftpd's isprint), DEL, the C1 range (U+009B is a one-character CSI on
 * many terminals), U+2028/U+2029 (line breaks for some clients and viewers) and the bidi
 * embeddings, overrides and isolates, which make another user's listing show a name that is not
 * the file's ("invoice\u202Efdp.exe" as "invoiceexe.pdf").
 */
const UNSAFE_ON_WIRE = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const UNSAFE_ON_WIRE_ALL = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** Does `text` hold a character that a name may not have (see UNSAFE_ON_WIRE)? */
export function hasUnsafeNameChars(text: string): boolean {
  return UNSAFE_ON_WIRE.test(text);
}

/**
 * Server output (listings, reply text): each such character becomes "?", as `ls -q` shows it.
 * A name is never sent with them raw; the exact name still works in RETR, DELE and RNFR.
 */
export function maskUnsafeNameChars(text: string): string {
  return UNSAFE_ON_WIRE.test(text) ? text.replace(UNSAFE_ON_WIRE_ALL, "?") : text;
}
