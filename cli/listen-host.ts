// The address a server is asked to listen on, checked before it listens: `serve --host` and the
// package API's startServer({ host }) say the same words, each under its own name for it.
import { isIP } from "node:net";

/**
 * What keeps `host` from being an address to listen on, said under `name` ("--host", "host"), or
 * null. It can be: an IPv4 address (four numbers 0-255: "999.1.1.1" and the short or octal forms
 * inet_aton takes, "1.2.3" for 1.2.0.3, "010.0.0.1" for 8.0.0.1, are refused), an IPv6 one, or a
 * host name that resolves. Bun's "Failed to listen" said only "not a valid address" for all of
 * them. A name whose look-up fails for now (EAI_AGAIN) is left to the listen.
 */
export async function listenHostProblem(host: string, name: string): Promise<string | null> {
  if (isIP(host) !== 0) return null;
  if (host === "") return `${name} needs an address (0.0.0.0 for every IPv4 address, :: for IPv6 too)`;
  if (/^[\d.]+$/.test(host)) return `${name} ${host} is not an IPv4 address (four numbers from 0 to 255, e.g. 192.0.2.10)`;
  // Brackets belong to a URL or an ADDR:PORT (--metrics [::1]:9100), not to an address alone.
  if (/^\[.*\]$/.test(host) && isIP(host.slice(1, -1)) === 6) return `${name} ${host}: write the IPv6 address without brackets (${name} ${host.slice(1, -1)})`;
  if (host.includes(":")) return `${name} ${host} is not an IPv6 address (e.g. ::1, or :: for every address)`;
  // RFC 1123 names: labels of letters, digits and "-", at most 63 characters each, 253 in all.
  if (host.length > 253 || !/^(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?$/.test(host)) {
    return `${name} ${JSON.stringify(host)} is not an address or a host name`;
  }
  const { lookup } = await import("node:dns/promises");
  try {
    await lookup(host);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "ENOTFOUND" || code === "EAI_NONAME" || code === "ENODATA") return `${name} ${host}: no such host (the name resolves to no address)`;
  }
  return null;
}
