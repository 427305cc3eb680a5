// The head of an HTTP/1.x request, as far as the metrics endpoint needs it (method and path): pure, no I/O.

/** Bytes a request head may take (request line and headers); beyond it the answer is 431. */
export const MAX_HTTP_HEAD = 8192;

export type HttpHead =
  | { kind: "incomplete" }
  | { kind: "bad"; status: 400 | 431 | 505; reason: string }
  | { kind: "ok"; method: string; path: string };

/**
 * Read a request head from the bytes received so far. The headers themselves are not needed (no
 * body is read, every answer closes the connection), only their end: a blank line, CRLF or LF.
 */
export function parseHttpHead(bytes: Uint8Array): HttpHead {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, MAX_HTTP_HEAD + 4)).toString("latin1");
  const end = /\r?\n\r?\n/.exec(text);
  if (!end || end.index > MAX_HTTP_HEAD) {
    return bytes.length > MAX_HTTP_HEAD ? { kind: "bad", status: 431, reason: "Request Header Fields Too Large" } : { kind: "incomplete" };
  }
  const line = text.slice(0, text.search(/\r?\n/));
  const m = /^([A-Z]{1,16}) (\S{1,2048}) HTTP\/(\d)\.(\d)$/.exec(line);
  if (!m) return { kind: "bad", status: 400, reason: "Bad Request" };
  if (m[3] !== "1") return { kind: "bad", status: 505, reason: "HTTP Version Not Supported" };
  let target = m[2]!;
  // Absolute form (through a proxy): only its path counts.
  const absolute = /^https?:\/\/[^/?#]*/i.exec(target);
  if (absolute) target = target.slice(absolute[0].length) || "/";
  if (!target.startsWith("/")) return { kind: "bad", status: 400, reason: "Bad Request" };
  return { kind: "ok", method: m[1]!, path: target.replace(/[?#].*$/, "") };
}
