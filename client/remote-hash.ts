// Asking the server for a file's digest: HASH (draft-bryan-ftp-hash) with OPTS HASH to pick the
// algorithm and RANG (draft-bryan-ftp-range) for a byte range, else the legacy XSHA256/XMD5.
import { digestOfLength, formatRangeArg, parseHashReply, parseLegacyHashReply, type HashAlgorithm, type HashResult } from "../protocol/hash.ts";
import type { FtpClient } from "./client.ts";
import { describe, fromServer, replyError } from "./errors.ts";

/** The client's --hash choices: the HASH name and the legacy verb (none for CRC-32: XCRC replies differ between servers). */
export const HASH_NAMES: Record<"md5" | "sha256" | "crc32", { hash: HashAlgorithm; legacy: string | null }> = {
  md5: { hash: "MD5", legacy: "XMD5" },
  sha256: { hash: "SHA-256", legacy: "XSHA256" },
  crc32: { hash: "CRC32", legacy: null },
};

export type DigestAlgorithm = keyof typeof HASH_NAMES;

/** Why the server gave no digest: its HASH lacks `algo` (a hint: --hash with what it has), or it has none. */
export function noDigestReason(client: FtpClient, algo: DigestAlgorithm): string {
  const refusal = client.hashRefusal();
  if (refusal) return `the server did not give the ${algo} digest (${refusal})`;
  const offered = client.features.get("HASH");
  return offered !== undefined ? `the server offers no ${algo} hash (HASH ${offered})` : "the server offers no hash";
}

export function isDigestAlgorithm(name: unknown): name is DigestAlgorithm {
  return typeof name === "string" && Object.hasOwn(HASH_NAMES, name);
}

/** The HASH state of one control connection: the algorithm selected, the legacy verbs refused. */
export class RemoteHash {
  private selected: HashAlgorithm | null = null;

  constructor(private readonly client: FtpClient) {}

  /**
   * Say which digest we will ask for, before any byte moves: a server that sees OPTS HASH can hash
   * while the data streams (ftpkit does) and answer the HASH afterwards without reading the file again.
   * Without HASH for it, learn now whether the legacy verb exists (sent bare: a server that has it
   * wants an argument, 501; one that has not does not know it, 500/502), so that against a server
   * with no digest at all (vsftpd, pyftpdlib) no local digest is computed for nothing.
   * The round trip moves rather than adds: the first verification would have asked it anyway.
   */
  async announce(algo: DigestAlgorithm): Promise<void> {
    const names = HASH_NAMES[algo];
    if (this.client.features.has("HASH")) {
      const r = await this.client.command("OPTS", `HASH ${names.hash}`);
      if (r.code === 200) {
        this.selected = names.hash;
        return;
      }
    }
    if (names.legacy === null || this.client.features.has(names.legacy) || this.legacyRefused.has(names.legacy)) return;
    const r = await this.client.command(names.legacy);
    if (r.code === 500 || r.code === 502) this.legacyRefused.add(names.legacy);
  }

  /**
   * Whether the server may give a digest with `algo`: false once it is known that it cannot (no
   * HASH offering it, and the legacy verb missing or refused), so the caller need not compute one.
   * It only ever turns from true to false: a digest not computed is never asked for afterwards.
   */
  mayGive(algo: DigestAlgorithm): boolean {
    const names = HASH_NAMES[algo];
    if (this.selected === names.hash) return true;
    if (this.client.features.has("HASH") && this.hashOffers(names.hash)) return true;
    return names.legacy !== null && !this.legacyRefused.has(names.legacy);
  }

  /** Whether FEAT's HASH line offers `algo` (a bare "HASH" may: only OPTS HASH can tell). */
  private hashOffers(algo: HashAlgorithm): boolean {
    // Without the "*" that marks the current algorithm: "HASH SHA-256*;MD5".
    const offered = (this.client.features.get("HASH") ?? "").split(";").map((s) => s.trim().replace(/\*$/, "").toUpperCase()).filter((s) => s !== "");
    return offered.length === 0 || offered.includes(algo);
  }

