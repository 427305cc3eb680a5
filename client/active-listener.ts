// Active mode (PORT/EPRT): the client listens and the server connects to it. The accepted socket
// becomes a Connection like any other; under PROT P it is upgraded with the client as TLS client.
import type { Socket, TCPSocketListener } from "bun";
import { Connection, plainHandlers } from "./connection.ts";
import { ClientError } from "./errors.ts";
import type { TlsSettings } from "./tls-trust.ts";

/** A listening socket for one active-mode (PORT/EPRT) data connection. */
export interface DataListener {
  host: string;
  port: number;
  /** Resolves with the first connection the server makes. */
  accept(timeoutMs?: number): Promise<Connection>;
  close(): void;
}

/**
 * Listen on `host` (the control connection's local address), port 0, for active mode. With `tls`
 * the accepted socket is upgraded as the TLS *client*: in FTPS the FTP server is always the TLS
 * server, also on the connections it opens (RFC 4217 §7; ftpkit's server/tls/data.ts does the same).
 */
export function listenForData(host: string, tls?: { settings: TlsSettings; session: () => Buffer | null }): DataListener {
  let resolveConn!: (c: Connection) => void;
  const accepted = new Promise<Connection>((r) => (resolveConn = r));
  let got = false;
  let server: TCPSocketListener<Connection>;
  try {
    server = Bun.listen<Connection>({
      hostname: host,
      port: 0,
      socket: {
        ...plainHandlers,
        open(socket) {
          const conn = new Connection();
          socket.data = conn;
          conn.attach(socket as unknown as Socket<unknown>);
          if (got) {
            socket.terminate();
            return;
          }
          got = true;
          if (tls) void conn.startTls(tls.settings, tls.session());
          resolveConn(conn);
        },
      },
    });
  } catch (err) {
    throw new ClientError(`cannot listen for an active data connection on ${host}: ${(err as Error).message}`);
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  let rejectWait: ((e: Error) => void) | null = null;
  const close = () => {
    clearTimeout(timer);
    server.stop(false);
    rejectWait?.(new ClientError("active data connection abandoned"));
  };
  return {
    host,
    port: server.port,
    accept(timeoutMs = 15_000) {
      const waiting = Promise.race([
        accepted,
        new Promise<never>((_, reject) => {
          rejectWait = reject;
          timer = setTimeout(() => reject(new ClientError("the server did not open the active data connection")), timeoutMs);
        }),
      ]).finally(() => {
        clearTimeout(timer);
        server.stop(false);
      });
      waiting.catch(() => {}); // the caller may race this against the reply and stop listening
      return waiting;
    },
    close,
  };
}
