// How many bytes the kernel still holds for a TCP peer (Linux /proc/net/tcp and tcp6, "tx_queue":
// sent and not yet acknowledged, or not sent yet). A download writes into the kernel's buffers and
// hears back only when they are half empty (drain): a client reading slowly but steadily (40 KB/s
// against MiBs of buffers) moved no byte by our own measure for longer than --stall-timeout and was
// cut off as stalled. Read only for transfers that look stalled, and the tables at most once in
// SNAPSHOT_MS however many ask (a busy server's tables are MBs: a thousand slow readers must not make
// the stall timer read them a thousand times). Null where they cannot be read.
import { readFileSync } from "node:fs";

const TABLES = ["/proc/net/tcp", "/proc/net/tcp6"];
const SNAPSHOT_MS = 250;

let snapshot: { at: number; queues: Map<string, number> } | null = null;

function queues(): Map<string, number> {
  const now = performance.now();
  if (snapshot && now - snapshot.at < SNAPSHOT_MS) return snapshot.queues;
  const found = new Map<string, number>();
  for (const table of TABLES) {
    let text: string;
    try {
      text = readFileSync(table, "latin1");
    } catch {
      continue;
    }
    for (const line of text.split("\n")) {
      // "  sl  local_address rem_address   st tx_queue:rx_queue …"; the key: local port, remote port.
      const fields = line.trim().split(/\s+/, 5);
      if (fields.length < 5) continue;
      const local = fields[1]!.slice(fields[1]!.lastIndexOf(":") + 1);
      const remote = fields[2]!.slice(fields[2]!.lastIndexOf(":") + 1);
      const queued = parseInt(fields[4]!.split(":")[0]!, 16);
      if (Number.isFinite(queued)) found.set(`${local}:${remote}`, queued);
    }
  }
  snapshot = { at: now, queues: found };
  return found;
}

export function kernelSendQueue(localPort: number, remotePort: number): number | null {
  if (!(localPort > 0 && remotePort > 0)) return null;
  const hex = (p: number) => p.toString(16).toUpperCase().padStart(4, "0");
  return queues().get(`${hex(localPort)}:${hex(remotePort)}`) ?? null;
}
