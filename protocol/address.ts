import { ParseError } from "./errors.ts";

/** A host and port as carried by PASV/PORT (IPv4) or EPSV/EPRT (IPv4 or IPv6). */
export interface HostPort {
  host: string;
  port: number;
}

/** "::ffff:127.0.0.1" → "127.0.0.1": Bun reports IPv4 peers of a "::" listener this way. */
export function canonicalIp(ip: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  return m ? m[1]! : ip.toLowerCase();
}

/** An IPv6 host's zone id (`fe80::1%eth0` → "eth0"), or null. */
export function zoneOf(host: string): string | null {
  const pct = host.indexOf("%");
  return pct >= 0 && host.includes(":") ? host.slice(pct + 1) : null;
}

/** The address without its zone id (`fe80::1%eth0` → "fe80::1"): what a certificate or a reply names. */
export function withoutZone(host: string): string {
  const pct = host.indexOf("%");
  return pct >= 0 && host.includes(":") ? host.slice(0, pct) : host;
}

/** 127.0.0.0/8 or ::1 (after canonicalIp). */
export function isLoopback(ip: string): boolean {
  return ip === "::1" || (ip.startsWith("127.") && isIPv4(ip));
}

export function isIPv4(ip: string): boolean {
  const parts = ip.split(".");
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

export function isIPv6(ip: string): boolean {
  return ip.includes(":") && /^[0-9a-fA-F:.]+$/.test(ip) && !ip.includes(":::");
}

function checkPort(port: number): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ParseError(`invalid port ${port}`);
  return port;
}

/** "host:port" as people and URLs write it: an IPv6 address in brackets. */
export function formatEndpoint(host: string, port: number): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/** PORT/PASV argument "h1,h2,h3,h4,p1,p2" (RFC 959 §4.1.2). */
export function formatHostPort({ host, port }: HostPort): string {
  const ip = canonicalIp(host);
  if (!isIPv4(ip)) throw new ParseError(`PASV/PORT need an IPv4 address, got ${host}`);
  return `${ip.split(".").join(",")},${port >> 8},${port & 255}`;
}

/**
 * Six numbers h1,h2,h3,h4,p1,p2 found in `text` (a 227 reply's words around them vary by server);
 * `exact`: `text` is those six numbers and nothing else (PORT's argument: "PORT 1127,0,0,1,98,80"
 * or one with words after it is refused, as vsftpd refuses it, not read from its middle).
 */
export function parseHostPort(text: string, exact = false): HostPort {
  const m = (exact ? /^\s*(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3})\s*$/ : /(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3})/).exec(text);
  if (!m) throw new ParseError("invalid host-port, expected h1,h2,h3,h4,p1,p2");
  const n = m.slice(1).map(Number);
  if (n.some((x) => x > 255)) throw new ParseError("invalid host-port: number above 255");
  return { host: n.slice(0, 4).join("."), port: checkPort(n[4]! * 256 + n[5]!) };
}

/** 227 reply text. */
export function formatPasvReply(hp: HostPort): string {
  return `Entering Passive Mode (${formatHostPort(hp)}).`;
}

/** EPRT argument "|1|132.235.1.2|6275|" or "|2|::1|6275|" (RFC 2428 §2). */
export function formatEprt({ host, port }: HostPort): string {
  const ip = canonicalIp(host);
  const af = isIPv4(ip) ? 1 : 2;
  return `|${af}|${ip}|${port}|`;
}

export function parseEprt(text: string): HostPort {
  const d = text[0];
  if (!d || d.charCodeAt(0) < 33 || d.charCodeAt(0) > 126) throw new ParseError("invalid EPRT delimiter");
  const parts = text.split(d);
  if (parts.length !== 5 || parts[0] !== "" || parts[4] !== "") throw new ParseError("invalid EPRT argument");
  const [, af, host, port] = parts as [string, string, string, string, string];
  if (af === "1" && !isIPv4(host)) throw new ParseError("invalid EPRT IPv4 address");
  if (af === "2" && !isIPv6(host)) throw new ParseError("invalid EPRT IPv6 address");
  if (af !== "1" && af !== "2") throw new ParseError("unsupported EPRT network protocol");
  if (!/^\d{1,5}$/.test(port)) throw new ParseError("invalid EPRT port");
  return { host: host.toLowerCase(), port: checkPort(Number(port)) };
}

/** 229 reply text: "Entering Extended Passive Mode (|||6446|)". */
export function formatEpsvReply(port: number): string {
  return `Entering Extended Passive Mode (|||${checkPort(port)}|)`;
}

export function parseEpsvReply(text: string): number {
  const m = /\((.)\1\1(\d{1,5})\1\)/.exec(text);
  if (!m) throw new ParseError("invalid EPSV reply");
  return checkPort(Number(m[2]));
}

/**
 * The key connection caps and login back-off count an address under: an IPv4 address itself, an
 * IPv6 address by its /64 (one subscriber usually holds a whole /64, so counting single addresses
 * would give each of its 2^64 addresses a fresh budget). "2001:db8:0:1::5" → "2001:db8:0:1::/64", and
 * RFC 5952 short, as an admin types it in --allow: "2001:db8::5" → "2001:db8::/64".
 */
export function addressKey(ip: string): string {
  const c = canonicalIp(ip);
  if (!c.includes(":")) return c;
  const groups = expandIPv6(c.split("%", 1)[0]!);
  if (!groups) return c;
  const prefix = new Uint8Array(16);
  for (let i = 0; i < 4; i++) [prefix[2 * i], prefix[2 * i + 1]] = [groups[i]! >> 8, groups[i]! & 0xff];
  return `${formatIPv6(prefix)}/64`;
}

/** 16 bytes → RFC 5952 text ("2001:db8::1"); an IPv4-mapped address becomes plain IPv4. */
export function formatIPv6(b: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i]! << 8) | b[i + 1]!);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  // Longest run of at least two zero groups becomes "::" (the first one on a tie).
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
}

/** The eight 16-bit groups of an IPv6 address (with "::" and a trailing dotted IPv4), or null if malformed. */
function expandIPv6(ip: string): number[] | null {
  let text = ip;
  const tail: number[] = [];
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    if (!isIPv4(dotted[1]!)) return null;
    const b = dotted[1]!.split(".").map(Number);
    tail.push((b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!);
    text = text.slice(0, -dotted[1]!.length);
    if (text.endsWith(":") && !text.endsWith("::")) text = text.slice(0, -1);
  }
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const parse = (s: string) => (s === "" ? [] : s.split(":").map((g) => (/^[0-9a-f]{1,4}$/i.test(g) ? parseInt(g, 16) : NaN)));
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  const known = head.length + rest.length + tail.length;
  if (head.some(Number.isNaN) || rest.some(Number.isNaN)) return null;
  if (halves.length === 1 ? known !== 8 : known > 7) return null;
  return [...head, ...new Array<number>(8 - known).fill(0), ...rest, ...tail];
}
