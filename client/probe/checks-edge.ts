// The items that need a session of their own: commands during a transfer, hostile input (long
// lines, PORT bounce, data-connection theft), TLS, and what the server says about idle sessions.
import type { TCPSocketListener } from "bun";
import { connect as netConnect, type Socket as NetSocket } from "node:net";
import { formatHostPort, isIPv4, isLoopback } from "../../protocol/address.ts";
import type { FtpReply } from "../../protocol/reply.ts";
import { FtpClient } from "../client.ts";
import { expectedReplyMs, line, timed, unsureReplyMs, within, type Probe, type Verdict } from "./runner.ts";
import { CLI_WORDS } from "../option-words.ts";

const CHUNK = new Uint8Array(64 * 1024).fill(0x61);

/**
 * Start an upload and keep it flowing, a little every 50 ms, until `stop()`: the transfer is "in
 * progress". A stalled one would hide ABOR and STAT from servers that look at the control
 * connection between reads of the data (ProFTPD answers both at once while bytes arrive).
 */
async function openUpload(p: Probe, c: FtpClient, name: string) {
  p.created.add(name);
  const t = await c.transfer("STOR", name, { mode: p.mode });
  await within(t.conn.write(CHUNK), p.timeoutMs, "room to send data");
  let flowing = true;
  const pump = (async () => {
    while (flowing && !t.conn.isClosed) {
      await Bun.sleep(50);
      if (flowing) await within(t.conn.write(CHUNK.subarray(0, 4096)), p.timeoutMs, "room to send data").catch(() => (flowing = false));
    }
  })();
  await Bun.sleep(100); // let the server read some of it
  const stop = async () => {
    flowing = false;
    await within(pump, 2000, "end of the upload's writes").catch(() => {});
  };
  return { t, stop };
}

/**
 * The upload an item keeps open was refused for space (552 over quota, 452 disk full): the item
 * cannot be checked, as the items after a refused STOR cannot (README: a quota failure is N/A, not FAIL).
 */
function refusedForSpace(r: FtpReply): Verdict | null {
  if (r.code !== 552 && r.code !== 452) return null;
  return ["n/a", `the upload it needs was refused for space: ${line(r)} (it sends at least 64 KiB; the account needs more room to check this)`];
}

/** ABOR while an upload is still open: 426 + 226 (or 226), the data connection closed, the session alive. */
export async function abor(p: Probe): Promise<void> {
  if (!p.writable) return p.record("abor", "n/a", p.readOnlyReason);
  await p.check("abor", async () => {
    const c = await p.open();
    try {
      const [, rtt] = await timed(c.command("CWD", p.scratch!));
      const { t, stop } = await openUpload(p, c, "abor.bin");
      await c.send("ABOR");
      const wait = unsureReplyMs(p, rtt);
      const expected = expectedReplyMs(p);
      let first: FtpReply;
      try {
        first = await within(t.done, wait, "reply");
      } catch {
        await stop();
        t.conn.destroy();
        return ["fail", `no reply to ABOR within ${wait / 1000} s while an upload was open (commands seem to be read only between transfers; Telnet IP/Synch is not sent)`];
      }
      const space = refusedForSpace(first);
      if (space) {
        await stop();
        t.conn.destroy();
        // ABOR's own reply (225/226) follows the upload's 552: read it, so the session is in step.
        await within(c.read(), expected, "reply to ABOR").catch(() => null);
        return space;
      }
      const replies = [first];
      if (first.code !== 225 && !(first.code === 226 && /abort/i.test(first.lines.join(" ")))) {
        replies.push(await within(c.read(), expected, "second reply to ABOR").catch(() => ({ code: 0, lines: ["(none)"] })));
      }
      await stop();
      const dataClosed = await within(t.conn.closed, 3000, "close")
        .then(() => true)
        .catch(() => false);
      t.conn.destroy();
      let noop = await within(c.command("NOOP"), expected, "reply to NOOP").catch(() => null);
      // ProFTPD over TLS may send ABOR's 226 first and the upload's 426 after it: that 426 is not NOOP's.
      const late = noop && replies.length === 1 && (noop.code === 426 || noop.code === 451) ? noop : null;
      if (late) noop = await within(c.read(), expected, "reply to NOOP").catch(() => null);
      const codes = replies.map((r) => r.code || "none").join(" then ");
      const ok = !late && [426, 451, 225, 226].includes(first.code) && replies.at(-1)!.code >= 225 && replies.at(-1)!.code <= 226 && noop?.code === 200;
      const order = late ? ` then ${late.code} (the upload's ${late.code} came after ABOR's ${first.code}; RFC 959 sends it first)` : "";
      return [ok ? "pass" : "fail", `${codes}${order}; data connection ${dataClosed ? "closed by the server" : "left open"}; NOOP ${noop ? noop.code : "unanswered"}`];
    } finally {
      await p.discard(c);
    }
  });
}

