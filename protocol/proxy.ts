// PROXY protocol v1 (text) and v2 (binary) headers, as sent by HAProxy and other TCP load
// balancers in front of the control port (haproxy.org/download/2.9/doc/proxy-protocol.txt). Pure.

import { formatIPv6 } from "./address.ts";
import { parseIp } from "./cidr.ts";

/** v2 headers start with these 12 bytes. */
export const PROXY_V2_SIGNATURE = Uint8Array.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** A v1 line is at most 107 bytes including CRLF (spec §2.1). */
export const MAX_PROXY_V1_LENGTH = 107;
/**
 * Our cap on a whole v2 header. The format allows 16 + 65535 bytes, but addresses take at most 216
 * and balancers add a few short TLVs; a bigger header is refused rather than buffered.
 */
export const MAX_PROXY_V2_LENGTH = 16 + 2048;
/** The reason given for bytes that do not start a header at all (not a broken one). */
export const NO_PROXY_HEADER = "no PROXY header";

export interface ProxyEndpoint {
  ip: string;
  port: number;
}

export interface ProxyHeader {
  version: 1 | 2;
  /**
   * LOCAL (v2) / UNKNOWN (v1): the balancer's own connection (health check); use the socket's
   * address. A v2 PROXY header of family UNSPEC is not local (a client), but names no address either.
   */
  local: boolean;
  family: "tcp4" | "tcp6" | "unspec";
  source?: ProxyEndpoint;
  destination?: ProxyEndpoint;
}

export type ProxyParse =
  | { status: "incomplete" }
  | { status: "invalid"; reason: string }
  /** `length` bytes were the header; anything after them belongs to the proxied connection. */
  | { status: "ok"; header: ProxyHeader; length: number };

const V1_PREFIX = "PROXY ";

/**
 * Parse a PROXY header at the start of `buf`. "incomplete" means more bytes are needed (the header
 * cannot be longer than the caps above, so the caller's buffer stays bounded).
 */
export function parseProxyHeader(buf: Uint8Array): ProxyParse {
  if (buf.length === 0) return { status: "incomplete" };
  if (buf[0] === 0x0d) return parseV2(buf);
  if (buf[0] === 0x50) return parseV1(buf);
  return { status: "invalid", reason: NO_PROXY_HEADER };
}

function startsWith(buf: Uint8Array, prefix: Uint8Array): "yes" | "no" | "short" {
  const n = Math.min(buf.length, prefix.length);
  for (let i = 0; i < n; i++) if (buf[i] !== prefix[i]) return "no";
  return buf.length < prefix.length ? "short" : "yes";
}

const V1_PREFIX_BYTES = new TextEncoder().encode(V1_PREFIX);

function parseV1(buf: Uint8Array): ProxyParse {
  const pre = startsWith(buf, V1_PREFIX_BYTES);
  if (pre === "no") return { status: "invalid", reason: NO_PROXY_HEADER };
  if (pre === "short") return { status: "incomplete" };
  let end = -1;
  for (let i = V1_PREFIX.length; i < Math.min(buf.length, MAX_PROXY_V1_LENGTH); i++) {
    if (buf[i] === 0x0a) {
      end = i;
      break;
    }
  }
  if (end < 0) return buf.length >= MAX_PROXY_V1_LENGTH ? { status: "invalid", reason: "PROXY v1 line too long" } : { status: "incomplete" };
  if (buf[end - 1] !== 0x0d) return { status: "invalid", reason: "PROXY v1 line must end in CRLF" };
  const line = new TextDecoder("latin1").decode(buf.subarray(0, end - 1));
  const parts = line.split(" ");
  const length = end + 1;
  if (parts[1] === "UNKNOWN") return { status: "ok", header: { version: 1, local: true, family: "unspec" }, length };
  if (parts.length !== 6) return { status: "invalid", reason: "PROXY v1 needs protocol, two addresses and two ports" };
  const [, proto, src, dst, sport, dport] = parts as [string, string, string, string, string, string];
  if (proto !== "TCP4" && proto !== "TCP6") return { status: "invalid", reason: `PROXY v1 protocol ${proto.slice(0, 8)} unknown` };
  const check = proto === "TCP4" ? validIPv4 : validIPv6;
  if (!check(src) || !check(dst)) return { status: "invalid", reason: `PROXY v1 ${proto} address is not a valid ${proto === "TCP4" ? "IPv4" : "IPv6"} address` };
  const sp = v1Port(sport);
  const dp = v1Port(dport);
  if (sp === null || dp === null) return { status: "invalid", reason: "PROXY v1 port out of range" };
  return {
    status: "ok",
    header: {
      version: 1,
      local: false,
      family: proto === "TCP4" ? "tcp4" : "tcp6",
      source: { ip: proto === "TCP6" ? v1IPv6(src) : src, port: sp },
      destination: { ip: proto === "TCP6" ? v1IPv6(dst) : dst, port: dp },
    },
    length,
  };
}

/**
 * A v1 IPv6 address as v2's would read (RFC 5952; IPv4-mapped as plain IPv4), whatever its spelling:
 * "0:0:0:0:0:ffff:10.8.8.8" kept as written was an IPv6 address whose /64, "::/64", every IPv4 client
 * so spelled shared: one ban, one --max-per-ip count for all of them.
 */
function v1IPv6(text: string): string {
  const b = parseIp(text);
  if (!b) return text.toLowerCase();
  return b.length === 4 ? b.join(".") : formatIPv6(b);
}

