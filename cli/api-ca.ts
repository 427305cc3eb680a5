// The client API's `ca` option: PEM text or file names, as startServer's `tls` takes them (the CLI's
// --ca is a file, read in cli/args.ts). Bun's TLS takes only PEM text: a file name reached it as
// "Invalid CA", naming neither the option nor the file.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * The PEM certificates in `text` (the CLI's --ca file, an API `ca` entry), each parsed: Bun's TLS met
 * a corrupt one with a bare "Invalid CA" and a stack trace, and `ftpkit test` blamed the greeting.
 */
export function pemCertificates(text: string): { pems: string[] } | { why: string } {
  const pems = text.match(PEM_CERTIFICATE);
  if (!pems) return { why: "no PEM certificate (-----BEGIN CERTIFICATE-----) in it" };
  // Loaded only when a CA is given: node:crypto loads Node's streams, which get and put keep out of their start-up.
  const { X509Certificate } = require("node:crypto") as typeof import("node:crypto");
  for (const [i, pem] of pems.entries()) {
    try {
      new X509Certificate(pem);
    } catch {
      return { why: `its ${pems.length === 1 ? "certificate" : `certificate ${i + 1} of ${pems.length}`} cannot be read (corrupt or cut short)` };
    }
  }
  return { pems: pems.map((p) => `${p}\n`) };
}

/** `opts` with `ca` as the PEM certificates its entries hold or name; a bad entry is an error naming it (the caller prefixes its name). */
export function withCaTexts<T extends { ca?: string[] }>(opts: T): T {
  if (opts.ca === undefined) return opts;
  if (!Array.isArray(opts.ca)) throw new Error(`ca must be a list of PEM texts or file names, got ${typeof opts.ca}`);
  const ca = opts.ca.flatMap((entry: unknown, i) => {
    if (typeof entry !== "string" || entry === "") throw new Error(`ca[${i}] must be PEM text or a file name, got ${JSON.stringify(entry)}`);
    const isText = entry.includes("-----BEGIN");
    const found = pemCertificates(isText ? entry : readCaFile(i, entry));
    if ("why" in found) throw new Error(`ca[${i}] ${isText ? "(PEM text)" : entry}: ${found.why}`);
    return found.pems;
  });
  return { ...opts, ca };
}

function readCaFile(i: number, file: string): string {
  try {
    return readFileSync(resolve(file), "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "not found" : code === "EACCES" ? "permission denied" : code === "EISDIR" ? "is a directory" : "cannot be read";
    throw new Error(`ca[${i}] ${file}: ${why}`);
  }
}
