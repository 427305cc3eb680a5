// Address blocks (CIDR, RFC 4632 / RFC 4291 §2.3) for --allow/--deny and the defender: pure, no I/O.
import { addressKey, canonicalIp, isIPv4 } from "./address.ts";
import { ParseError } from "./errors.ts";

/** An address block: the network's bytes (4 or 16) and how many leading bits must match. */
export interface Cidr {
  bytes: Uint8Array;
  prefix: number;
  /** As written by the user, for messages. */
  text: string;
}

/** An IPv4 or IPv6 address as bytes (4 or 16); IPv4-mapped IPv6 becomes IPv4. Null if not an address. */
export function parseIp(text: string): Uint8Array | null {
  const ip = canonicalIp(text.trim()).replace(/%.*$/, ""); // drop an IPv6 zone ("fe80::1%eth0")
  if (isIPv4(ip)) return Uint8Array.from(ip.split(".").map(Number));
  if (!ip.includes(":") || !/^[0-9a-f:.]+$/.test(ip)) return null;
  let head = ip;
  let v4: number[] = [];
  const lastColon = ip.lastIndexOf(":");
  if (ip.slice(lastColon + 1).includes(".")) {
    const tail = ip.slice(lastColon + 1);
    if (!isIPv4(tail)) return null;
    v4 = tail.split(".").map(Number);
    head = ip.slice(0, lastColon + 1) + "0:0"; // two placeholder groups, replaced below
  }
  const halves = head.split("::");
  if (halves.length > 2) return null;
  const groups = (s: string) => (s === "" ? [] : s.split(":"));
  const left = groups(halves[0]!);
  const right = halves.length === 2 ? groups(halves[1]!) : [];
  const missing = 8 - left.length - right.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const all = [...left, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...right];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    const g = all[i]!;
    if (!/^[0-9a-f]{1,4}$/.test(g)) return null;
    const n = parseInt(g, 16);
    out[2 * i] = n >> 8;
    out[2 * i + 1] = n & 255;
  }
  if (v4.length) out.set(v4, 12);
  // ::ffff:a.b.c.d written in hex groups is still an IPv4 peer.
  if (out.subarray(0, 10).every((b) => b === 0) && out[10] === 255 && out[11] === 255) return out.slice(12);
  return out;
}

/** "10.0.0.0/8", "2001:db8::/32", or a single address (= /32 or /128). Throws ParseError. */
export function parseCidr(text: string): Cidr {
  const t = text.trim();
  const slash = t.indexOf("/");
  const addr = slash < 0 ? t : t.slice(0, slash);
  const bytes = parseIp(addr);
  if (!bytes) throw new ParseError(`"${t}" is not an IP address or CIDR block (examples: 192.0.2.0/24, 2001:db8::/48)`);
  const max = bytes.length * 8;
  // An IPv4-mapped block (::ffff:10.0.0.0/104) is written in IPv6 terms: its prefix counts the 96
  // bits before the IPv4 part (/8 was read as 10.0.0.0/8, where IPv6 means ::/8; /104 was refused).
  const mapped = bytes.length === 4 && addr.includes(":");
  let prefix = max;
  if (slash >= 0) {
    const p = t.slice(slash + 1);
    const low = mapped ? 96 : 0;
    if (!/^\d{1,3}$/.test(p) || Number(p) < low || Number(p) > max + low) throw new ParseError(`"${t}": prefix length must be ${low}–${max + low}${mapped ? " (an IPv4-mapped address: 96 + the IPv4 prefix, e.g. ::ffff:10.0.0.0/104 for 10.0.0.0/8)" : ""}`);
    prefix = Number(p) - low;
  }
  return { bytes: maskBytes(bytes, prefix), prefix, text: t };
}

/** A comma-separated list of blocks ("127.0.0.0/8, ::1"); empty items are ignored. */
export function parseCidrList(text: string): Cidr[] {
  return text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "")
    .map(parseCidr);
}

/** Is the address inside the block? Addresses of the other family never are. */
export function cidrContains(cidr: Cidr, ip: string | Uint8Array): boolean {
  const bytes = typeof ip === "string" ? parseIp(ip) : ip;
  if (!bytes || bytes.length !== cidr.bytes.length) return false;
  const masked = maskBytes(bytes, cidr.prefix);
  for (let i = 0; i < masked.length; i++) if (masked[i] !== cidr.bytes[i]) return false;
  return true;
}

export function anyContains(list: readonly Cidr[], ip: string | Uint8Array): boolean {
  if (list.length === 0) return false;
  const bytes = typeof ip === "string" ? parseIp(ip) : ip;
  return !!bytes && list.some((c) => cidrContains(c, bytes));
}

/** The unit the defender counts and bans: the same as connection caps and login back-off count. */
export const banKey = addressKey;

/**
 * A ban key from the shared store in today's form: before 90e5405 an IPv6 /64 was written with its
 * zero groups ("2001:db8:0:0::/64", not "2001:db8::/64"), and a ban a store still held so (taken
 * before an upgrade, or announced by a node not upgraded yet) matched no address.
 */
export function canonicalBanKey(key: string): string {
  return key.endsWith("/64") ? banKey(key.slice(0, -3)) : key;
}

function maskBytes(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    const bits = Math.max(0, Math.min(8, prefix - 8 * i));
    out[i] = bytes[i]! & (bits === 0 ? 0 : (0xff << (8 - bits)) & 0xff);
  }
  return out;
}

/** "90s", "15m", "2h", "1d", "500ms" or plain seconds → milliseconds. Throws ParseError. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/i.exec(text.trim());
  if (!m) throw new ParseError(`invalid duration "${text}" (examples: 90s, 15m, 2h, 1d)`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? "s").toLowerCase() as "s"];
  const ms = Math.round(Number(m[1]) * unit);
  // 400 nines made Infinity, which went on as a ban time and a timer's delay.
  if (!Number.isSafeInteger(ms)) throw new ParseError(`duration "${text}" is too long`);
  return ms;
}

/** 900000 → "15m": the shortest exact form, for --help and logs. */
export function formatDuration(ms: number): string {
  for (const [u, n] of [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1000]] as const) {
    if (ms >= n && ms % n === 0) return `${ms / n}${u}`;
  }
  return `${ms}ms`;
}
