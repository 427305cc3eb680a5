// Names on a local disk are bytes; FTP speaks UTF-8 (OPTS UTF8 ON). Directories are read with
// readdir's "latin1" encoding, one character a byte: lossless. Read as "utf8" (the default), the
// bytes of `caf\xE9.txt` became `caf\uFFFD.txt`, a name that fails every lookup (the entry, or a whole
// subtree, dropped from listings and from the quota's measure) or names another file (a real
// `caf\uFFFD.txt`, listed twice with its size). Bun ignores withFileTypes with the "buffer" encoding
// (1.4.5: it returns bare Buffers), so raw names are Latin-1 strings, turned to bytes for system calls.

// ignoreBOM: a name beginning with U+FEFF keeps it (by default the decoder drops it, and the name no longer named its file).
const utf8Strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const NON_ASCII = /[\x80-\xff]/;

/** A name as readdir's "latin1" encoding gives it (one character a byte) as the bytes system calls take. */
export function nameBytes(raw: string): Buffer {
  return Buffer.from(raw, "latin1");
}

/** The name as FTP shows and addresses it (its bytes decoded as UTF-8); null when they are not UTF-8. */
export function decodeName(raw: string): string | null {
  if (!NON_ASCII.test(raw)) return raw;
  try {
    return utf8Strict.decode(nameBytes(raw));
  } catch {
    return null;
  }
}

/** Length of the valid UTF-8 sequence at `i` of `b`, or 0 (RFC 3629: no overlongs, surrogates or code points past U+10FFFF). */
function sequenceAt(b: Uint8Array, i: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  let n: number;
  let lo = 0x80;
  let hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) n = 2;
  else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c === 0xe0) lo = 0xa0;
    if (c === 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c === 0xf0) lo = 0x90;
    if (c === 0xf4) hi = 0x8f;
  } else return 0;
  if (i + n > b.length || b[i + 1]! < lo || b[i + 1]! > hi) return 0;
  for (let k = 2; k < n; k++) if (b[i + k]! < 0x80 || b[i + k]! > 0xbf) return 0;
  return n;
}

/**
 * A name that is not UTF-8 as listings show it: each byte outside a valid sequence as "?", as
 * `ls -q` shows it and as names with control characters are masked. No FTP command can name it (a
 * client that asks for the masked name gets 550 for that one entry), and never another file's
 * U+FFFD name.
 */
export function maskedName(raw: string): string {
  const b = nameBytes(raw);
  let out = "";
  for (let i = 0; i < b.length; ) {
    const n = sequenceAt(b, i);
    if (n === 0) {
      out += "?";
      i++;
    } else {
      out += b.toString("utf8", i, i + n);
      i += n;
    }
  }
  return out;
}

/**
 * A listing's name list holds UTF-8 names as themselves, and a name that is not UTF-8 as its masked
 * form, "/", then its raw bytes: no name on disk holds "/", so it cannot be taken for a real one, the
 * list stays plain strings (shared, counted against the name budget, sorted natively) and sorts by
 * the shown name.
 */
export function listedName(raw: string): string {
  return decodeName(raw) ?? `${maskedName(raw)}/${raw}`;
}

/** The name a listing shows, and for a name that is not UTF-8 its raw bytes (Latin-1), from a listedName. */
export function splitListed(name: string): { shown: string; raw: string | null } {
  const slash = name.indexOf("/");
  return slash < 0 ? { shown: name, raw: null } : { shown: name.slice(0, slash), raw: name.slice(slash + 1) };
}
