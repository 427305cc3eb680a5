// A small FTP server for client tests whose every verb a test may script (fake-server.ts has the
// common scenarios as options): the greeting, login, FEAT, PWD, TYPE, OPTS and EPSV are answered as
// an ordinary server would, unless the test's `on` takes the verb; anything else is 502.
import type { Socket, TCPSocketListener } from "bun";
import { afterEach, beforeEach } from "bun:test";
import { formatEpsvReply } from "../../protocol/address.ts";
import { removeDir, tempDir } from "../helpers/peers.ts";

/** One data connection the client opened to a scripted EPSV. */
export interface ScriptedData {
  /** Send `bytes`, waiting while the client does not read; false once the client closed it. */
  send(bytes: Uint8Array): Promise<boolean>;
  /** Finish it: FIN after everything sent. */
  end(): void;
  /** Abort it: a reset (RST), not a FIN. */
  reset(): void;
  readonly closed: boolean;
  /** Resolves once the client has closed it (an upload's end). */
  closing(): Promise<void>;
  /** Every byte the client sent on it so far (an upload's data). */
  received(): Buffer;
}

/** What a scripted verb's handler gets: its control connection. */
export interface ScriptedControl {
  /** Raw text on the control connection (whole replies, or pieces of one). */
  write(text: string): void;
  reply(code: number, text: string): void;
  /** The data connection of the last EPSV, once the client has connected. */
  data(): Promise<ScriptedData>;
  /** Answer EPSV as an ordinary server does (229, a new passive port): for an EPSV handler that only sometimes refuses. */
  epsv(): void;
  /** Close the last EPSV's listener now, before the client connects to it (a server that refused the command). */
  closePassive(): void;
  /** The control connection is closed (the client left). */
  readonly closed: boolean;
  /** Close the control connection now. */
  drop(): void;
}

export interface Script {
  /** FEAT lines. */
  feat?: string[];
  /** Instead of the one-line "220 scripted": the greeting, written when the client connects. */
  greet?: (c: ScriptedControl) => void | Promise<void>;
  /** Each command line as it arrives, before the commands ahead of it are handled (PASS unmasked). */
  arrived?: (line: string) => void;
  /** Verbs (upper case) the test answers itself; the next command waits until the handler is done. */
  on?: Record<string, (c: ScriptedControl, arg: string) => void | Promise<void>>;
}

/** A RETR handler that sends `bytes` whole over the data connection, then 226 (every file has these bytes). */
export function sendsFile(bytes: Uint8Array): (c: ScriptedControl) => Promise<void> {
  return async (c) => {
    const d = await c.data();
    c.reply(150, "Opening data connection");
    await d.send(bytes);
    d.end();
    c.reply(226, "Transfer complete");
  };
}

/** A STOR handler that keeps what arrives in `stored` under the path given, then 226. */
export function storesFile(stored: Map<string, Buffer>): (c: ScriptedControl, arg: string) => Promise<void> {
  return async (c, arg) => {
    const d = await c.data();
    c.reply(150, "Ok to send data");
    await d.closing();
    stored.set(arg, d.received());
    c.reply(226, "Transfer complete");
  };
}

/** A listing verb (LIST, MLSD) that sends `lines` (or the lines for its argument) whole, each ended by CRLF, then 226. */
export function sendsListing(lines: string[] | ((arg: string) => string[])): (c: ScriptedControl, arg: string) => Promise<void> {
  return async (c, arg) => {
    const d = await c.data();
    c.reply(150, "Here comes the listing");
    await d.send(Buffer.from((typeof lines === "function" ? lines(arg) : lines).map((l) => `${l}\r\n`).join("")));
    d.end();
    c.reply(226, "Directory send OK");
  };
}

/**
 * A tree /t of `names` (MLSD; each file "ok\n") whose files named "bad…" are refused with 550 until
 * `stopRefusing()`: a tree job that fails part-way, then is resumed once the refusals end.
 */
export function startRefusingTree(names: string[]): ScriptedServer & { stopRefusing(): void } {
  const facts = "type=file;size=3;modify=20260101120000;";
  const good = sendsFile(Buffer.from("ok\n"));
  let refusing = true;
  const server = startScriptedServer({
    feat: ["MLST type*;size*;modify*;", "MLSD"],
    on: {
      MLSD: sendsListing(names.map((n) => `${facts} ${n}`)),
      RETR: (c, arg) => (refusing && arg.includes("/bad") ? c.reply(550, "Permission denied") : good(c)),
    },
  });
  return Object.assign(server, { stopRefusing: () => void (refusing = false) });
}

export interface ScriptedServer {
  port: number;
  /** Every command line received, in order (PASS masked). */
  commands: string[];
  /** Control connections still open. */
  openConnections(): number;
  stop(): void;
}

interface Session {
  buf: string;
  ctl: ScriptedControl;
  data: Promise<ScriptedData> | null;
  passive: TCPSocketListener<DataState> | null;
  closed: boolean;
  /** Commands are handled one after the other, as a server does: each waits for the one before. */
  queue: Promise<void>;
}

