import { breaksCommandLine } from "./command.ts";
import { ParseError } from "./errors.ts";

/** A parsed ftp:// or ftps:// URL. `user`/`password` are percent-decoded; `path` is decoded too. */
export interface FtpUrl {
  secure: "none" | "implicit";
  host: string;
  port: number;
  user?: string;
  password?: string;
  /**
   * The URL path as RFC 1738 §3.2.2 reads it: relative to the login directory ("pub/a.txt", "" for
   * the login directory itself), or absolute when it starts with "/" (`ftp://host//etc/x` or
   * `ftp://host/%2Fetc/x`, as curl spells it). A trailing "/" marks a directory.
   */
  path: string;
}

function decode(part: string, what: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    const shown = what === "password" ? "***" : part;
    // Well-formed escapes whose bytes are not UTF-8 (a Latin-1 "caf%E9"): FTP names are UTF-8 (RFC 2640).
    if (/^(?:[^%]|%[0-9a-f]{2})*$/i.test(part)) {
      throw new ParseError(`URL ${what} "${shown}" decodes to bytes that are not UTF-8 (ftpkit sends names and passwords in UTF-8, RFC 2640: write "é" as %C3%A9, not %E9)`);
    }
    // A name or password with a "%" of its own ("100%.txt") is the usual cause: say how to write it.
    throw new ParseError(`invalid percent-encoding in URL ${what} "${shown}" (a "%" starts two hex digits; write a "%" itself as %25)`);
  }
}

/**
 * A URL as an error message may quote it: the password (user:PASSWORD@, up to the last "@", since a
 * malformed URL may hold an unescaped one) becomes "***", so it never lands in a terminal or CI log.
 * The authority is found however malformed the scheme is (`ftp:/u:pw@h`, `ftp//u:pw@h`, `u:pw@h`):
 * masking too much of a broken URL costs nothing, too little leaks the password.
 */
export function withoutPassword(text: string): string {
  const at = text.lastIndexOf("@");
  const authorityStart = /^[a-z][a-z0-9+.-]*:\/+/i.exec(text)?.[0].length ?? 0;
  const colon = text.indexOf(":", authorityStart);
  if (at < 0 || colon < 0 || colon > at) return text;
  return `${text.slice(0, colon + 1)}***${text.slice(at)}`;
}

export interface FtpUrlOptions {
  /** `ls`: ";type=d" (RFC 1738 §3.2.4, a directory listing, as curl reads it) is accepted; the path then names a directory. */
  listing?: boolean;
}

