// Active mode on the client's side of a transfer (RFC 959 PORT, RFC 2428 EPRT): listen on the
// control connection's local address, tell the server where (EPRT, falling back to PORT), send the
// transfer command and wait for the server's connection (active-listener.ts accepts it). Loaded
// only when a transfer is active: passive mode (the default, data-channel.ts) never listens.
import { formatEndpoint, formatEprt, formatHostPort, isIPv4, withoutZone, zoneOf } from "../protocol/address.ts";
import type { FtpReply } from "../protocol/reply.ts";
import { listenForData, type DataListener } from "./active-listener.ts";
import type { DataTransfer, FtpClient } from "./client.ts";
import { modeRefused, sendsRest, type TransferOpts } from "./data-channel.ts";
import { dataReady, startDataTls } from "./data-tls.ts";
import { ClientError, replyError } from "./errors.ts";
import { CLI_WORDS } from "./option-words.ts";

/** What active mode uses of the DataChannel (data-channel.ts) it runs for. */
export interface ActiveSide {
  readonly client: FtpClient;
  /** EPRT was refused as unknown on this connection: PORT from then on. */
  noEprt: boolean;
  peerHost(): string;
  startTransfer(verb: string, arg?: string): Promise<{ done: Promise<FtpReply>; further?: Promise<FtpReply> }>;
}

export async function activeTransfer(channel: ActiveSide, verb: string, arg: string | undefined, opts: TransferOpts): Promise<DataTransfer> {
  const client = channel.client;
  const host = client.control.localAddress;
  // A link-local address is bound on its interface: the URL's zone id names it (EPRT sends the address alone).
  const zone = zoneOf(client.opts.host);
  const bind = zone !== null && /^fe[89ab]/i.test(host) && !host.includes("%") ? `${host}%${zone}` : host;
  const listener: DataListener = listenForData(bind, withoutZone(channel.peerHost()));
  client.opts.trace?.(`* listening on ${formatEndpoint(host, listener.port)} for the server's data connection`);
  try {
    let ok = false;
    if (opts.mode === "eprt" || (opts.mode === undefined && !channel.noEprt)) {
      const r = await client.command("EPRT", formatEprt({ host, port: listener.port }));
      if (r.code === 200) ok = true;
      // A transient refusal (421 "data channel timed out", 425) says nothing of EPRT itself: PORT on
      // a session the server is closing only failed again, and EPRT was not tried for the rest of the job.
      else if (opts.mode === "eprt" || (r.code >= 400 && r.code < 500)) throw replyError("EPRT", r, "EPRT");
      else channel.noEprt = true;
    }
    if (!ok) {
      if (!isIPv4(host)) throw new ClientError("active mode over IPv6 needs EPRT, which the server refused", { kind: "server" });
      const r = await client.command("PORT", formatHostPort({ host, port: listener.port }));
      if (r.code !== 200) throw opts.mode === undefined && r.code >= 500 ? modeRefused("PORT", r, "active mode (EPRT and PORT)", `leave out ${(client.opts.words ?? CLI_WORDS).active}`) : replyError("PORT", r, "PORT");
    }
    if (sendsRest(opts)) await client.restart(opts.rest ?? 0);
    const { done, further } = await channel.startTransfer(verb, arg);
    const accepted = listener.accept(client.connectMs);
    const conn = await Promise.race([
      accepted,
      // A refusal ends the wait; a quick 226 (small file, already sent) must not: keep waiting.
      done.then((r) => {
        if (r.code >= 300) throw replyError(`${verb} ${arg ?? ""}`.trim(), r);
        return accepted;
      }),
    ]);
    client.opts.trace?.(`* data connection from ${conn.remoteAddress}`);
    try {
      startDataTls(client, conn); // the 1yz is in (startTransfer waited for it): see the top of data-channel.ts
      await dataReady(client, conn, done, verb, arg);
    } catch (err) {
      conn.destroy();
      throw err;
    }
    return { conn, done, further };
  } finally {
    listener.close();
  }
}
