// The digest items of the everyday checklist: HASH (draft-bryan-ftp-hash) and the legacy X-verbs,
// each digest compared with our own of the file the transfers item stored or read (checks-core.ts).
import { parseHashReply, parseLegacyHashReply, LEGACY_HASH_VERBS, type HashAlgorithm } from "../../protocol/hash.ts";
import { createHasher } from "../../protocol/digest.ts";
import { line, type Probe } from "./runner.ts";

/** Digest of `data` as a server should report it (hex, lower case). */
export function localDigest(algo: HashAlgorithm, data: Uint8Array): string {
  const h = createHasher(algo);
  h.update(data);
  return h.hex();
}

/** HASH (draft-bryan-ftp-hash) for every algorithm FEAT offers, checked against our own digest. */
export async function hash(p: Probe): Promise<void> {
  const file = p.file;
  if (!file) return p.record("hash", "n/a", "no file to ask about");
  await p.check("hash", async () => {
    const c = await p.session();
    const offered = p.features.get("HASH");
    if (offered === undefined) return ["fail", "FEAT does not list HASH"];
    const algos = offered.split(";").map((a) => a.trim().replace(/\*$/, "").toUpperCase()).filter(Boolean);
    const good: string[] = [];
    const bad: string[] = [];
    for (const a of algos) {
      const opt = await c.command("OPTS", `HASH ${a}`);
      if (opt.code !== 200) {
        bad.push(`OPTS HASH ${a}: ${opt.code}`);
        continue;
      }
      const r = await c.command("HASH", file.name);
      if (r.code !== 213) {
        bad.push(`HASH with ${a}: ${line(r)}`);
        continue;
      }
      try {
        // The last line carries the digest: ProFTPD sends "213-Computing …" first.
        const res = parseHashReply(r.lines[r.lines.length - 1]!);
        if (res.hex === localDigest(res.algorithm, file.data)) good.push(res.algorithm);
        else bad.push(`${res.algorithm} digest differs`);
      } catch (err) {
        bad.push((err as Error).message);
      }
    }
    if (!good.length && !bad.length) return ["fail", `FEAT lists HASH without algorithms ("${offered}")`];
    return bad.length ? ["fail", `${bad.join("; ")}${good.length ? `; ${good.join(" ")} match` : ""}`] : ["pass", `${good.join(" ")} match`];
  });
}

/** The legacy XMD5/XSHA1/XSHA256/XSHA512/XCRC verbs. */
export async function xdigests(p: Probe): Promise<void> {
  const file = p.file;
  if (!file) return p.record("xdigests", "n/a", "no file to ask about");
  await p.check("xdigests", async () => {
    const c = await p.session();
    const good: string[] = [];
    const bad: string[] = [];
    const none: string[] = [];
    for (const [verb, algo] of Object.entries(LEGACY_HASH_VERBS)) {
      const r = await c.command(verb, file.name);
      if (r.code === 213 || r.code === 250) {
        try {
          if (parseLegacyHashReply(r.lines.join(" ")) === localDigest(algo, file.data)) good.push(verb);
          else bad.push(`${verb} differs`);
        } catch {
          bad.push(`${verb}: ${line(r)}`);
        }
      } else none.push(verb);
    }
    const tail = none.length ? `; not offered: ${none.join(" ")}` : "";
    if (bad.length) return ["fail", `${bad.join("; ")}${good.length ? `; ${good.join(" ")} match` : ""}${tail}`];
    if (!good.length) return ["fail", "none of the X-digest verbs is offered"];
    return ["pass", `${good.join(" ")} match${tail}`];
  });
}
