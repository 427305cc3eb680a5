import { ParseError } from "./errors.ts";

const UNITS: Record<string, number> = {
  "": 1, B: 1,
  K: 1024, KB: 1000, KIB: 1024,
  M: 1024 ** 2, MB: 1000 ** 2, MIB: 1024 ** 2,
  G: 1024 ** 3, GB: 1000 ** 3, GIB: 1024 ** 3,
  T: 1024 ** 4, TB: 1000 ** 4, TIB: 1024 ** 4,
};

/**
 * Parse a human size: "500KB" (decimal), "1.5GiB" (binary), "10M" (binary, like curl), "1234".
 * `0`, `none` and `unlimited` return 0 when `allowUnlimited` (meaning "no limit"); a negative
 * size (`-1`) is refused naming those.
 */
export function parseSize(text: string, opts: { allowUnlimited?: boolean } = {}): number {
  const t = text.trim();
  if (opts.allowUnlimited && /^(none|unlimited|0)$/i.test(t)) return 0;
  // -1 is "no limit" in some tools: name our spelling of it rather than call the size invalid.
  if (/^-\s*\d/.test(t)) {
    throw new ParseError(`size "${text}" is negative${opts.allowUnlimited ? ": for no limit, write 0, none or unlimited" : ""}`);
  }
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(t);
  if (!m) throw new ParseError(`invalid size "${text}" (examples: 500KB, 1.5GiB, 10M)`);
  const unit = UNITS[m[2]!.toUpperCase()];
  // K, M, G, T (powers of 1024, as curl reads them) are units too: a list without them misled.
  if (unit === undefined) throw new ParseError(`invalid size unit in "${text}" (use B, K, KB, KiB, M, MB, MiB, G, GB, GiB, T, TB or TiB)`);
  const value = Math.floor(Number(m[1]) * unit);
  if (!Number.isSafeInteger(value)) throw new ParseError(`size "${text}" is too large`);
  // 0 means unlimited: a size that rounds down to it (0.5, 0.3B) must not silently become that.
  if (value === 0 && Number(m[1]) > 0) throw new ParseError(`size "${text}" is less than one byte`);
  // "1.5" with no unit is bytes: one and a half of them was stored as 1, silently.
  if (unit === 1 && !Number.isInteger(Number(m[1]))) throw new ParseError(`size "${text}" is not a whole number of bytes (write 1.5KB, 1.5MiB… for a unit)`);
  return value;
}

/**
 * A SIZE reply's text (RFC 3659 §4: "213" SP 1*DIGIT): decimal digits only, at most 2^53 - 1.
 * Read with Number(), an empty reply was 0 bytes, "0x10" 16 and "1e3" 1000: sizes the file does not
 * have, which then failed a good download's check or passed a short one.
 */
export function parseSizeReply(text: string): number {
  const t = text.trim();
  if (!/^\d+$/.test(t)) throw new ParseError(`${JSON.stringify(t.slice(0, 40))} is not a size (decimal digits only)`);
  const n = Number(t);
  if (!Number.isSafeInteger(n)) throw new ParseError(`a size of ${t.length} digits is past 2^53 bytes`);
  return n;
}

/** Parse a transfer rate like "2MB", "500K/s", "1MiB/s" into bytes per second (0 = unlimited). */
export function parseRate(text: string): number {
  return parseSize(text.replace(/\/s$/i, ""), { allowUnlimited: true });
}

/** Each magnitude's units, largest first: binary before decimal, so 5120 is "5KiB", not "5.12KB". */
const EXACT_UNITS = [["TiB", "TB"], ["GiB", "GB"], ["MiB", "MB"], ["KiB", "KB"]] as const;

/**
 * Exact, parseSize-compatible text for a byte count, in the largest unit it is a short exact number
 * of (at most two decimals, read back by parseSize to the same count): 1610612736 → "1.5GiB",
 * 5120 → "5KiB", 1e10 → "10GB", 1500000 → "1.5MB"; bytes otherwise ("1234567"). The users file keeps
 * quotas in it and `user list` / `user quota` show them with it: "--quota 1.5GiB" was shown as
 * "1536MiB", and "5K" as "5120B" (the shortest text won, and only whole numbers counted).
 */
export function formatSizeExact(bytes: number): string {
  if (bytes <= 0) return String(bytes);
  for (const units of EXACT_UNITS) {
    let best: string | null = null;
    for (const unit of units) {
      const value = bytes / UNITS[unit.toUpperCase()]!;
      const text = `${Number(value.toFixed(2))}${unit}`;
      if (value < 1 || !readsBackAs(text, bytes)) continue;
      if (best === null || text.length < best.length) best = text;
    }
    if (best !== null) return best;
  }
  return String(bytes);
}

/** parseSize(text) is `bytes`; false also when the rounding went past what parseSize takes (near 2^53: "too large"). */
function readsBackAs(text: string, bytes: number): boolean {
  try {
    return parseSize(text) === bytes;
  } catch {
    return false;
  }
}

/** Format bytes for humans with binary units: 1536 → "1.5 KiB" (rounded: progress and rates, not settings). */
export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = bytes;
  let i = -1;
  do {
    v /= 1024;
    i++;
  } while (v >= 1024 && i < units.length - 1);
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}
