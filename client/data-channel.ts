// Data connections (RFC 959 §3.2, RFC 2428): passive (EPSV, falling back to PASV) or active (EPRT,
// falling back to PORT: active-transfer.ts), TLS under PROT P (RFC 4217: data-tls.ts), and the
// transfer command's 1yz/final replies.
// Once EPSV worked on a connection it is pipelined with the transfer command (one round trip less).
//
// When a data connection starts TLS: after the transfer command's 1yz (150/125), not when it opens.
// pyftpdlib takes a data connection that becomes readable before it handled the transfer command
// for one the client closed, and drops it (its DTPHandler.readable), so a ClientHello sent at once
// lost every TLS transfer whose connection came first (lftp waits for the 150 too). The others
// lose nothing by it: vsftpd and ProFTPD accept, send the 150 and only then wait for the
// ClientHello; ftpkit sends its 150 first. A command pipelined behind EPSV was in the server's hands
// before our connection existed, so there the handshake still starts at once.
import { canonicalIp, formatEndpoint, parseEpsvReply, parseHostPort, withoutZone, zoneOf } from "../protocol/address.ts";
import type { FtpReply } from "../protocol/reply.ts";
import type { DataMode, DataTransfer, FtpClient } from "./client.ts";
import { connect, type Connection } from "./connection.ts";
import { ClientError, describe, fromServer, outOfStep, replyError } from "./errors.ts";
import { BlockLink } from "./block-transfer.ts";
import { dataReady, startDataTls } from "./data-tls.ts";
import { CLI_WORDS } from "./option-words.ts";

export interface TransferOpts {
  /** REST before the command: the byte to start at (none at 0 unless `restAtZero`). */
  rest?: number;
  /**
   * REST even at byte 0: a segment of a ranged download learns that the server has no REST before
   * any byte moves (the first segment streamed from 0 while the others found out, then the whole
   * file came again over one stream).
   */
  restAtZero?: boolean;
  mode?: DataMode;
}

export const sendsRest = (opts: TransferOpts) => (opts.rest ?? 0) > 0 || opts.restAtZero === true;

/** How long a transfer command pipelined behind a refused EPSV may take to be refused too. */
const PIPELINED_REFUSAL_MS = 3000;
/** How long a data connection that could not be made waits for the final reply of a command already answered 1yz. */
const REFUSAL_AFTER_1YZ_MS = 1000;