  /** Choose the HASH algorithm (OPTS HASH); false when the server refuses it. */
  private async selectHash(algo: HashAlgorithm): Promise<boolean> {
    if (this.selected === algo) return true;
    if (!this.hashOffers(algo)) return false;
    // FEAT's "*" marks the algorithm the session began with: once OPTS HASH chose another, it is stale
    // (trusted then, HASH answered in the other algorithm and the file passed as "size verified only").
    const current = this.selected === null ? (this.client.features.get("HASH") ?? "") : "";
    if (current.split(";").some((s) => s.trim().toUpperCase() === `${algo}*`)) {
      this.selected = algo;
      return true;
    }
    const r = await this.client.command("OPTS", `HASH ${algo}`);
    if (r.code !== 200) return false;
    this.selected = algo;
    return true;
  }

  /**
   * The server's digest of `path` (or of bytes [start, end) with a range, sent as RANG START END-1) using `algo`: HASH when
   * FEAT lists it, else the legacy XSHA256/XMD5 (tried once, unless FEAT lists it). `null` when
   * the server offers neither.
   */
  async digest(path: string, algo: DigestAlgorithm, range?: { start: number; end: number }): Promise<{ hex: string; via: string } | null> {
    const names = HASH_NAMES[algo];
    // Already selected: HASH goes out before the first await, so a caller can pipeline after it.
    if (this.client.features.has("HASH") && (this.selected === names.hash || (await this.selectHash(names.hash)))) {
      let ranged = false;
      if (range) {
        if (range.end <= range.start) return null;
        const rr = await this.client.command("RANG", formatRangeArg(range)); // END inclusive on the wire
        if (rr.code !== 350) return null;
        ranged = true;
      }
      let honoured = false;
      try {
        const r = await this.client.command("HASH", path);
        if (r.code === 213) {
          // Only the last line carries the result: ProFTPD's mod_digest sends "213-Computing…" first.
          const res: HashResult = fromServer("HASH reply", () => parseHashReply(r.lines[r.lines.length - 1]!));
          if (res.algorithm !== names.hash) {
            // FEAT may list the algorithm and still HASH answer in another: say that, not "offers none".
            this.refusal = `HASH answered with ${res.algorithm}, not ${names.hash}`;
            return null;
          }
          if (range && (res.start !== range.start || res.end !== range.end)) return null;
          honoured = true;
          return { hex: res.hex, via: "HASH" };
        }
        // No such file, or "not now" (421 while the server shuts down, 450 busy): the digest exists, so a
        // later session can still give it; never a verdict of "no digest here".
        if (r.code === 550 || (r.code >= 400 && r.code < 500)) throw replyError(`HASH ${path}`, r);
        this.refusal = `HASH: ${describe(r)}`;
        return null;
      } finally {
        // A range the HASH did not use stays set (ProFTPD hashes the whole file and keeps the RANG):
        // reset, or the next RETR stopped at the range's end and the file never completed.
        if (ranged && !honoured) await this.client.command("RANG", "1 0").catch(() => {});
      }
    }
    if (range || names.legacy === null) return null; // legacy verbs have no portable range form
    if (this.legacyRefused.has(names.legacy)) return null;
    const listed = this.client.features.has(names.legacy);
    const r = await this.client.command(names.legacy, path);
    if (r.code === 213 || r.code === 250) return { hex: fromServer(`${names.legacy} reply`, () => digestOfLength(parseLegacyHashReply(r.lines[r.lines.length - 1]!), names.hash)), via: names.legacy };
    if (listed && (r.code === 550 || r.code === 450)) throw replyError(`${names.legacy} ${path}`, r);
    this.legacyRefused.add(names.legacy);
    return null;
  }

  private legacyRefused = new Set<string>();
  /** How the server last refused (or answered in another algorithm) a HASH it lists in FEAT, for the "verified size only" note. */
  refusal: string | null = null;
}
