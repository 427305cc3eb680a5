// A recording TCP proxy for wire checks (e.g. "no password in clear after AUTH TLS").
import type { Socket, TCPSocketListener } from "bun";

/** A TCP proxy on 127.0.0.1 that forwards to `port` and records every byte the client sends. */
export function recordingProxy(port: number): { port: number; sent: () => Buffer; stop: () => void } {
  const sent: Buffer[] = [];
  const proxy: TCPSocketListener<{ upstream: Promise<Socket<undefined>> }> = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(client) {
        client.data = {
          upstream: Bun.connect({
            hostname: "127.0.0.1",
            port,
            socket: {
              data: (_s, chunk) => void client.write(chunk),
              close: () => void client.end(),
              error: () => void client.end(),
            },
          }),
        };
      },
      async data(client, chunk) {
        sent.push(Buffer.from(chunk));
        (await client.data.upstream).write(chunk);
      },
      async close(client) {
        (await client.data?.upstream)?.end();
      },
    },
  });
  return { port: proxy.port, sent: () => Buffer.concat(sent), stop: () => proxy.stop(true) };
}
