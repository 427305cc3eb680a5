// How many bytes the kernel still holds for a TCP peer (Linux /proc/net/tcp and tcp6, "tx_queue":
// sent and not yet acknowledged, or not sent yet). A download writes into the kernel's buffers and
// hears back only when they are half empty (drain): a client reading slowly but steadily (40 KB/s
// against MiBs of buffers) moved no byte by our own measure for longer than --stall-timeout and was
// cut off as stalled. Read only for a transfer that looks stalled; null where it cannot be read.
import { readFileSync } from "node:fs";

const TABLES = ["/proc/net/tcp", "/proc/net/tcp6"];

export function kernelSendQueue(localPort: number, remotePort: number): number | null {
  if (!(localPort > 0 && remotePort > 0)) return null;
  const ports = (p: number) => `:${p.toString(16).toUpperCase().padStart(4, "0")}`;
  const local = ports(localPort);
  const remote = ports(remotePort);
  for (const table of TABLES) {
    let text: string;
    try {
      text = readFileSync(table, "latin1");
    } catch {
      continue;
    }
    for (const line of text.split("\n")) {
      // "  sl  local_address rem_address   st tx_queue:rx_queue …"
      const fields = line.trim().split(/\s+/, 5);
      if (fields.length < 5 || !fields[1]!.endsWith(local) || !fields[2]!.endsWith(remote)) continue;
      const queued = parseInt(fields[4]!.split(":")[0]!, 16);
      return Number.isFinite(queued) ? queued : null;
    }
  }
  return null;
}
