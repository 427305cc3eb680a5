// Which lines of a users file are not UTF-8. The file is read as UTF-8, and a byte that is not
// (a Latin-1 "ü" typed in another editor) becomes U+FFFD: a path with one names another directory,
// and a file written back from that text has lost the byte for good.

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** Line numbers (from 1, counted as `text.split(/\r\n|\r|\n/)` counts them) whose bytes are not valid UTF-8. */
export function nonUtf8Lines(bytes: Uint8Array): number[] {
  try {
    UTF8.decode(bytes);
    return [];
  } catch {}
  const bad: number[] = [];
  let line = 1;
  let start = 0;
  // CR and LF are never part of a multi-byte sequence, so the byte lines are the text's lines.
  for (let i = 0; i <= bytes.length; i++) {
    const b = bytes[i];
    if (i < bytes.length && b !== 0x0a && b !== 0x0d) continue;
    try {
      UTF8.decode(bytes.subarray(start, i));
    } catch {
      bad.push(line);
    }
    if (b === 0x0d && bytes[i + 1] === 0x0a) i++;
    line++;
    start = i + 1;
  }
  return bad;
}