function v1Port(s: string): number | null {
  // No leading zeros, 0–65535 (spec: "a decimal number … without leading zeroes").
  if (!/^(0|[1-9]\d{0,4})$/.test(s)) return null;
  const n = Number(s);
  return n <= 65535 ? n : null;
}

function validIPv4(s: string): boolean {
  const parts = s.split(".");
  return parts.length === 4 && parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255);
}

function validIPv6(s: string): boolean {
  if (!/^[0-9a-fA-F:.]{2,45}$/.test(s) || s.includes(":::")) return false;
  const doubles = s.split("::").length - 1;
  if (doubles > 1) return false;
  let groups = s.split(":").filter((g) => g !== "");
  let count = groups.length;
  const last = groups[groups.length - 1];
  if (last?.includes(".")) {
    if (!validIPv4(last)) return false;
    groups = groups.slice(0, -1);
    count++; // an embedded IPv4 address is two groups
  }
  if (!groups.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))) return false;
  return doubles ? count < 8 : count === 8;
}

function parseV2(buf: Uint8Array): ProxyParse {
  const sig = startsWith(buf, PROXY_V2_SIGNATURE);
  if (sig === "no") return { status: "invalid", reason: NO_PROXY_HEADER };
  if (buf.length < 16) return { status: "incomplete" };
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) return { status: "invalid", reason: "PROXY v2 version must be 2" };
  const command = verCmd & 0x0f;
  if (command > 1) return { status: "invalid", reason: "PROXY v2 command unknown" };
  const fam = buf[13]!;
  const len = (buf[14]! << 8) | buf[15]!;
  if (16 + len > MAX_PROXY_V2_LENGTH) return { status: "invalid", reason: "PROXY v2 header too long" };
  if (buf.length < 16 + len) return { status: "incomplete" };
  const length = 16 + len;
  if (command === 0) return { status: "ok", header: { version: 2, local: true, family: "unspec" }, length };
  const body = buf.subarray(16, 16 + len);
  switch (fam) {
    case 0x11: // TCP over IPv4
      if (len < 12) return { status: "invalid", reason: "PROXY v2 IPv4 addresses truncated" };
      return {
        status: "ok",
        header: {
          version: 2,
          local: false,
          family: "tcp4",
          source: { ip: body.subarray(0, 4).join("."), port: (body[8]! << 8) | body[9]! },
          destination: { ip: body.subarray(4, 8).join("."), port: (body[10]! << 8) | body[11]! },
        },
        length,
      };
    case 0x21: // TCP over IPv6
      if (len < 36) return { status: "invalid", reason: "PROXY v2 IPv6 addresses truncated" };
      return {
        status: "ok",
        header: {
          version: 2,
          local: false,
          family: "tcp6",
          source: { ip: formatIPv6(body.subarray(0, 16)), port: (body[32]! << 8) | body[33]! },
          destination: { ip: formatIPv6(body.subarray(16, 32)), port: (body[34]! << 8) | body[35]! },
        },
        length,
      };
    case 0x00: // PROXY with UNSPEC: the receiver must use the socket's own addresses
    // UDP over IPv4/IPv6, UNIX stream/datagram: valid families we have no use for. The spec has a
    // receiver fall back to UNSPEC for them (their address block is skipped by the length), not
    // refuse the connection: a balancer relaying a unix-socket client may name it so.
    case 0x12:
    case 0x22:
    case 0x31:
    case 0x32:
      // Still a relayed client (HAProxy sends UNSPEC for one that reached a unix-socket bind), not
      // a LOCAL health check: it takes a connection slot as every client does.
      return { status: "ok", header: { version: 2, local: false, family: "unspec" }, length };
    default:
      return { status: "invalid", reason: "PROXY v2 family is not TCP over IPv4/IPv6" };
  }
}

/**
 * Build a v2 header (tests, and a client behind no balancer has no use for it). TCP over IPv6 when
 * either address is IPv6, an IPv4 one then mapped (::ffff:a.b.c.d), as a dual-stack balancer sends
 * it; "::ffff:1.2.3.4" is those 16 bytes (it was ::ffff:1, and an IPv4 destination beside an IPv6
 * source 127:: and the like). An address that is none throws.
 */
export function formatProxyV2(source: ProxyEndpoint, destination: ProxyEndpoint, tlvs: Uint8Array = new Uint8Array(0)): Uint8Array {
  const v6 = source.ip.includes(":") || destination.ip.includes(":");
  const addrLen = v6 ? 36 : 12;
  const out = new Uint8Array(16 + addrLen + tlvs.length);
  out.set(PROXY_V2_SIGNATURE, 0);
  out[12] = 0x21;
  out[13] = v6 ? 0x21 : 0x11;
  const len = addrLen + tlvs.length;
  out[14] = len >> 8;
  out[15] = len & 255;
  const ipBytes = (ip: string) => {
    const b = parseIp(ip); // a v4-mapped address comes back as its 4 IPv4 bytes
    if (!b) throw new Error(`formatProxyV2: not an IP address: ${ip}`);
    if (!v6 || b.length === 16) return b;
    const mapped = new Uint8Array(16);
    mapped.set([0xff, 0xff], 10);
    mapped.set(b, 12);
    return mapped;
  };
  const a = ipBytes(source.ip);
  const b = ipBytes(destination.ip);
  out.set(a, 16);
  out.set(b, 16 + a.length);
  const p = 16 + 2 * a.length;
  out[p] = source.port >> 8;
  out[p + 1] = source.port & 255;
  out[p + 2] = destination.port >> 8;
  out[p + 3] = destination.port & 255;
  out.set(tlvs, 16 + addrLen);
  return out;
}