interface DataState {
  wake: () => void;
  closed: boolean;
  gone: () => void;
  chunks: Buffer[];
}

export function startScriptedServer(script: Script): ScriptedServer {
  const commands: string[] = [];
  const sockets = new Set<Socket<Session>>();

  function openPassive(s: Socket<Session>): number {
    s.data.passive?.stop(true);
    let opened!: (d: ScriptedData) => void;
    s.data.data = new Promise((r) => (opened = r));
    const listener: TCPSocketListener<DataState> = Bun.listen<DataState>({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open(d) {
          let gone!: () => void;
          const closing = new Promise<void>((r) => (gone = r));
          d.data = { wake: () => {}, closed: false, gone, chunks: [] };
          listener.stop();
          opened({
            async send(bytes) {
              let at = 0;
              while (at < bytes.length) {
                if (d.data.closed) return false;
                const n = d.write(bytes.subarray(at));
                if (n < 0) return false;
                at += n;
                if (at < bytes.length) await new Promise<void>((r) => (d.data.wake = r));
              }
              return !d.data.closed;
            },
            end() {
              d.shutdown();
              d.end();
            },
            reset() {
              d.terminate();
            },
            get closed() {
              return d.data.closed;
            },
            closing: () => closing,
            received: () => Buffer.concat(d.data.chunks),
          });
        },
        data(d, chunk) {
          d.data.chunks.push(Buffer.from(chunk));
        },
        drain(d) {
          d.data.wake();
        },
        close(d) {
          d.data.closed = true;
          d.data.wake();
          d.data.gone?.();
        },
      },
    });
    s.data.passive = listener;
    return listener.port;
  }

  async function handle(s: Socket<Session>, line: string): Promise<void> {
    commands.push(line.startsWith("PASS ") ? "PASS ****" : line);
    const sp = line.indexOf(" ");
    const verb = (sp < 0 ? line : line.slice(0, sp)).toUpperCase();
    const arg = sp < 0 ? "" : line.slice(sp + 1);
    const c = s.data.ctl;
    const own = script.on?.[verb];
    if (own) return void (await own(c, arg));
    switch (verb) {
      case "USER":
        return c.reply(331, "password please");
      case "PASS":
        return c.reply(230, "ok");
      case "FEAT":
        return c.write(`211-Features:\r\n${(script.feat ?? []).map((f) => ` ${f}\r\n`).join("")}211 End\r\n`);
      case "PWD":
        return c.reply(257, '"/" is the current directory');
      case "TYPE":
      case "OPTS":
        return c.reply(200, "ok");
      case "EPSV":
        return c.reply(229, formatEpsvReply(openPassive(s)));
      case "QUIT":
        c.reply(221, "Bye");
        return void s.end();
      default:
        return c.reply(502, "Command not implemented");
    }
  }

  const server = Bun.listen<Session>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(s) {
        sockets.add(s);
        const ctl: ScriptedControl = {
          write: (text) => void (s.data.closed || s.write(text)),
          reply: (code, text) => ctl.write(`${code} ${text}\r\n`),
          data: () => s.data.data ?? Promise.reject(new Error("no EPSV before this command")),
          epsv: () => ctl.reply(229, formatEpsvReply(openPassive(s))),
          closePassive: () => s.data.passive?.stop(true),
          get closed() {
            return s.data.closed;
          },
          drop: () => s.terminate(),
        };
        s.data = { buf: "", ctl, data: null, passive: null, closed: false, queue: Promise.resolve() };
        if (script.greet) void script.greet(ctl);
        else ctl.reply(220, "scripted");
      },
      data(s, chunk) {
        s.data.buf += chunk.toString("utf8");
        let nl: number;
        while ((nl = s.data.buf.indexOf("\n")) >= 0) {
          const line = s.data.buf.slice(0, nl).replace(/\r$/, "");
          s.data.buf = s.data.buf.slice(nl + 1);
          script.arrived?.(line);
          // A handler that throws (a test's mistake) answers 451 and the session goes on.
          s.data.queue = s.data.queue.then(() => handle(s, line).catch((err: unknown) => s.data.ctl.reply(451, `scripted handler failed: ${String(err)}`)));
        }
      },
      close(s) {
        s.data.closed = true;
        sockets.delete(s);
        s.data.passive?.stop(true);
      },
    },
  });

  return {
    port: server.port,
    commands,
    openConnections: () => sockets.size,
    stop() {
      for (const s of sockets) s.terminate();
      server.stop(true);
    },
  };
}

/**
 * The fixture of a client test file against scripted servers (as fake-server.ts's useFakeServerWork):
 * a fresh work directory for each test (`work`), and the server the test starts with `start`
 * stopped after it, the directory removed.
 */
export function useScriptedServerWork(): { readonly work: string; start(script: Script): ScriptedServer } {
  let work = "";
  let server: ScriptedServer | null = null;
  beforeEach(() => {
    work = tempDir();
  });
  afterEach(() => {
    server?.stop();
    server = null;
    removeDir(work);
  });
  return {
    get work() {
      return work;
    },
    start(script: Script) {
      server = startScriptedServer(script);
      return server;
    },
  };
}
