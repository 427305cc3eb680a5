// A tiny scriptable FTP server for client tests: it can lie (flip a byte but report the true hash),
// drop the connection mid-transfer, offer HASH / legacy X-verbs / nothing, and logs every command.
import type { Socket, TCPSocketListener } from "bun";
import { formatReply } from "../../protocol/reply.ts";
import { formatEpsvReply, parseEprt } from "../../protocol/address.ts";
import net from "node:net";
import { afterEach, beforeEach } from "bun:test";
import { digest, removeDir, tempDir } from "../helpers/peers.ts";

export interface FakeOptions {
  /** Listen on this port (a server restarted where its clients' URLs point); default: any free one. */
  port?: number;
  /** What the server stores (path → bytes); uploads land here too. */
  files?: Map<string, Buffer>;
  /** FEAT lines, e.g. ["HASH SHA-256*;MD5", "SIZE", "MDTM", "REST STREAM"]. */
  feat?: string[];
  /** Answer XMD5/XSHA256. */
  legacyHash?: boolean;
  /** Flip one byte of what RETR sends (the reported size and hash stay true). */
  flipByteAt?: number;
  /** Report a wrong digest for this path (upload verification). */
  lieAboutHashOf?: string;
  /** On the first RETR, send this many bytes and then drop both connections. */
  dropRetrAfter?: number;
  /** On the first STOR, keep this many bytes and then drop both connections. */
  dropStorAfter?: number;
  /** dropStorAfter closes both connections in order (FIN) once the client pauses, as a killed server process's do, instead of resetting them. */
  dropStorGently?: boolean;
  /** After the drop of dropRetrAfter/dropStorAfter (or a refuseHash 421), stop listening: a server that stays down. */
  goneAfterDrop?: boolean;
  /** Drop the control connection instead of answering the first whole-file HASH. */
  dropOnFirstHash?: boolean;
  /** Answer the first `times` whole-file HASH commands with this reply (e.g. "421 Shutting down"), then answer. */
  refuseHash?: { reply: string; times: number };
  /**
   * EPSV number N+1 (counted over all sessions) answers 425 (no passive port free), and the transfer
   * command after it gets no reply at all: ProFTPD then tries the default data port (RFC 959 §3.3).
   */
  epsv425After?: number;
  /** As epsv425After, but the transfer command after it is refused at once ("503 Use PORT or PASV first."), as vsftpd does. */
  epsv425RefusedAfter?: number;
  /**
   * The Nth EPSV (counted from 1 over all sessions) is answered, and then the session ends and its
   * passive port closes before the client connects: a server restarted in between (the client's data
   * connection is refused).
   */
  goneAtEpsv?: number;
  /** Answer the first EPRT with 421 and close the session, as pyftpdlib does when its active connection timed out. */
  eprt421Once?: boolean;
  /**
   * Like vsftpd when its privileged helper fails: answer the Nth RETR or STOR (counted together,
   * from 1) with "500 OOPS: …" and end the session; a list: each of those.
   */
  oopsOnTransfer?: number | number[];
  /** RETR of this path answers "550 Permission denied." (the session goes on). */
  refuseRetrOf?: string;
  /** Refuse REST (502, or the code given: 500, 502 or 504) so uploads must fall back to APPE. */
  noRest?: boolean | 500 | 502 | 504;
  /** Refuse APPE (502 Command not implemented). */
  noAppe?: boolean;
  /** Answer every STOR and APPE with this reply, e.g. "550 Permission denied." or "450 Try later." (the session goes on). */
  refuseStor?: string;
  /** Refuse REST+STOR and APPE as ProFTPD does by default (AllowStoreRestart off): "451 PATH: Append/Restart not permitted, try again". */
  noStoreRestart?: boolean;
  /** With noStoreRestart: the text after "PATH" instead of ProFTPD's English (its NLS translates it, e.g. " : ajout/reprise non permis, veuillez recommencer"). */
  noStoreRestartText?: string;
  /** Every STOR and APPE (not ended by oopsOnTransfer) is refused: "552 Exceeded storage allocation." (the session goes on). */
  storeFull?: boolean;
  /**
   * The Nth RETR (counted from 1 over all sessions) finds its data connection dropped: the server
   * closes it, answers "150 About to open data connection" and then nothing, waiting for a data
   * connection that never comes (pyftpdlib, after it handed a closed socket's stale event to a
   * newly accepted data connection: the segmented-download hang).
   */
  dropDataOnRetr?: number;
  /**
   * RETR's final reply comes this many ms after its data connection closed (a loaded server answering
   * a client that closed it at its range's end); `lateRetrReplies` counts them.
   */
  lateRetrReplyMs?: number;
  /** First RETR: send this many bytes, then go silent with the data connection open (a stalled server). */
  stallRetrAfter?: number;
  /** LIST's permission columns for files (default rw-r--r--; rwxrwxrwx for every file is how IIS lists them). */
  fileColumns?: string;
  /**
   * LIST answers in IIS's default "MS-DOS" directory listing style ("01-01-26  12:00PM       <DIR>
   * name"), and MLSD is an unknown command (500), as on IIS with that style (offer FEAT without MLST).
   */
  dosListing?: boolean;
  /** LIST's line for each entry (size null: a directory), in place of the vsftpd-like default: another server's shape. */
  listLine?: (name: string, size: number | null) => string;
  /** LIST sends listing lines without end, until the client closes the data connection. */
  endlessListing?: boolean;
  /**
   * Each LIST after the first waits (at most 1 s) until this many listings are under way at once,
   * on any connections; once they have been, none waits again. A client that lists directories one
   * at a time gets each after the wait.
   */
  listingsTogether?: number;
  /** Raw lines added to every LIST and MLSD body (a hostile server's names). */
  listExtra?: string[];
  /** Control connections after this many get the greeting, and then no answer to anything. */
  mutedAfter?: number;
  /**
   * Control connections after this many get nothing at all, not even the greeting: a server stopped
   * with SIGSTOP (the kernel still accepts its connections).
   */
  frozenAfter?: number;
  /** These control connections (counted from 1) get nothing at all, as frozenAfter's do; the others are served. */
  frozenConnections?: number[];
  /** A refused PASS is answered this many ms late (vsftpd's delay_failed_login, ProFTPD's mod_delay). */
  refusalDelayMs?: number;
  /** The greeting comes this many ms after the connection (a server slow to start a session). */
  greetingDelayMs?: number;
  /** HASH replies come this many ms late (a server reading a big file to hash it). */
  slowHashMs?: number;
  /** These verbs (RETR, STOR, MLSD, LIST, HASH…) get no reply at all, the session staying open: a server hung on them. */
  neverAnswer?: string[];
  /** The Nth MKD (counted from 1 over all sessions) drops its control connection instead of answering. */
  dropOnMkd?: number;
  /** QUIT gets no reply (the client waits for it, then closes). */
  silentQuit?: boolean;
  /** LIST and MLSD of this directory answer "550 Permission denied." (read when asked: a test may set it later). */
  listing550?: string;
  /** The first LIST or MLSD of this directory answers "450 Transient failure, try again." (later ones list it). */
  listing450Once?: string;
  /** Every LIST or MLSD of this directory answers "450 Transient failure, try again." */
  listing450Always?: string;
  /** LIST and MLSD answer 150, then send nothing and never close the data connection. */
  silentListing?: boolean;
  /**
   * The first LIST or MLSD sends half its lines, then resets the data connection: "data" answers 426
   * on a session that goes on, "both" drops the control connection too (a server process that died).
   */
  dropListingOnce?: "data" | "both";
  /** Empty directories that exist from the start (as MKD would have made them). */
  emptyDirs?: string[];
  /** MKD makes the directory at once and answers 257 only this many ms later (a reply in flight). */
  mkdReplyDelayMs?: number;
  /** The first LIST or MLSD of this directory drops both connections (once the data one is in) instead of answering. */
  dropListingOf?: string;
  /** Every directory lists one subdirectory "x" (and nothing else), without end. */
  endlessTree?: boolean;
  /** MLSD lines leave out the size fact (optional in RFC 3659). Offer MLSD with feat: ["MLSD"]. */
  mlsdWithoutSize?: boolean;
  /** The name on each of those lines (default again-and-again.txt). */
  endlessName?: string;
  /** RETR sends the file, then more bytes without end (SIZE stays true), until the client closes. */
  endlessRetr?: boolean;
  /** RETR sends the whole file and its 226, and never closes the data connection (a broken or hostile server). */
  retrLeftOpen?: boolean;
  /** A listing ends as FileZilla Server's does, naming the directory: '226 Successfully transferred "/dir"'. */
  listingDoneNamesDir?: boolean;
  /**
   * RETR sends the file and its 226, then (a moment later) these bytes too, then closes: bytes still
   * in flight behind the 226, as when the file grew after SIZE and the 226 is read before them.
   */
  tailAfterReply?: Buffer;
  /**
   * The first RETR sends the file and then these bytes too, and the file is that longer one from then
   * on (SIZE says so): a file appended to while vsftpd sends it.
   */
  growDuringRetr?: Buffer;
  /**
   * Flood the control connection from the greeting on, as fast as the client reads: "greeting" is a
   * 220- multi-line reply that never ends, "replies" a 220 followed by 200 replies nobody asked for,
   * "preliminary" "120 ready soon" replies that never end in a 220 (a few every 5 ms: the client
   * reads them as they come, none waits unread).
   */
  flood?: "greeting" | "replies" | "preliminary";
  password?: string;
  /** The text of the 530 that refuses a wrong password. */
  refusal?: string;
  /**
   * Active mode: before connecting to the client's EPRT address from 127.0.0.1, connect from
   * 127.0.0.2 (someone else who found the port) and send these bytes.
   */
  strangerFirst?: Buffer;
  /**
   * A server at its connection limit: the first `times` control connections (or those of
   * `connections`, counted from 1) get a 421 and are closed, "greeting" instead of the 220 (vsftpd's
   * max_clients, pyftpdlib), "login" in answer to USER, "password" in answer to PASS. `reply`
   * replaces the 421: ProFTPD answers a right password "530 Sorry, the maximum number of clients (2)
   * from your host are already connected." (it counts logged-in sessions only).
   */
  busy?: { at: "greeting" | "login" | "password"; times?: number; connections?: number[]; reply?: string };
  /**
   * These control connections (counted from 1) are closed by the server, right after it accepted
   * them ("accept") or instead of answering USER ("USER"): a load balancer without a backend yet, a
   * server process that died. "close" ends them in order (FIN), "terminate" at once.
   */
  hangUp?: { connections: number[]; at: "accept" | "USER"; how: "close" | "terminate" };
  /** A server that stays full: every control connection after the first N gets a 421 greeting and is closed. */
  busyAfter?: number;
}