/** STAT while an upload is open answers at once (RFC 959 §4.1.3: "status of the transfer in progress"). */
export async function statDuringTransfer(p: Probe): Promise<void> {
  if (!p.writable) return p.record("stat", "n/a", p.readOnlyReason);
  await p.check("stat", async () => {
    const c = await p.open();
    try {
      const [, rtt] = await timed(c.command("CWD", p.scratch!));
      const { t, stop } = await openUpload(p, c, "stat.bin");
      await c.send("STAT");
      const wait = unsureReplyMs(p, rtt);
      // The transfer's reply waiter takes the next final reply: here that should be STAT's.
      const r = await within(t.done, wait, "reply").catch(() => null);
      await stop();
      t.conn.shutdown();
      if (!r) {
        t.conn.destroy();
        return ["fail", `no reply to STAT within ${wait / 1000} s while an upload was open`];
      }
      const end = await within(c.read(), expectedReplyMs(p), "end of the upload").catch(() => null);
      t.conn.destroy();
      const space = refusedForSpace(r);
      if (space) return space;
      if (r.code === 211 || r.code === 212 || r.code === 213) {
        const detail = r.lines.find((l) => /\d+ bytes|transfer|progress/i.test(l)) ?? r.lines[0]!;
        return ["pass", `${r.code} while the upload was open ("${detail.trim().slice(0, 60)}"); upload then ended ${end?.code ?? "without a reply"}`];
      }
      return ["fail", `got ${line(r)} instead of a status reply`];
    } finally {
      await p.discard(c);
    }
  });
}

/** A 64 KiB command line: refused (5xx) or the connection closed; the server keeps serving. */
export async function longLine(p: Probe): Promise<void> {
  await p.check("long-line", async () => {
    const c = await p.open();
    let verdict: Verdict;
    try {
      // How slow this server's replies are, so that a slow one is not failed for silence.
      const [, rtt] = await timed(c.command("NOOP"));
      const wait = unsureReplyMs(p, rtt);
      const expected = expectedReplyMs(p);
      // A server that refuses and closes while the line is still going out fails the write: its
      // reply, if it sent one, is still there to read.
      await c.control.write(`NOOP ${"A".repeat(65_536)}\r\n`).catch(() => {});
      const r = await within(c.read(), wait, "reply").catch((err: Error) => err);
      if (r instanceof Error) {
        verdict = c.control.isClosed ? ["pass", "the server closed the connection"] : ["fail", `no reply to a 64 KiB command line within ${wait / 1000} s`];
      } else if (r.code >= 400) {
        // Drain whatever else the line produced, then prove the session still works. A server may
        // also refuse and close (Pure-FTPd: "421 Line too long"): NOOP then has nowhere to go.
        const sent = await c.send("NOOP").then(
          () => true,
          () => false,
        );
        let last: FtpReply | null = sent ? r : null;
        const deadline = Date.now() + expected;
        while (last && last.code !== 200 && Date.now() < deadline) last = await within(c.read(), expected, "reply").catch(() => null);
        verdict = ["pass", `${line(r)}${last?.code === 200 ? "; the session goes on" : !sent || c.control.isClosed ? "; connection closed" : ""}`];
      } else {
        verdict = ["fail", `a 64 KiB command line was accepted: ${line(r)}`];
      }
    } finally {
      await p.discard(c);
    }
    // Whatever happened, the server must still accept a new session.
    const again = await p.open({ login: false }).catch((err: Error) => err);
    if (again instanceof Error) return ["fail", `${verdict[1]}; afterwards no new connection: ${again.message}`];
    await p.discard(again);
    return verdict;
  });
}

/** Loopback addresses other than ours (127.0.0.0/8 is all local on Linux). */
function otherLoopback(ip: string): string {
  return ip === "127.0.0.2" ? "127.0.0.3" : "127.0.0.2";
}

/**
 * PORT and EPRT naming another host are refused (RFC 2577 §3), or at least never connected to. Each
 * verb is tried on a session of its own (a refusal may end one): a server guarding PORT only would
 * pass with EPRT open, and an IPv6 server, where PORT cannot be tried, was never checked.
 */
