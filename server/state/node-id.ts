// A node's id in the shared store (RedisState.node): `host:pid:random`. Its first two parts name the
// process, so a --workers sibling known dead is found by them (nodeGone, NODE_GONE).
import { hostname } from "node:os";

/** How the ids of process `pid`'s nodes on this host start. */
export function nodeIdPrefix(pid: number): string {
  return `${hostname()}:${pid}:`;
}
