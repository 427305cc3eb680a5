// Active mode (PORT/EPRT): the client listens and the server connects to it. The accepted socket
// becomes a Connection like any other; under PROT P active-transfer.ts upgrades it (data-tls.ts; the
// client is the TLS client) once the transfer command's 1yz is in.
// Only the server may connect: anyone else who reached the port first could feed a download its
// bytes or be sent an upload's (the data-connection theft vsftpd's pasv_promiscuous=NO prevents on
// the server side).
import type { Socket, SocketHandler, TCPSocketListener } from "bun";
import { canonicalIp, isIPv4, isIPv6 } from "../protocol/address.ts";
import { listenOnFreePort } from "../protocol/ports.ts";
import { Connection, plainHandlers } from "./connection.ts";
import { ClientError } from "./errors.ts";

/** A listening socket for one active-mode (PORT/EPRT) data connection. */
export interface DataListener {
  host: string;
  port: number;
  /** Resolves with the first connection the server makes (connections from other addresses are refused). */
  accept(timeoutMs?: number): Promise<Connection>;
  close(): void;
}

/**
 * Listen on `host` (the control connection's local address), on a random free port
 * (protocol/ports.ts), for active mode; accept only a connection from `server` (the control
 * connection's remote address). The accepted socket stays plain here: under PROT P the caller
 * upgrades it as the TLS *client*, since in FTPS the FTP server is always the TLS server, also on
 * the connections it opens (RFC 4217 §7; ftpkit's server/tls/data.ts does the same).
 */
export function listenForData(host: string, server: string): DataListener {
  let resolveConn!: (c: Connection) => void;
  const accepted = new Promise<Connection>((r) => (resolveConn = r));
  let got = false;
  let strangers = 0;
  // The control connection's peer is always an address; a name (never seen) would refuse everyone.
  const serverIp = isIPv4(canonicalIp(server)) || isIPv6(canonicalIp(server)) ? canonicalIp(server) : null;
  const socket: SocketHandler<Connection> = {
    ...plainHandlers,
    open(socket) {
      const conn = new Connection();
      socket.data = conn;
      conn.attach(socket as unknown as Socket<unknown>);
      // No address: reset before we saw it (nothing can come on it, and its sender is unknown).
      if (!socket.remoteAddress || (serverIp !== null && canonicalIp(socket.remoteAddress) !== serverIp)) {
        strangers++;
        socket.terminate();
        return;
      }
      if (got) {
        socket.terminate();
        return;
      }
      got = true;
      resolveConn(conn);
    },
  };
  let listener: TCPSocketListener<Connection>;
  try {
    // Never null: without a range the last try is port 0.
    listener = listenOnFreePort((port) => Bun.listen<Connection>({ hostname: host, port, socket }))!;
  } catch (err) {
    throw new ClientError(`cannot listen for an active data connection on ${host}: ${(err as Error).message}`, { kind: "network" });
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  let rejectWait: ((e: Error) => void) | null = null;
  const close = () => {
    clearTimeout(timer);
    listener.stop(false);
    rejectWait?.(new ClientError("active data connection abandoned", { kind: "network" }));
  };
  return {
    host,
    port: listener.port,
    accept(timeoutMs = 15_000) {
      const waiting = Promise.race([
        accepted,
        new Promise<never>((_, reject) => {
          rejectWait = reject;
          timer = setTimeout(() => {
            const others = strangers ? ` (${strangers} connection(s) from other addresses were refused: is there NAT between us?)` : "";
            reject(new ClientError(`the server did not open the active data connection${others}`, { kind: "network" }));
          }, timeoutMs);
        }),
      ]).finally(() => {
        clearTimeout(timer);
        listener.stop(false);
      });
      waiting.catch(() => {}); // the caller may race this against the reply and stop listening
      return waiting;
    },
    close,
  };
}
