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
