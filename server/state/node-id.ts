// A node's id in the shared store (RedisState.node): `host:pid:` then, in a --workers worker, its
// run's tag, then a random part. Its first parts name the process, so a --workers sibling known dead
// is found by them (nodeGone, NODE_GONE).
import { hostname } from "node:os";

/**
 * Set by a --workers primary in its workers' environment: a tag of its own run. Two hosts may share a
 * name, and two containers a host's name and their PIDs (host networking: each numbers its processes
 * from 1); with the tag, a dead worker's `host:pid:` never names another run's live node.
 */
export const RUN_TAG_ENV = "FTPKIT_RUN_TAG";

/** A new run's tag (for RUN_TAG_ENV): random, ended by "." so that it is never the start of another's. */
export function newRunTag(): string {
  return `${crypto.randomUUID().slice(0, 8)}.`;
}

/** How the ids of process `pid`'s nodes on this host start, in the run tagged `tag` (a worker's own, by default). */
export function nodeIdPrefix(pid: number, tag = process.env[RUN_TAG_ENV] ?? ""): string {
  return `${hostname()}:${pid}:${tag}`;
}
