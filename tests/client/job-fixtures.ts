// What client/integrity and client/server-conduct share: random payloads, a server's HASH FEAT, and
// a three-file put -r whose report says how each file ended.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runFtpkit } from "../helpers/peers.ts";
import type { FakeServer } from "./fake-server-options.ts";

/** 200,000 random bytes. */
export const payload = () => Buffer.from(crypto.getRandomValues(new Uint8Array(200_000)));
export const HASH_FEAT = ["SIZE", "MDTM", "REST STREAM", "HASH SHA-256*;MD5"];

/** `put -r` of a.bin, b.bin and c.bin (random) from `work` to /dst on `server`, one connection, --json. */
export async function putTree(server: FakeServer, work: string) {
  const local = join(work, "tree");
  mkdirSync(local);
  const bytes = new Map(["a.bin", "b.bin", "c.bin"].map((n) => [n, payload()] as const));
  for (const [n, data] of bytes) writeFileSync(join(local, n), data);
  const r = await runFtpkit(["put", "-r", local, `ftp://u:p@127.0.0.1:${server.port}/dst`, "--parallel", "1", "--json"], { cwd: work });
  return { r, bytes };
}
