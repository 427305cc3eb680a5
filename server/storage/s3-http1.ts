// The HTTP/1.1 pieces shared by the raw GET (s3-get.ts) and the raw part PUT (s3-raw-send.ts):
// the request head, where to connect, and the response head. One request per connection.

/**
 * A request head ending in the blank line; `connection: close` so the answer ends with the connection.
 * `target` is the path and query exactly as signed (S3Api.signed): not the URL's, which folds "%2E" segments.
 */
export function requestHead(method: string, target: string, headers: Record<string, string>, extra: string[] = []): Buffer {
  const lines = [`${method} ${target} HTTP/1.1`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), ...extra, "connection: close", "", ""];
  return Buffer.from(lines.join("\r\n"));
}

/** Bun.connect's target for a plain http:// URL (IPv6 literals without their brackets). */
export function connectTarget(url: URL): { hostname: string; port: number } {
  return { hostname: url.hostname.replace(/^\[|\]$/g, ""), port: Number(url.port || 80) };
}

/** The status and headers of a response head (the bytes before its blank line). */
export function parseHead(head: Buffer): { status: number; headers: Headers } {
  const lines = head.toString("latin1").split("\r\n");
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0]!)?.[1] ?? 0);
  const headers = new Headers();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  return { status, headers };
}

/** The payload of a chunked body (error answers only; S3 sends object bodies with a length). */
export function dechunk(body: Buffer): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = body.indexOf("\r\n", at);
    if (eol < 0) break;
    const size = parseInt(body.subarray(at, eol).toString("latin1"), 16);
    if (!(size > 0)) break;
    out.push(body.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return Buffer.concat(out);
}
