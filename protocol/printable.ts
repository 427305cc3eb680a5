// Text a peer chose (file names, reply text), made safe to print. A terminal acts on control
// characters: a file name or a server's reply holding ESC sequences could retitle, recolour or
// overwrite what the user sees. They are shown as visible \xNN escapes instead.

const CONTROLS = /[\x00-\x1f\x7f-\x9f]/g;
const CONTROLS_BUT_LINES = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;

const escape = (c: string) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`;

/** A name on one line: every C0 control (newline and tab too), DEL and the C1 range escaped. */
export function printableName(text: string): string {
  return text.replace(CONTROLS, escape);
}

/** A message that may span lines: as printableName, but newlines and tabs stay. */
export function printableMessage(text: string): string {
  return text.replace(CONTROLS_BUT_LINES, escape);
}

/**
 * What a file name must not carry onto the wire, where other users' clients print it: every C0
 * control (TAB too, as vsftpd's isprint), DEL, the C1 range (U+009B is a one-character CSI on
 * many terminals) and U+2028/U+2029 (line breaks for some clients and viewers).
 */
const UNSAFE_ON_WIRE = /[\x00-\x1f\x7f-\x9f\u2028\u2029]/;
const UNSAFE_ON_WIRE_ALL = /[\x00-\x1f\x7f-\x9f\u2028\u2029]/g;

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