/** Parse ftp://user:pass@host:port/path (RFC 1738 §3.2); IPv6 hosts in brackets. A "?" is part of the path (FTP URLs have no query; client globs use it). */
export function parseFtpUrl(text: string, opts: FtpUrlOptions = {}): FtpUrl {
  // A lone surrogate (from a JS string, never argv) has no UTF-8: formatting the URL again threw URIError.
  if (!text.isWellFormed()) throw new ParseError("invalid FTP URL: it holds a lone UTF-16 surrogate, which is no character");
  // The scheme is case-insensitive (RFC 3986 §3.1): FTP://host works as ftp://host does in curl.
  // An IPv6 literal may carry a zone id, its "%" written %25 (RFC 6874): [fe80::1%25eth0].
  const m = /^(ftps?):\/\/(?:([^@/]*)@)?(\[[0-9a-fA-F:.]+(?:%[^\]/@]*)?\]|[^:/?#\[\]@]+)(?::(\d*))?(\/[^#]*)?$/i.exec(text);
  if (!m) {
    const authority = text.replace(/^[^:]*:\/\//, "").split("/")[0]!;
    const hint = (authority.split("@").length > 2 ? '; write an "@" in a user or password as %40' : "") + (text.includes("#") ? '; write a "#" in a name as %23' : "") + (/^[0-9a-fA-F]*:[0-9a-fA-F]*:/.test(authority.slice(authority.lastIndexOf("@") + 1)) ? "; write an IPv6 address in brackets: ftp://[::1]:2121/" : "");
    throw new ParseError(`invalid FTP URL "${withoutPassword(text)}" (expected ftp://[user[:password]@]host[:port]/path${hint})`);
  }
  const [, rawScheme, userinfo, rawHost, rawPort, rawPath0] = m;
  const scheme = rawScheme!.toLowerCase();
  // RFC 1738 §3.2.2 ";type=i" (binary, what ftpkit always moves) is dropped; ";type=a" asks for
  // what ftpkit does not do, and ";type=d" for a listing where a file is moved: both are refused
  // rather than sent as part of the name.
  const typecode = /;type=([aid])$/i.exec(rawPath0 ?? "");
  const type = typecode?.[1]!.toLowerCase();
  if (type === "a") throw new ParseError(`";type=${typecode![1]}" in the URL: ftpkit moves files in binary (;type=i) only`);
  if (type === "d" && !opts.listing) throw new ParseError(`";type=${typecode![1]}" in the URL asks for a directory listing, which ftpkit ls gives; get and put move files (in binary, ;type=i)`);
  const rawPath = typecode ? rawPath0!.slice(0, typecode.index) : rawPath0;
  const host = rawHost!.startsWith("[") ? ipv6Host(rawHost!.slice(1, -1), text) : rawHost!;
  const port = rawPort ? Number(rawPort) : scheme === "ftps" ? 990 : 21;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ParseError(`invalid port in URL "${withoutPassword(text)}"`);
  // The "/" after host:port only separates; what follows is relative to the login directory.
  const url: FtpUrl = { secure: scheme === "ftps" ? "implicit" : "none", host, port, path: decode((rawPath ?? "/").slice(1), "path") };
  if (breaksCommandLine(url.path)) throw new ParseError("URL path contains control characters");
  if (type === "d" && url.path !== "" && !url.path.endsWith("/")) url.path += "/"; // a trailing "/" marks a directory
  if (userinfo !== undefined) {
    const colon = userinfo.indexOf(":");
    const user = decode(colon < 0 ? userinfo : userinfo.slice(0, colon), "user");
    const password = colon >= 0 ? decode(userinfo.slice(colon + 1), "password") : undefined;
    // A password for no one: "ftp://:pw@host" sent an empty USER and read the 501 as a refused login.
    if (user === "" && password) throw new ParseError(`URL "${withoutPassword(text)}" has a password but no user name (ftp://USER:PASSWORD@host/…)`);
    // "ftp://:@host" names an empty user and password: sent as they are, as curl and lftp send them
    // ("USER ", "PASS "; wget refuses the URL). "ftp://@host": no user, as without the "@".
    if (user !== "" || password !== undefined) url.user = user;
    if (password !== undefined) url.password = password;
  }
  // USER and PASS carry them: a %0D, %0A or %00 would end or cut the command (the value is not quoted).
  if (url.user !== undefined && breaksCommandLine(url.user)) throw new ParseError("URL user name contains control characters (CR, LF or NUL)");
  if (url.password !== undefined && breaksCommandLine(url.password)) throw new ParseError("URL password contains control characters (CR, LF or NUL)");
  return url;
}

/** The longest zone id taken: a Linux interface name (IFNAMSIZ - 1), or an interface index. */
const MAX_ZONE = 15;

/**
 * The host of a bracketed IPv6 literal: the address, and its zone id after "%" as connect() takes it
 * (`fe80::1%eth0`). RFC 6874: the "%" is written %25, the zone is unreserved characters or
 * %-escapes; a bare "%" (`[fe80::1%eth0]`) is refused, saying how to write it.
 */
function ipv6Host(inside: string, text: string): string {
  const pct = inside.indexOf("%");
  if (pct < 0) return inside;
  const address = inside.slice(0, pct);
  const zoneText = inside.slice(pct);
  const where = `in URL "${withoutPassword(text)}"`;
  if (!zoneText.startsWith("%25")) throw new ParseError(`invalid IPv6 zone id ${where}: write its "%" as %25 (RFC 6874), e.g. ftp://[fe80::1%25eth0]/`);
  let zone: string;
  try {
    zone = decodeURIComponent(zoneText.slice(3));
  } catch {
    throw new ParseError(`invalid IPv6 zone id ${where}: a "%" that starts no %XX escape`);
  }
  if (zone === "") throw new ParseError(`invalid IPv6 zone id ${where}: empty after %25 (name an interface, e.g. %25eth0)`);
  if (zone.length > MAX_ZONE || !/^[A-Za-z0-9._~-]+$/.test(zone)) {
    throw new ParseError(`invalid IPv6 zone id ${where}: an interface name or index of at most ${MAX_ZONE} letters, digits, ".", "_", "~" or "-"`);
  }
  return `${address}%${zone}`;
}

/** Format a URL without the password (for logs, messages and the resume journal). */
export function formatFtpUrl(url: FtpUrl): string {
  const scheme = url.secure === "implicit" ? "ftps" : "ftp";
  const host = url.host.includes(":") ? `[${url.host.replace("%", "%25")}]` : url.host;
  // An empty user is written with its (empty) password: "ftp://@host" reads as no user at all.
  const user = url.user === "" ? ":@" : url.user !== undefined ? `${encodeURIComponent(url.user)}@` : "";
  const defaultPort = url.secure === "implicit" ? 990 : 21;
  const port = url.port === defaultPort ? "" : `:${url.port}`;
  // An absolute path keeps its own leading "/" after the separator: ftp://host//abs.
  const path = url.path.split("/").map(encodeURIComponent).join("/");
  return `${scheme}://${user}${host}${port}/${path}`;
}
