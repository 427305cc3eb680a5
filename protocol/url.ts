import { ParseError } from "./errors.ts";

/** A parsed ftp:// or ftps:// URL. `user`/`password` are percent-decoded; `path` is decoded too. */
export interface FtpUrl {
  secure: "none" | "implicit";
  host: string;
  port: number;
  user?: string;
  password?: string;
  path: string;
}

function decode(part: string, what: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new ParseError(`invalid percent-encoding in URL ${what}`);
  }
}

/** Parse ftp://user:pass@host:port/path (RFC 1738 §3.2); IPv6 hosts in brackets. */
export function parseFtpUrl(text: string): FtpUrl {
  const m = /^(ftps?):\/\/(?:([^@/]*)@)?(\[[0-9a-fA-F:.]+\]|[^:/?#\[\]@]+)(?::(\d*))?(\/[^?#]*)?$/.exec(text);
  if (!m) throw new ParseError(`invalid FTP URL "${text}" (expected ftp://[user[:password]@]host[:port]/path)`);
  const [, scheme, userinfo, rawHost, rawPort, rawPath] = m;
  const host = rawHost!.startsWith("[") ? rawHost!.slice(1, -1) : rawHost!;
  const port = rawPort ? Number(rawPort) : scheme === "ftps" ? 990 : 21;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ParseError(`invalid port in URL "${text}"`);
  const url: FtpUrl = { secure: scheme === "ftps" ? "implicit" : "none", host, port, path: decode(rawPath ?? "/", "path") };
  if (url.path.includes("\0") || /[\r\n]/.test(url.path)) throw new ParseError("URL path contains control characters");
  if (userinfo !== undefined) {
    const colon = userinfo.indexOf(":");
    url.user = decode(colon < 0 ? userinfo : userinfo.slice(0, colon), "user");
    if (colon >= 0) url.password = decode(userinfo.slice(colon + 1), "password");
  }
  return url;
}

/** Format a URL without the password (for logs, messages and the resume journal). */
export function formatFtpUrl(url: FtpUrl): string {
  const scheme = url.secure === "implicit" ? "ftps" : "ftp";
  const host = url.host.includes(":") ? `[${url.host}]` : url.host;
  const user = url.user !== undefined ? `${encodeURIComponent(url.user)}@` : "";
  const defaultPort = url.secure === "implicit" ? 990 : 21;
  const port = url.port === defaultPort ? "" : `:${url.port}`;
  const path = url.path.split("/").map(encodeURIComponent).join("/");
  return `${scheme}://${user}${host}${port}${path}`;
}