/** `p`'s outcome, or null when it has not settled within `ms`. */
async function settled<T>(p: Promise<T>, ms: number): Promise<{ value: T } | { error: unknown } | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const outcome = p.then((value) => ({ value }), (error: unknown) => ({ error }));
    return await Promise.race([outcome, new Promise<null>((go) => (timer = setTimeout(() => go(null), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A data-connection mode the server refuses for good, and what to do instead. `refused` names the
 * verb: such a refusal says nothing about the path being listed or fetched (see remoteDirExists).
 */
export function modeRefused(verb: "PASV" | "PORT", r: FtpReply, mode: string, instead: string): ClientError {
  return new ClientError(`${verb}: ${describe(r)}; the server refuses ${mode}: ${instead}`, { code: r.code, retryable: false, refused: verb });
}

/** The data connections of one FtpClient, and what it learned about the server's modes. */
export class DataChannel {
  constructor(readonly client: FtpClient) {}

  /**
   * Open a data connection and send the transfer command. Passive: EPSV, falling back to PASV
   * (connecting to the control peer's address, never to the address a 227 names). Active: EPRT
   * on the control connection's local address, falling back to PORT.
   */
  async transfer(verb: string, arg?: string, opts: TransferOpts = {}): Promise<DataTransfer> {
    if (opts.mode === "eprt" || opts.mode === "port" || (opts.mode === undefined && this.client.opts.active)) {
      // Loaded here: passive mode (the default) never listens.
      const { activeTransfer } = await import("./active-transfer.ts");
      return activeTransfer(this, verb, arg, opts);
    }
    if (this.blockOffered && opts.mode === undefined) {
      // REST in block mode is a restart marker to other servers (a byte offset only to ours): a
      // transfer from an offset goes in stream mode, the next whole one in block mode again.
      if (sendsRest(opts)) await this.setBlockMode(false);
      else {
        await this.setBlockMode(true);
        return this.blockTransfer(verb, arg);
      }
    }
    if (!sendsRest(opts) && this.epsvWorks && (opts.mode === undefined || opts.mode === "epsv")) return this.pipelinedTransfer(verb, arg);
    return this.passiveTransfer(verb, arg, opts);
  }

  /** EPSV (else PASV) and its own round trip, then the transfer command (after REST, when asked). */
  private async passiveTransfer(verb: string, arg: string | undefined, opts: TransferOpts): Promise<DataTransfer> {
    const conn = await this.passiveConnect(opts.mode);
    try {
      if (sendsRest(opts)) await this.client.restart(opts.rest ?? 0);
      const { done, further } = await this.startTransfer(verb, arg);
      startDataTls(this.client, conn); // the 1yz is in: see the top of this file
      await dataReady(this.client, conn, done, verb, arg);
      return { conn, done, further };
    } catch (err) {
      conn.destroy();
      throw err;
    }
  }

  /**
   * EPSV and the transfer command in one write (once EPSV worked on this connection): the server
   * answers 229, waits for our data connection and then starts, so a small file costs one round trip
   * less (a tree job moves many). When EPSV is refused, so is the command (no data connection), and
   * the transfer is set up again without pipelining.
   */
  private async pipelinedTransfer(verb: string, arg?: string): Promise<DataTransfer> {
    const epsv = this.client.request("EPSV");
    const { first, started } = this.requestTransfer(verb, arg);
    first.catch(() => {}); // read below, or abandoned with the connection
    const r = await epsv;
    if (r.code !== 229) {
      this.epsvWorks = false;
      // The transfer command went out behind EPSV. Servers refuse it at once (425/503: no data
      // connection), but ProFTPD tries the default data port (RFC 959 §3.3) and answers late or
      // never: a minute per refused EPSV. Then the session is given up (the caller reconnects).
      const outcome = await settled(first, PIPELINED_REFUSAL_MS);
      if (outcome && "error" in outcome) throw outcome.error; // the connection itself failed
      const refused = outcome?.value;
      if (!refused || refused.code < 200) {
        this.client.control.destroy();
        throw new ClientError(`EPSV: ${describe(r)}; the server did not refuse the ${verb} sent behind it, so the session was dropped`, { retryable: true });
      }
      // Refused for want of a data connection (425, 503 "use PORT or PASV first"): the session is
      // in step, and the transfer goes again without pipelining (EPSV again, else PASV).
      if (refused.code === 425 || refused.code === 503) return this.passiveTransfer(verb, arg, {});
      throw refused.code >= 300 ? replyError(`${verb}${arg ? ` ${arg}` : ""}`, refused, verb) : replyError("EPSV", r, "EPSV");
    }
    const host = this.peerHost();
    let conn: Connection;
    try {
      const port = fromServer("EPSV reply", () => parseEpsvReply(r.lines.join(" ")));
      // An optional call: the --verbose line is built only when tracing (this runs per file of a tree job).
      this.client.opts.trace?.(`* data connection to ${formatEndpoint(host, port)}`);
      conn = await connect({ host, port, timeoutMs: this.client.connectMs, purpose: "data connection" });
      startDataTls(this.client, conn); // at once: the command went out with EPSV, before this connection
    } catch (err) {
      // A refused command (550: no such file) closes the server's listener: its reply is the real error.
      const refused = await first.catch(() => null);
      if (refused && refused.code >= 300) throw replyError(`${verb}${arg ? ` ${arg}` : ""}`, refused, verb);
      // Refused after its 150, as a server that opens a file only then refuses one it cannot open:
      // "150", "550", the listener closed before our connect reached it (a reset). Read as the network's, the file
      // failed exit 4 "run ftpkit resume", after a second's wait for the session to close.
      if (refused && refused.code < 200) {
        const outcome = await settled(started.then((s) => s.done), REFUSAL_AFTER_1YZ_MS);
        const final = outcome && "value" in outcome ? outcome.value : null;
        if (final && final.code >= 300) throw replyError(`${verb}${arg ? ` ${arg}` : ""}`, final);
      }
      throw err;
    }
    try {
      const { done, further } = await started;
      await dataReady(this.client, conn, done, verb, arg);
      return { conn, done, further };
    } catch (err) {
      conn.destroy();
      throw err;
    }
  }

  /** The server accepted MODE B (a tree job's connection, block-transfer.ts). */
  blockOffered = false;
  /** The mode the server is in now: MODE B, unless a transfer from an offset set it back to MODE S. */
  private blockOn = false;
  /** The kept data connection in block mode. */
  private link: BlockLink | null = null;

  /**
   * MODE B after the login, its reply read with the others sent then (no round trip of its own). A
   * 200 is trusted only once a mode no server has is refused: BusyBox's ftpd answers "200 Command
   * ignored" (older ones "200 Operation successful") to any MODE and sends stream data all the same,
   * which failed every file of a tree job (and held each upload until the stall timeout, the server
   * waiting for a close that block mode never sends).
   */
  async offerBlockMode(): Promise<void> {
    const r = await this.client.request("MODE", "B");
    if (r.code !== 200) return;
    const nonsense = await this.client.command("MODE", "X");
    if (nonsense.code === 200) {
      await this.client.command("MODE", "S"); // whatever it took the two for, stream mode
      this.client.opts.trace?.("* the server accepts any MODE (MODE X too): stream mode");
      return;
    }
    this.blockOffered = this.blockOn = true;
  }

  private async setBlockMode(on: boolean): Promise<void> {
    if (this.blockOn === on) return;
    this.dropLink(true);
    const r = await this.client.command("MODE", on ? "B" : "S");
    if (r.code !== 200) throw replyError(`MODE ${on ? "B" : "S"}`, r);
    this.blockOn = on;
  }

  /**
   * A transfer in block mode: over the kept data connection, the command alone; when there is none
   * (or the server closed its side: 425/503 to the command), EPSV and a new one, kept after it.
   */
  private async blockTransfer(verb: string, arg?: string): Promise<DataTransfer> {
    const link = this.link;
    if (link?.idle) {
      try {
        const { done, further } = await this.startTransfer(verb, arg);
        return this.onLink(link, done, further);
      } catch (err) {
        if (!(err instanceof ClientError && (err.code === 425 || err.code === 503))) {
          this.dropLink(false);
          throw err;
        }
        this.client.opts.trace?.(`* kept data connection refused (${err.code}): opening another`);
        // EPSV and the command must go out together, after the refused command's hold is released
        // (a request made under it would wait behind the command pipelined after it).
        await this.client.requestsFree();
      }
    }
    this.dropLink(false);
    const t = this.epsvWorks ? await this.pipelinedTransfer(verb, arg) : await this.passiveTransfer(verb, arg, {});
    const fresh = new BlockLink(t.conn);
    this.link = fresh;
    return this.onLink(fresh, t.done, t.further);
  }

  private onLink(link: BlockLink, done: Promise<FtpReply>, further?: Promise<FtpReply>): DataTransfer {
    const conn = link.begin();
    // A transfer the server ended with an error leaves the link's state unknown: it is not kept,
    // once the bytes that came before the error are read (a 426 can overtake them).
    const drop = () => void conn.closed.then(() => this.dropLink(false, link));
    done.then((r) => r.code >= 300 && drop(), drop);
    return further ? { conn, done, further } : { conn, done };
  }

  /** Close the kept data connection (politely, or at once), if it is still `only` (default: whichever). */
  dropLink(polite: boolean, only?: BlockLink): void {
    const link = this.link;
    if (!link || (only && link !== only)) return;
    this.link = null;
    if (polite) link.conn.close();
    else link.conn.destroy();
  }

  /** EPSV answered 229 on this connection: later transfers may pipeline it with their command. */
  private epsvWorks = false;
  /** EPSV was refused with a 5yz (not a 425 "no port free"): with PASV refused so too, there is no passive mode. */
  private epsvRefusedForGood = false;

  private async passiveConnect(mode?: DataMode): Promise<Connection> {
    const host = this.peerHost();
    let port: number | null = null;
    /** EPSV's transient refusal (425: no port free now), when PASV is asked instead. */
    let epsvForNow: FtpReply | null = null;
    if (mode === "epsv" || (mode === undefined && !this.noEpsv)) {
      const r = await this.client.command("EPSV");
      if (r.code !== 229 && r.code < 400) throw outOfStep("EPSV", r);
      if (r.code === 229) {
        port = fromServer("EPSV reply", () => parseEpsvReply(r.lines.join(" ")));
        this.epsvWorks = true;
      } else if (mode === "epsv") throw replyError("EPSV", r, "EPSV");
      else {
        this.noEpsv = true;
        this.epsvRefusedForGood = r.code >= 500;
        if (r.code < 500) epsvForNow = r;
      }
    }
    if (port === null) {
      const r = await this.client.command("PASV");
      if (r.code !== 227 && r.code < 400) throw outOfStep("PASV", r);
      // EPSV was refused too (this time or earlier): a permanent refusal of both is a server without
      // passive mode (vsftpd's pasv_enable=NO answers "550 Permission denied.", which read as a file's).
      if (r.code !== 227 && mode === undefined && r.code >= 500 && this.epsvRefusedForGood) throw modeRefused("PASV", r, "passive mode (EPSV and PASV)", `try ${(this.client.opts.words ?? CLI_WORDS).active}`);
      // EPSV only had no port free (425), and PASV is unknown (500) or refused: passive mode is there,
      // busy. Said as EPSV's failure, which another try may not meet (EPSV is asked again then); PASV's
      // 5yz alone read as a lasting refusal: no hint, and get -r called the directory "not found".
      if (r.code !== 227 && epsvForNow) {
        this.noEpsv = false;
        throw new ClientError(`EPSV: ${describe(epsvForNow)}; PASV: ${describe(r)}`, { code: epsvForNow.code, retryable: true, refused: "EPSV" });
      }
      if (r.code !== 227) throw replyError("PASV", r, "PASV");
      const announced = fromServer("PASV reply", () => parseHostPort(r.lines.join(" ")));
      port = announced.port;
      this.pasvHost = announced.host;
    }
    this.client.opts.trace?.(`* data connection to ${formatEndpoint(host, port)}`);
    return connect({ host, port, timeoutMs: this.client.connectMs, purpose: "data connection" });
  }

  /**
   * Where a passive data connection goes: the control connection's peer, with the URL's IPv6 zone
   * id (`[fe80::1%25eth0]`) kept, since a link-local address means nothing without its interface.
   */
  peerHost(): string {
    const asked = this.client.opts.host;
    const remote = this.client.control.remoteAddress;
    if (!remote) return asked;
    const zone = zoneOf(asked);
    return zone !== null && !remote.includes("%") && remote === canonicalIp(withoutZone(asked)) ? `${remote}%${zone}` : remote;
  }

  private noEpsv = false;
  /** The address the last 227 named (not connected to: ftpkit test tells an admin when it differs). */
  pasvHost: string | null = null;
  /** EPRT was refused as unknown on this connection: PORT from then on (active-transfer.ts). */
  noEprt = false;

  /**
   * Send the transfer command, wait for its 1yz (as any reply: at most --stall-timeout of silence),
   * and return the promise of the final reply.
   */
  startTransfer(verb: string, arg?: string): Promise<{ done: Promise<FtpReply>; further?: Promise<FtpReply> }> {
    return this.requestTransfer(verb, arg).started;
  }

  /** Send the transfer command; other requests wait until its first reply is in (FtpClient.holdRequests). */
  private requestTransfer(verb: string, arg?: string): { first: Promise<FtpReply>; started: Promise<{ done: Promise<FtpReply>; further?: Promise<FtpReply> }> } {
    const first = this.client.request(verb, arg);
    const started = this.transferStarted(first, verb, arg);
    started.catch(() => {}); // awaited by the caller, or abandoned with the connection
    this.client.holdRequests(started);
    return { first, started };
  }

  /** The transfer command's first reply is 1yz (its final reply follows) or final (at once, or refused). */
  private async transferStarted(reply: Promise<FtpReply>, verb: string, arg?: string): Promise<{ done: Promise<FtpReply>; further?: Promise<FtpReply> }> {
    const first = this.client.inStep(verb, await reply);
    if (first.code >= 200) {
      if (first.code < 300) return { done: Promise.resolve(first) }; // some servers answer 226 at once for empty files
      throw replyError(`${verb}${arg ? ` ${arg}` : ""}`, first, verb);
    }
    const further = Promise.withResolvers<FtpReply>();
    // While the data flows the final reply may take as long as the transfer: the pumps bound the
    // wait by the data connection instead (watchStall, then finalReply once it closed).
    const done = (async () => {
      const next = this.client.inStep(verb, await this.client.read(0));
      if (next.code < 200) further.resolve(next);
      return this.client.inStep(verb, await this.client.untilFinal(next, 0));
    })();
    done.catch(() => {}); // observed by the caller; avoid an unhandled rejection while it streams
    return { done, further: further.promise };
  }
}
