// A tiny scriptable FTP server for client tests: it can lie (flip a byte but report the true hash),
// drop the connection mid-transfer, offer HASH / legacy X-verbs / nothing, and logs every command.
// Its options are in fake-server-options.ts; its data connections and RETR, STOR and APPE in
// fake-server-transfers.ts.
import type { Socket, TCPSocketListener } from "bun";
import { formatReply } from "../../protocol/reply.ts";
import { formatEpsvReply, parseEprt } from "../../protocol/address.ts";
import { afterEach, beforeEach } from "bun:test";
import { removeDir, tempDir } from "../helpers/peers.ts";
import type { FakeOptions, FakeServer } from "./fake-server-options.ts";
import { hex, openActive, openPassive, retr, sendAll, store, type Alg, type Conn, type DataState, type TransferContext } from "./fake-server-transfers.ts";

export function startFakeServer(opts: FakeOptions = {}): FakeServer {
  const files = opts.files ?? new Map<string, Buffer>();
  const commands: string[] = [];
  const retrBytes: number[] = [];
  const lateRetrReplies = { delivered: 0, lost: 0 };
  const sockets = new Set<Socket<Conn>>();
  const dirs = new Set<string>(opts.emptyDirs ?? []);
  let droppedListingOf = false;
  let hashDropped = false;
  let sizes = 0;
  let hashRefusals = 0;
  let eprtRefused = false;
  let epsvs = 0;
  let listingRefused = false;
  let listingDropped = false;
  let mkds = 0;
  let mdtms = 0;
  let transfers = 0;
  let transfersEnded = 0;
  /** oopsAfterTransfer: after this transfer's reply, when it is the Nth, vsftpd's OOPS unasked. */
  const oopsAfter = (s: Socket<Conn>): void => {
    if (++transfersEnded !== opts.oopsAfterTransfer) return;
    reply(s, 500, "OOPS: priv_sock_send_cmd");
    s.data.hangUpAtNext = true;
  };
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
          else return void busyRefusal(s, "421 There are too many connected users, please try later.");
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
  /** A full server's refusal (busy.reply, else `usual`: "421 …"), busy.delayMs late, and the close. */
  const busyRefusal = (s: Socket<Conn>, usual: string) => {
    const refuse = () => {
      const [, code, text] = /^(\d{3}) (.*)$/.exec(opts.busy?.reply ?? usual)!;
      reply(s, Number(code), text!);
      s.end();
    };
    if (opts.busy?.delayMs) setTimeout(() => sockets.has(s) && refuse(), opts.busy.delayMs);
    else refuse();
  };
  const floodBlock = Buffer.from((opts.flood === "greeting" ? " and more\r\n" : "200 nobody asked\r\n").repeat(4096));
  /** Write flood blocks until the socket's buffer is full (drain calls this again); a block cut short still parses as lines. */
  function floodMore(s: Socket<Conn>): void {
    while (s.write(floodBlock) === floodBlock.length);
  }

  const dataSide: TransferContext = {
    opts,
    files,
    retrBytes,
    lateRetrReplies,
    counts: { retrs: 0, retrsSeen: 0, stors: 0 },
    isOpen: (s) => sockets.has(s),
    reply,
    oops,
    stopServer: () => server.stop(true),
  };

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
    // FIN, not end(): see oopsAfter.
    if (s.data.hangUpAtNext) return void s.shutdown();
    switch (verb) {
      case "USER":
        if (s.data.hangUpAtUser) return void (opts.hangUp!.how === "close" ? s.end() : s.terminate());
        if (s.data.busyAtLogin) return void busyRefusal(s, "421 Too many users logged in, please try later.");
        return void reply(s, 331, "password please");
      case "PASS":
        if (s.data.busyAtPassword) return void busyRefusal(s, "421 Too many users logged in, please try later.");
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
        if (opts.dropOnSize !== undefined && ++sizes === opts.dropOnSize) return void s.terminate();
        return void (file ? reply(s, 213, String(file.length)) : reply(s, 550, "No such file."));
      case "MDTM":
        if (opts.dropOnMdtm !== undefined && ++mdtms === opts.dropOnMdtm) return void s.terminate();
        return void (file ? reply(s, 213, opts.mdtm ?? "20260101120000") : reply(s, 550, "No such file."));
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
        openActive(s, host, port, opts.strangerFirst);
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
      case "RETR":
        await retr(dataSide, s, arg, file);
        return oopsAfter(s);
      case "STOR":
      case "APPE":
        await store(dataSide, s, verb, arg);
        return oopsAfter(s);
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