export interface FakeServer {
  port: number;
  commands: string[];
  files: Map<string, Buffer>;
  /** Bytes sent by each RETR, in order. */
  retrBytes: number[];
  /** lateRetrReplyMs: final replies to RETR delivered, and lost (the control connection was closed already). */
  readonly lateRetrReplies: { delivered: number; lost: number };
  /** Control connections still open. */
  openConnections(): number;
  /** Control connections accepted so far. */
  readonly connections: number;
  /** The most LISTs that were under way at once. */
  mostListingsAtOnce(): number;
  stop(): void;
}

interface Conn {
  buf: string;
  rest: number;
  range: { start: number; end: number } | null;
  alg: Alg;
  data: Promise<Socket<DataState>> | null;
  dataServer: TCPSocketListener<DataState> | null;
  /** The directory CWD entered ("/" at login). */
  cwd: string;
  /** FakeServerOptions.mutedAfter: this connection answers nothing. */
  muted: boolean;
  /** FakeOptions.epsv425After: the next transfer command gets no reply. */
  silentTransfer?: boolean;
  /** FakeOptions.epsv425RefusedAfter: the next transfer command is refused with 503. */
  refuseTransfer?: boolean;
  /** FakeOptions.busy at "login": USER gets 421 (or busy.reply) and the connection is closed. */
  busyAtLogin?: boolean;
  /** FakeOptions.busy at "password": PASS gets busy.reply (or a 421) and the connection is closed. */
  busyAtPassword?: boolean;
  /** FakeOptions.hangUp at "USER": USER closes the connection. */
  hangUpAtUser?: boolean;
}