export async function portBounce(p: Probe): Promise<void> {
  await p.check("port-bounce", async () => {
    const passes: string[] = [];
    for (const verb of ["PORT", "EPRT"] as const) {
      const c = await p.open();
      let listener: TCPSocketListener<undefined> | null = null;
      try {
        const ours = c.control.localAddress;
        const v4 = isIPv4(ours);
        if (verb === "PORT" && !v4) continue; // PORT is IPv4 only
        // Documentation addresses: other hosts that answer nothing (TEST-NET-1, 2001:db8::/32).
        let target = v4 ? "192.0.2.1" : "2001:db8::1";
        let connected = false;
        let port = 9;
        if (v4 && isLoopback(ours)) {
          try {
            const l = Bun.listen<undefined>({
              hostname: otherLoopback(ours),
              port: 0,
              socket: {
                open(s) {
                  connected = true;
                  s.end();
                },
                data() {},
              },
            });
            listener = l;
            target = otherLoopback(ours);
            port = l.port;
          } catch {
            // no second loopback address here: the documentation address
          }
        }
        const r = verb === "PORT" ? await c.command("PORT", formatHostPort({ host: target, port })) : await c.command("EPRT", `|${v4 ? 1 : 2}|${target}|${port}|`);
        if (r.code >= 500) {
          passes.push(`${verb} to ${target} refused: ${line(r)}`);
          continue;
        }
        if (r.code !== 200) {
          passes.push(`${verb} to ${target} not accepted: ${line(r)}`);
          continue;
        }
        const l = await c.command("NLST").catch(() => null);
        await Bun.sleep(300);
        if (connected) return ["fail", `${verb} to ${target} accepted and the server connected there (bounce attack possible)`];
        const after = l ? line(l) : "no reply";
        if (!(l && l.code >= 400)) return ["fail", `${verb} to ${target} accepted (200); NLST: ${after}`];
        passes.push(`${verb} to ${target} accepted (200) but the data connection was refused: ${after}`);
      } finally {
        listener?.stop(true);
        await p.discard(c);
      }
    }
    return ["pass", passes.join("; ")];
  });
}

/** A passive data connection from another address than the control connection's is refused. */
export async function pasvTheft(p: Probe): Promise<void> {
  await p.check("pasv-theft", async () => {
    // Implicit TLS is asked for with an ftps:// URL (the CLI) or tls: "implicit" (the API), not the words' tls.
    if (p.opts.tls === "explicit") return ["n/a", `data connections are TLS here; run without ${(p.opts.words ?? CLI_WORDS).tls} to check`];
    if (p.opts.tls) return ["n/a", "data connections are TLS here; run against the server's plain FTP port to check"];
    const c = await p.open();
    let thief: NetSocket | null = null;
    try {
      const ours = c.control.localAddress;
      const server = c.control.remoteAddress;
      if (!isLoopback(ours) || !isLoopback(server)) return ["n/a", "only checkable on loopback (the probe needs a second local address)"];
      if (!isIPv4(ours)) return ["n/a", "only checkable over IPv4 loopback (IPv6 has one loopback address, ::1; the probe needs a second)"];
      if (p.scratch) await c.command("CWD", p.scratch);
      const epsv = await c.command("EPSV");
      let port: number | null = null;
      if (epsv.code === 229) port = Number(/\|\|\|(\d+)\|/.exec(epsv.lines.join(" "))?.[1]);
      else {
        const pasv = await c.command("PASV");
        const m = /(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)/.exec(pasv.lines.join(" "));
        if (m) port = Number(m[5]) * 256 + Number(m[6]);
      }
      if (!port) return ["n/a", "no passive port to connect to"];
      const from = otherLoopback(ours);
      let received = 0;
      let closedByServer = false;
      thief = netConnect({ host: server, port, localAddress: from });
      thief.on("data", (d: Buffer) => (received += d.length));
      thief.on("close", () => (closedByServer = true));
      thief.on("error", () => (closedByServer = true));
      await within(
        new Promise<void>((resolve) => {
          thief!.once("connect", () => resolve());
          thief!.once("close", () => resolve());
        }),
        3000,
        "connection",
      ).catch(() => {});
      // Ask for something non-empty: the uploaded sample, else a listing of the login directory.
      const file = p.file;
      await c.send(file && p.writable ? "RETR" : "LIST", file && p.writable ? file.name : p.home);
      const r = await within(c.read(), 3000, "reply").catch(() => null);
      await Bun.sleep(500);
      if (received > 0) return ["fail", `sent ${received} bytes to a data connection from ${from} (the control connection is from ${ours})`];
      const said = r ? line(r) : "no reply yet";
      return ["pass", `a connection from ${from} got nothing${closedByServer ? " and was closed" : ""}; ${said}`];
    } finally {
      thief?.destroy();
      await p.discard(c);
    }
  });
}

