// A worker's line to the primary's MemoryStore (ftpkit serve --workers without --state): each
// command is one message on the IPC channel Bun.spawn opened, answered by id.
import type { StoreClient } from "./redis.ts";

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
}

const pending = new Map<number, Pending>();
/** Listeners for what the primary's store publishes (it sends each worker `{ pub: channel, message }`). */
const subscribers = new Set<{ channel: string; listener: (message: string, channel: string) => void }>();
const clients = new Set<StoreClient>();
let nextId = 1;
let listening = false;

function listen(): void {
  if (listening) return;
  listening = true;
  process.on("message", (m: { rpc?: number; ok?: unknown; err?: string; pub?: string; message?: string }) => {
    if (typeof m?.pub === "string") {
      for (const s of subscribers) if (s.channel === m.pub) s.listener(String(m.message ?? ""), m.pub);
      return;
    }
    if (typeof m?.rpc !== "number") return;
    const p = pending.get(m.rpc);
    if (!p) return;
    pending.delete(m.rpc);
    if (m.err !== undefined) p.reject(new Error(m.err));
    else p.resolve(m.ok);
  });
  process.on("disconnect", () => {
    for (const p of pending.values()) p.reject(new Error("primary process gone"));
    pending.clear();
    for (const c of clients) c.onclose?.(new Error("primary process gone"));
  });
}

export function ipcClient(): StoreClient {
  listen();
  const client: StoreClient = {
    onclose: null,
    async connect() {
      if (!process.send || !process.connected) throw new Error("no IPC channel to the primary process");
    },
    send(command, args) {
      if (!process.send || !process.connected) return Promise.reject(new Error("primary process gone"));
      return new Promise((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve, reject });
        process.send!({ rpc: id, command, args });
      });
    },
    async subscribe(channel, listener) {
      if (!process.send || !process.connected) throw new Error("primary process gone");
      subscribers.add((subscription = { channel, listener }));
    },
    close() {
      clients.delete(client);
      if (subscription) subscribers.delete(subscription);
    },
  };
  let subscription: { channel: string; listener: (message: string, channel: string) => void } | null = null;
  clients.add(client);
  return client;
}