interface DataState {
  chunks: Buffer[];
  /** A write returned -1: the peer is gone. Bun delivers `close` only on a later event-loop turn. */
  gone: boolean;
  closed: () => void;
  pending: Buffer | null;
  flushed: () => void;
}

type Alg = "SHA-256" | "MD5" | "CRC32";

function hex(alg: Alg, data: Buffer): string {
  return digest(data, alg === "MD5" ? "md5" : alg === "CRC32" ? "crc32" : "sha256");
}

function sendAll(sock: Socket<DataState>, data: Buffer): Promise<void> {
  return new Promise((resolve) => {
    sock.data.pending = data;
    sock.data.flushed = resolve;
    pump(sock);
  });
}

function pump(sock: Socket<DataState>): void {
  const p = sock.data.pending;
  if (!p) return;
  const n = sock.write(p, 0, p.length);
  if (n < 0) {
    sock.data.gone = true;
    sock.data.pending = null;
    sock.data.flushed();
    return;
  }
  if (n < p.length) sock.data.pending = p.subarray(n);
  else {
    sock.data.pending = null;
    sock.data.flushed();
  }
}

export function startFakeServer(opts: FakeOptions = {}): FakeServer {
  const files = opts.files ?? new Map<string, Buffer>();
  const commands: string[] = [];
  const retrBytes: number[] = [];
  let retrCount = 0;
  let retrsSeen = 0;
  const lateRetrReplies = { delivered: 0, lost: 0 };
  let storCount = 0;
  const sockets = new Set<Socket<Conn>>();
  const dirs = new Set<string>(opts.emptyDirs ?? []);
  let droppedListingOf = false;
  let hashDropped = false;
  let hashRefusals = 0;
  let eprtRefused = false;
  let epsvs = 0;
  let listingRefused = false;
  let listingDropped = false;
  let mkds = 0;
  let transfers = 0;
  let listingsNow = 0;
  let mostListings = 0;
  let listings = 0;
  const listingWaiters: (() => void)[] = [];
  /** The OOPS of oopsOnTransfer, when this is that transfer: true when it answered. */
  const oops = (s: Socket<Conn>): boolean => {
    const n = ++transfers;
    if (Array.isArray(opts.oopsOnTransfer) ? !opts.oopsOnTransfer.includes(n) : n !== opts.oopsOnTransfer) return false;
    s.data.dataServer?.stop(true);
    reply(s, 500, "OOPS: priv_sock_get_int");
    // FIN after the reply: end() with the client's pipelined commands unread resets the connection
    // (BUN-NOTES), and a client that read the reset first lost the 500 (exit 4, not 8, under load).
    s.shutdown();
    return true;
  };

  let connections = 0;
  const server = Bun.listen<Conn>({
    hostname: "127.0.0.1",
    port: opts.port ?? 0,
    socket: {
      open(s) {
        sockets.add(s);
        const n = ++connections;
        const frozen = (opts.frozenAfter !== undefined && n > opts.frozenAfter) || opts.frozenConnections?.includes(n) === true;
        s.data = { buf: "", rest: 0, range: null, alg: "SHA-256", data: null, dataServer: null, cwd: "/", muted: frozen || (opts.mutedAfter !== undefined && n > opts.mutedAfter) };
        if (frozen) return;
        if (opts.busyAfter !== undefined && n > opts.busyAfter) return void (reply(s, 421, "There are too many connected users, please try later."), s.end());
        const hangUp = opts.hangUp?.connections.includes(n) ? opts.hangUp : null;
        if (hangUp?.at === "accept") return void (hangUp.how === "close" ? s.end() : s.terminate());
        if (hangUp) s.data.hangUpAtUser = true;
        if (opts.busy && (opts.busy.connections ? opts.busy.connections.includes(n) : n <= (opts.busy.times ?? 0))) {
          if (opts.busy.at === "login") s.data.busyAtLogin = true;
          else if (opts.busy.at === "password") s.data.busyAtPassword = true;
          else return void (busyReply(s, "421 There are too many connected users, please try later."), s.end());
        }
        if (opts.greetingDelayMs) return void setTimeout(() => sockets.has(s) && s.write(formatReply(220, "fake ready")), opts.greetingDelayMs);
        if (!opts.flood) s.write(formatReply(220, "fake ready"));
        else {
          if (opts.flood === "preliminary") {
            const timer = setInterval(() => (sockets.has(s) ? s.write("120 ready soon\r\n".repeat(4)) : clearInterval(timer)), 5);
            return;
          }
          s.write(opts.flood === "greeting" ? "220-fake ready, and more:\r\n" : formatReply(220, "fake ready"));
          floodMore(s);
        }
      },
      drain(s) {
        if (opts.flood === "greeting" || opts.flood === "replies") floodMore(s);
      },
      close(s) {
        sockets.delete(s);
        s.data.dataServer?.stop(true);
      },
      data(s, chunk) {
        if (s.data.muted) return;
        s.data.buf += chunk.toString("utf8");
        let nl: number;
        while ((nl = s.data.buf.indexOf("\n")) >= 0) {
          const line = s.data.buf.slice(0, nl).replace(/\r$/, "");
          s.data.buf = s.data.buf.slice(nl + 1);
          void handle(s, line);
        }
      },
    },
  });

  const reply = (s: Socket<Conn>, code: number, text: string | string[]) => s.write(formatReply(code, text));
  /** A full server's refusal: busy.reply, else `usual` ("421 …"). */
  const busyReply = (s: Socket<Conn>, usual: string) => {
    const [, code, text] = /^(\d{3}) (.*)$/.exec(opts.busy?.reply ?? usual)!;
    reply(s, Number(code), text!);
  };
  const floodBlock = Buffer.from((opts.flood === "greeting" ? " and more\r\n" : "200 nobody asked\r\n").repeat(4096));
  /** Write flood blocks until the socket's buffer is full (drain calls this again); a block cut short still parses as lines. */
  function floodMore(s: Socket<Conn>): void {
    while (s.write(floodBlock) === floodBlock.length);
  }

  /** The handlers of a data socket, passive or active; `opened` gets the socket once it is up. */
  function dataHandlers(opened: (d: Socket<DataState>) => void) {
    return {
      open(d: Socket<DataState>) {
        let closed!: () => void;
        const p = new Promise<void>((r) => (closed = r));
        d.data = { chunks: [], gone: false, closed, pending: null, flushed: () => {} };
        (d.data as DataState & { done: Promise<void> }).done = p;
        opened(d);
      },
      data(d: Socket<DataState>, chunk: Buffer) {
        d.data.chunks.push(Buffer.from(chunk));
      },
      drain(d: Socket<DataState>) {
        pump(d);
      },
      close(d: Socket<DataState>) {
        d.data.closed();
        d.data.flushed(); // a write waiting for drain ends with the connection
      },
    };
  }

  function openPassive(s: Socket<Conn>): number {
    s.data.dataServer?.stop(true);
    let resolveSock!: (x: Socket<DataState>) => void;
    s.data.data = new Promise((r) => (resolveSock = r));
    s.data.dataServer = Bun.listen<DataState>({ hostname: "127.0.0.1", port: 0, socket: dataHandlers(resolveSock) });
    return s.data.dataServer.port;
  }

  /** EPRT: connect to the client (after a stranger, with strangerFirst) once a transfer needs it. */
  function openActive(s: Socket<Conn>, host: string, port: number): void {
    s.data.dataServer?.stop(true);
    s.data.dataServer = null;
    s.data.data = (async () => {
      if (opts.strangerFirst) {
        const stranger = net.connect({ host, port, localAddress: "127.0.0.2" });
        await new Promise<void>((resolve) => {
          stranger.on("connect", () => stranger.end(opts.strangerFirst!));
          stranger.on("close", () => resolve());
          stranger.on("error", () => resolve());
        });
      }
      return new Promise<Socket<DataState>>((resolve, reject) => {
        Bun.connect<DataState>({ hostname: host, port, socket: dataHandlers(resolve) }).catch(reject);
      });
    })();
  }

  /** The LIST lines of `names` (name → size, null for a directory) on the data connection, then 226. */
  async function sendListing(s: Socket<Conn>, names: Map<string, number | null>, mlsd = false, dir = "/"): Promise<void> {
    const d = await s.data.data!;
    reply(s, 150, "Here comes the listing");
    if (opts.silentListing) return; // nothing more, ever: the client must give up
    if (opts.endlessListing) {
      const line = `-rw-r--r-- 1 ftp ftp 1 Jan 01 12:00 ${opts.endlessName ?? "again-and-again.txt"}\r\n`;
      const block = Buffer.from(line.repeat(Math.max(1, Math.floor((1 << 20) / line.length))));
      let open = true;
      void (d.data as DataState & { done: Promise<void> }).done.then(() => (open = false));
      while (open && !d.data.gone) await sendAll(d, block);
      return void reply(s, 426, "Connection closed; transfer aborted");
    }
    const lines = [...names].map(([name, size]) =>
      mlsd
        ? `type=${size === null ? "dir" : "file"};${size === null || opts.mlsdWithoutSize ? "" : `size=${size};`}modify=20260101120000; ${name}\r\n`
        : opts.listLine
          ? `${opts.listLine(name, size)}\r\n`
          : opts.dosListing
          ? // IIS's columns: the size right-aligned in 21, "<DIR>" padded to the same width.
            `01-01-26  12:00PM ${size === null ? "      <DIR>         " : String(size).padStart(20)} ${name}\r\n`
          : `${size === null ? "drwxr-xr-x" : `-${opts.fileColumns ?? "rw-r--r--"}`} 1 ftp ftp ${size ?? 4096} Jan 01 12:00 ${name}\r\n`,
    );
    for (const extra of opts.listExtra ?? []) lines.push(`${extra}\r\n`);
    if (opts.dropListingOnce && !listingDropped) {
      listingDropped = true;
      await sendAll(d, Buffer.from(lines.slice(0, lines.length >> 1).join("")));
      d.terminate();
      return void (opts.dropListingOnce === "both" ? s.terminate() : reply(s, 426, "Connection closed; transfer aborted."));
    }
    await sendAll(d, Buffer.from(lines.join("")));
    d.shutdown();
    d.end();
    reply(s, 226, opts.listingDoneNamesDir ? `Successfully transferred "${dir}"` : "Directory send OK");
  }

  async function handle(s: Socket<Conn>, line: string): Promise<void> {
    commands.push(line.startsWith("PASS ") ? "PASS ****" : line);
    const sp = line.indexOf(" ");
    const verb = (sp < 0 ? line : line.slice(0, sp)).toUpperCase();
    const arg = sp < 0 ? "" : line.slice(sp + 1);
    const file = files.get(arg);
    if (opts.neverAnswer?.includes(verb)) return;
    switch (verb) {
      case "USER":
        if (s.data.hangUpAtUser) return void (opts.hangUp!.how === "close" ? s.end() : s.terminate());
        if (s.data.busyAtLogin) return void (busyReply(s, "421 Too many users logged in, please try later."), s.end());
        return void reply(s, 331, "password please");
      case "PASS":
        if (s.data.busyAtPassword) return void (busyReply(s, "421 Too many users logged in, please try later."), s.end());
        if (opts.password === undefined || arg === opts.password) return void reply(s, 230, "ok");
        if (opts.refusalDelayMs) return void setTimeout(() => sockets.has(s) && reply(s, 530, opts.refusal ?? "Login incorrect."), opts.refusalDelayMs);
        return void reply(s, 530, opts.refusal ?? "Login incorrect.");
      case "FEAT":
        return void reply(s, 211, ["Features:", ...(opts.feat ?? []).map((f) => ` ${f}`), "End"]);
      case "TYPE":
        return void reply(s, 200, "Type set");
      case "PWD":
        return void reply(s, 257, '"/" is the current directory');
      case "MKD":
        if (opts.dropOnMkd !== undefined && ++mkds === opts.dropOnMkd) return void s.terminate();
        dirs.add(arg.startsWith("/") ? arg : `${s.data.cwd.replace(/\/$/, "")}/${arg}`);
        if (opts.mkdReplyDelayMs) return void setTimeout(() => sockets.has(s) && reply(s, 257, `"${arg}" created`), opts.mkdReplyDelayMs);
        return void reply(s, 257, `"${arg}" created`);
      case "RMD":
        return void (dirs.delete(arg.startsWith("/") ? arg : `${s.data.cwd.replace(/\/$/, "")}/${arg}`) ? reply(s, 250, "Remove directory operation successful.") : reply(s, 550, "Remove directory operation failed."));
      case "DELE":
        return void (files.delete(arg) ? reply(s, 250, "Delete operation successful.") : reply(s, 550, "Delete operation failed."));
      case "CWD": {
        const to = arg.startsWith("/") ? arg.replace(/\/+$/, "") || "/" : `${s.data.cwd.replace(/\/$/, "")}/${arg}`;
        const exists = to === "/" || dirs.has(to) || opts.endlessTree || [...files.keys()].some((p) => p.startsWith(`${to}/`));
        if (!exists) return void reply(s, 550, "Failed to change directory.");
        s.data.cwd = to;
        return void reply(s, 250, "Directory successfully changed.");
      }
      case "MLSD":
      case "LIST": {
        if (verb === "MLSD" && opts.dosListing) return void reply(s, 500, "'MLSD': command not understood.");
        // `ls -l` lines of what `files` and MKD put under the directory; 550 for one that has neither.
        // LIST takes vsftpd's "-a" (hidden files too: all of them here) and lists the CWD without a path.
        const path = verb === "LIST" ? arg.replace(/^-a(\s+|$)/, "") : arg;
        const dir = (path || s.data.cwd).replace(/\/+$/, "") || "/";
        const prefix = dir === "/" ? "/" : `${dir}/`;
        const names = new Map<string, number | null>();
        for (const [path, bytes] of files) if (path.startsWith(prefix)) {
          const rest = path.slice(prefix.length);
          const slash = rest.indexOf("/");
          names.set(slash < 0 ? rest : rest.slice(0, slash), slash < 0 ? bytes.length : null);
        }
        for (const d of dirs) if (d.startsWith(prefix) && !d.slice(prefix.length).includes("/")) names.set(d.slice(prefix.length), null);
        if (opts.dropListingOf === dir && !droppedListingOf) {
          droppedListingOf = true;
          // Once the client's data connection is in (as a server whose process died mid-listing).
          (await s.data.data)?.terminate();
          return void s.terminate();
        }
        if (opts.endlessTree) names.set("x", null);
        if (names.size === 0 && dir !== "/" && !dirs.has(dir)) {
          s.data.dataServer?.stop(true);
          return void reply(s, 550, "No such directory.");
        }
        if (opts.listing550 === dir) {
          s.data.dataServer?.stop(true);
          return void reply(s, 550, "Permission denied.");
        }
        if (opts.listing450Always === dir) {
          s.data.dataServer?.stop(true);
          return void reply(s, 450, "Transient failure, try again.");
        }
        if (opts.listing450Once === dir && !listingRefused) {
          listingRefused = true;
          s.data.dataServer?.stop(true);
          return void reply(s, 450, "Transient failure, try again.");
        }
        mostListings = Math.max(mostListings, ++listingsNow);
        try {
          if (opts.listingsTogether && ++listings > 1 && mostListings < opts.listingsTogether) {
            await new Promise<void>((go) => (listingWaiters.push(go), setTimeout(go, 1000)));
          } else for (const go of listingWaiters.splice(0)) go();
          await sendListing(s, names, verb === "MLSD", dir);
        } finally {
          listingsNow--;
        }
        return;
      }
      case "SIZE":
        return void (file ? reply(s, 213, String(file.length)) : reply(s, 550, "No such file."));
      case "MDTM":
        return void (file ? reply(s, 213, "20260101120000") : reply(s, 550, "No such file."));
      case "EPSV":
        if (opts.epsv425After !== undefined && epsvs === opts.epsv425After) {
          epsvs++;
          s.data.silentTransfer = true;
          return void reply(s, 425, "Unable to build data connection: no port free");
        }
        if (opts.epsv425RefusedAfter !== undefined && epsvs === opts.epsv425RefusedAfter) {
          epsvs++;
          s.data.refuseTransfer = true;
          return void reply(s, 425, "Unable to build data connection: no port free");
        }
        epsvs++;
        if (epsvs === opts.goneAtEpsv) {
          const port = openPassive(s);
          s.data.dataServer?.stop(true);
          reply(s, 229, formatEpsvReply(port));
          return void s.terminate();
        }
        return void reply(s, 229, formatEpsvReply(openPassive(s)));
      case "EPRT": {
        if (opts.eprt421Once && !eprtRefused) {
          eprtRefused = true;
          reply(s, 421, "Active data channel timed out.");
          return void s.end();
        }
        const { host, port } = parseEprt(arg);
        openActive(s, host, port);
        return void reply(s, 200, "EPRT command successful");
      }
      case "REST":
        if (opts.noRest) return void reply(s, opts.noRest === true ? 502 : opts.noRest, "REST not implemented");
        s.data.rest = Number(arg);
        return void reply(s, 350, "Restarting");
      case "OPTS": {
        const m = /^HASH (SHA-256|MD5|CRC32)$/i.exec(arg);
        if (!m) return void reply(s, 501, "bad option");
        // Like a real server, only what its FEAT HASH line offers.
        const offered = opts.feat?.find((f) => f.startsWith("HASH "))?.slice(5).toUpperCase().split(";") ?? [];
        if (!offered.some((a) => a.replace(/\*$/, "") === m[1]!.toUpperCase())) return void reply(s, 504, "unsupported algorithm");
        s.data.alg = m[1]!.toUpperCase() as Alg;
        return void reply(s, 200, s.data.alg);
      }
      case "RANG": {
        // draft-bryan-ftp-range: END is inclusive (kept exclusive inside, like the server).
        const [a, b] = arg.split(/[ -]/).map(Number);
        s.data.range = { start: a!, end: b! + 1 };
        return void reply(s, 350, "Range set");
      }
      case "HASH": {
        if (!opts.feat?.some((f) => f.startsWith("HASH"))) return void reply(s, 502, "no");
        if (!file) return void reply(s, 550, "No such file.");
        if (opts.dropOnFirstHash && !s.data.range && !hashDropped) {
          hashDropped = true;
          return void s.terminate();
        }
        if (opts.refuseHash && !s.data.range && hashRefusals < opts.refuseHash.times) {
          hashRefusals++;
          const [, code, text] = /^(\d{3}) (.*)$/.exec(opts.refuseHash.reply)!;
          reply(s, Number(code), text!);
          // 421 closes the session, as real servers do (and with goneAfterDrop, the server too).
          if (code === "421") {
            s.end();
            if (opts.goneAfterDrop) server.stop(true);
          }
          return;
        }
        const r = s.data.range ?? { start: 0, end: file.length };
        s.data.range = null;
        if (opts.slowHashMs) await Bun.sleep(opts.slowHashMs);
        let h = hex(s.data.alg, file.subarray(r.start, r.end));
        if (opts.lieAboutHashOf === arg) h = h.replace(/^./, (c) => (c === "0" ? "1" : "0"));
        return void reply(s, 213, `${s.data.alg} ${r.start}-${r.end} ${h} ${arg}`);
      }
      case "XSHA256":
      case "XMD5": {
        if (!opts.legacyHash) return void reply(s, 500, "unknown command");
        if (!file) return void reply(s, 550, "No such file.");
        let h = hex(verb === "XMD5" ? "MD5" : "SHA-256", file);
        if (opts.lieAboutHashOf === arg) h = h.replace(/^./, (c) => (c === "0" ? "1" : "0"));
        return void reply(s, 250, h);
      }
      case "RETR": {
        if (s.data.silentTransfer) return; // trying the default data port: no reply for a long while
        if (s.data.refuseTransfer) {
          s.data.refuseTransfer = false;
          return void reply(s, 503, "Use PORT or PASV first.");
        }
        if (!file) {
          s.data.dataServer?.stop(true);
          return void reply(s, 550, "No such file.");
        }
        if (oops(s)) return;
        if (opts.refuseRetrOf === arg) {
          s.data.dataServer?.stop(true);
          return void reply(s, 550, "Permission denied.");
        }
        const d = await s.data.data!;
        if (++retrsSeen === opts.dropDataOnRetr) {
          d.end();
          return void reply(s, 150, "File status okay. About to open data connection.");
        }
        reply(s, 150, "Opening data connection");
        let out = Buffer.from(file.subarray(s.data.rest));
        if (opts.flipByteAt !== undefined && opts.flipByteAt >= s.data.rest && opts.flipByteAt < file.length) {
          out[opts.flipByteAt - s.data.rest]! ^= 0xff;
        }
        s.data.rest = 0;
        retrCount++;
        if (opts.growDuringRetr && retrCount === 1) {
          files.set(arg, Buffer.concat([file, opts.growDuringRetr]));
          out = Buffer.concat([out, opts.growDuringRetr]);
        }
        if (opts.stallRetrAfter !== undefined && retrCount === 1) {
          out = out.subarray(0, opts.stallRetrAfter);
          await sendAll(d, out);
          retrBytes.push(out.length);
          return; // neither more data nor a reply: only the client's stall timeout ends this
        }
        if (opts.retrLeftOpen) {
          await sendAll(d, out);
          retrBytes.push(out.length);
          return void reply(s, 226, "Transfer complete");
        }
        if (opts.tailAfterReply) {
          await sendAll(d, out);
          reply(s, 226, "Transfer complete");
          await Bun.sleep(100);
          await sendAll(d, opts.tailAfterReply);
          retrBytes.push(out.length + opts.tailAfterReply.length);
          d.shutdown();
          return void d.end();
        }
        if (opts.endlessRetr) {
          await sendAll(d, out);
          const block = Buffer.alloc(1 << 20, 0x61);
          let open = true;
          void (d.data as DataState & { done: Promise<void> }).done.then(() => (open = false));
          let sent = out.length;
          while (open && !d.data.gone) {
            await sendAll(d, block);
            sent += block.length;
          }
          retrBytes.push(sent);
          return void reply(s, 426, "Connection closed; transfer aborted");
        }
        if (opts.dropRetrAfter !== undefined && retrCount === 1) {
          out = out.subarray(0, opts.dropRetrAfter);
          await sendAll(d, out);
          retrBytes.push(out.length);
          d.terminate();
          s.terminate();
          if (opts.goneAfterDrop) server.stop(true);
          return;
        }
        await sendAll(d, out);
        retrBytes.push(out.length);
        const cut = d.data.gone;
        d.shutdown();
        d.end();
        if (opts.lateRetrReplyMs !== undefined) {
          await Promise.race([(d.data as DataState & { done: Promise<void> }).done, Bun.sleep(2000)]);
          await Bun.sleep(opts.lateRetrReplyMs);
          if (!sockets.has(s)) return void lateRetrReplies.lost++;
          lateRetrReplies.delivered++;
          return void (cut ? reply(s, 426, "Connection closed; transfer aborted.") : reply(s, 226, "Transfer complete"));
        }
        return void reply(s, 226, "Transfer complete");
      }
      case "STOR":
      case "APPE": {
        if (verb === "APPE" && opts.noAppe) {
          s.data.dataServer?.stop(true);
          return void reply(s, 502, "Command not implemented");
        }
        if (opts.refuseStor) {
          s.data.dataServer?.stop(true);
          s.data.rest = 0;
          return void reply(s, Number(opts.refuseStor.slice(0, 3)), opts.refuseStor.slice(4));
        }
        if (opts.noStoreRestart && (verb === "APPE" || s.data.rest > 0)) {
          s.data.dataServer?.stop(true);
          s.data.rest = 0;
          return void reply(s, 451, `${arg}${opts.noStoreRestartText ?? ": Append/Restart not permitted, try again"}`);
        }
        if (oops(s)) return;
        if (opts.storeFull) {
          s.data.dataServer?.stop(true);
          return void reply(s, 552, "Requested file action aborted. Exceeded storage allocation.");
        }
        const d = await s.data.data!;
        reply(s, 150, "Ok to send data");
        storCount++;
        if (opts.dropStorAfter !== undefined && storCount === 1) {
          const limit = opts.dropStorAfter;
          await new Promise<void>((resolve) => {
            const timer = setInterval(() => {
              if (d.data.chunks.reduce((n, c) => n + c.length, 0) >= limit) {
                clearInterval(timer);
                resolve();
              }
            }, 1);
          });
          const got = Buffer.concat(d.data.chunks).subarray(0, limit);
          const prev = files.get(arg) ?? Buffer.alloc(0);
          files.set(arg, Buffer.concat([verb === "APPE" ? prev : prev.subarray(0, s.data.rest), got]));
          if (opts.dropStorGently) {
            // What has arrived is read first (closing on unread bytes sends a reset, not a FIN): the
            // close lands while the client waits to send its next chunk.
            for (let n = -1; n !== d.data.chunks.length; ) {
              n = d.data.chunks.length;
              await Bun.sleep(50);
            }
            d.end();
            s.end();
          } else {
            d.terminate();
            s.terminate();
          }
          if (opts.goneAfterDrop) server.stop(true);
          return;
        }
        await (d.data as DataState & { done: Promise<void> }).done;
        const got = Buffer.concat(d.data.chunks);
        const prev = files.get(arg) ?? Buffer.alloc(0);
        const base = verb === "APPE" ? prev : prev.subarray(0, s.data.rest);
        files.set(arg, Buffer.concat([base, got]));
        s.data.rest = 0;
        return void reply(s, 226, "Transfer complete");
      }
      case "QUIT":
        if (opts.silentQuit) return;
        reply(s, 221, "Bye");
        return void s.end();
      default:
        return void reply(s, 502, "Command not implemented");
    }
  }

  return {
    port: server.port,
    commands,
    files,
    retrBytes,
    lateRetrReplies,
    openConnections: () => sockets.size,
    get connections() {
      return connections;
    },
    mostListingsAtOnce: () => mostListings,
    stop() {
      for (const s of sockets) s.terminate();
      server.stop(true);
    },
  };
}

/**
 * The fixture of a client test file against fake servers: a fresh work directory for each test
 * (`work`), and the server the test starts with `start` stopped after it, the directory removed.
 */
export function useFakeServerWork(): { readonly work: string; readonly fake: FakeServer; start(opts?: FakeOptions): FakeServer } {
  let work = "";
  let fake: FakeServer | null = null;
  beforeEach(() => {
    work = tempDir();
  });
  afterEach(() => {
    fake?.stop();
    fake = null;
    removeDir(work);
  });
  return {
    get work() {
      return work;
    },
    get fake() {
      if (!fake) throw new Error("no fake server started in this test");
      return fake;
    },
    start(opts?: FakeOptions) {
      fake = startFakeServer(opts);
      return fake;
    },
  };
}