/** AUTH TLS + PBSZ + PROT P on a fresh session, a listing over TLS, and whether it resumed the session. */
export async function tls(p: Probe): Promise<void> {
  const mode = p.opts.tls ?? "explicit";
  const secured = async (offerSession: boolean): Promise<FtpClient> => {
    const c = await FtpClient.connect({
      host: p.opts.host,
      port: p.opts.port,
      timeoutMs: p.timeoutMs,
      tls: { mode, settings: { host: p.opts.host, ca: p.opts.ca, insecure: p.opts.tls ? p.opts.insecure : true, words: p.opts.words } },
      words: p.opts.words,
    });
    c.offerTlsSession = offerSession;
    return c;
  };
  /** LIST over a TLS data connection: the reply, and whether the data connection resumed the session. */
  const listOverTls = async (c: FtpClient): Promise<{ reply: string; ok: boolean; reused: boolean | null }> => {
    await p.login(c);
    await c.command("TYPE", "I");
    const t = await c.transfer("LIST", p.home, { mode: p.mode });
    try {
      t.conn.onData(() => {});
      await within(t.conn.closed, p.timeoutMs, "end of the listing");
      const r = await within(t.done, p.timeoutMs, "reply to LIST");
      return { reply: line(r), ok: r.code === 226 || r.code === 250, reused: t.conn.sessionReused };
    } finally {
      t.conn.destroy();
    }
  };
  type Attempt = Awaited<ReturnType<typeof listOverTls>> | Error;
  const attempt = async (offerSession: boolean): Promise<Attempt> => {
    let c: FtpClient;
    try {
      c = await secured(offerSession);
    } catch (err) {
      return err as Error;
    }
    try {
      // Login, TYPE, EPSV, LIST and its data: each wait is bounded; this only catches one that is not.
      return await within(listOverTls(c), p.timeoutMs * 10, "listing over TLS");
    } catch (err) {
      return err as Error;
    } finally {
      c.destroy();
    }
  };
  const first = await attempt(true);
  if (first instanceof Error && /AUTH TLS|TLS handshake|certificate/.test(first.message)) {
    const refused = /does not support AUTH TLS/.test(first.message);
    p.record("tls", refused ? "n/a" : "fail", refused ? `not offered: ${first.message.replace(/;.*$/, "")}` : first.message);
    p.record("tls-reuse", "n/a", "no TLS");
    return;
  }
  // Resumption may work for some connections and not others (a server's session cache): look five times.
  const tries: Attempt[] = [first];
  while (tries.length < 5) tries.push(await attempt(true));
  const worked = tries.filter((t): t is Exclude<Attempt, Error> => !(t instanceof Error) && t.ok);
  const failed = tries.filter((t): t is Error => t instanceof Error);
  const how = `${mode === "implicit" ? "implicit TLS" : "AUTH TLS 234"}; PBSZ 0, PROT P 200`;
  const unverified = p.opts.tls ? "" : " (certificate not verified)";
  if (failed.length === 0 && worked.length === tries.length) {
    const reused = worked.filter((w) => w.reused).length;
    p.record("tls", "pass", `${how}; LIST over TLS ${worked[0]!.reply}${unverified}`);
    if (reused === tries.length) p.record("tls-reuse", "pass", "every data connection resumed the control connection's TLS session");
    else p.record("tls-reuse", "fail", reused ? `${reused} of ${tries.length} data connections resumed the control session` : "the server never resumed the control connection's TLS session");
    return;
  }
  const plain = worked.length ? worked[0]! : await attempt(false);
  if (plain instanceof Error || !plain.ok) {
    const why = failed[0]?.message ?? (plain instanceof Error ? plain.message : plain.reply);
    // An error may come from AUTH TLS, PBSZ or PROT themselves: claim their replies only when a listing was answered.
    p.record("tls", "fail", plain instanceof Error ? `no listing over TLS: ${why}` : `${how}; LIST over TLS failed: ${why}`);
    p.record("tls-reuse", "n/a", "no TLS data connection worked");
    return;
  }
  p.record("tls", "pass", `${how}; LIST over TLS ${plain.reply}${worked.length ? "" : ", but only without offering the control session"}${unverified}`);
  p.record("tls-reuse", "fail", `${failed.length} of ${tries.length} data connections that offered the control session were aborted (${failed[0]!.message})`);
}

/** The idle timeout, as the greeting, STAT or HELP state it (there is no standard place). */
export async function idle(p: Probe): Promise<void> {
  await p.check("idle", async () => {
    const c = await p.session();
    // Pure-FTPd's greeting: "You will be disconnected after 15 minutes of inactivity."
    const pattern = /(idle|time-?out|inactivity)[^\n]{0,40}?\d+|\d+\s*(s|sec|secs|seconds|minutes?)\b[^\n]{0,20}(idle|time-?out|inactivity)/i;
    const found = (where: string, text: string): Verdict | null => {
      const l = text.split(/\r?\n/).find((x) => pattern.test(x));
      return l ? ["pass", `${where}: "${l.trim().slice(0, 70)}"`] : null;
    };
    const g = found("greeting", p.greeting);
    if (g) return g;
    const st = await c.command("STAT");
    const s = found("STAT", st.lines.join("\n"));
    if (s) return s;
    const h = await c.command("HELP");
    return found("HELP", h.lines.join("\n")) ?? ["fail", "not stated in the greeting, STAT or HELP"];
  });
}
