// The commands of one control connection, once its session exists: CommandLoop below. How a
// connection is admitted, started and ended is in control-lifecycle.ts.
import { LineSplitter, parseCommandLine, type ParsedLine } from "../protocol/command.ts";
import { replyForError, storageTrouble } from "./commands/errors.ts";
import type { ServerContext } from "./context.ts";
import type { Session } from "./session.ts";
import { StorageError } from "./storage/backend.ts";
import { resolvePath } from "./vfs/resolve.ts";

/** Pipelined commands waiting to run: at this many the session stops reading its socket. */
const PAUSE_AT_QUEUED = 64;
/** More than this many from one read (the pause came too late): the client is flooding us. */
const MAX_QUEUED_COMMANDS = 4096;

/**
 * The control connection: CRLF framing with a hard cap (over-long lines are refused without being
 * buffered), one command at a time in order. Only ABOR, STAT, QUIT and (with nothing queued before
 * it) NOOP may run while a data transfer is in progress, and never more than one of each at a time.
 * Input is bounded both ways: the socket stops being read while commands queue up or replies wait
 * unsent (MAX_UNSENT_REPLY_BYTES), and resumes when both have drained.
 */
export class CommandLoop {
  private splitter = new LineSplitter();
  private queue: ParsedLine[] = [];
  private running = false;
  private paused = false;
  /** Verbs running beside a transfer (at most one of each). */
  private jumping = new Set<string>();
  /** The commands run beside the transfer, chained: each starts once the one before it ended. */
  private besideTransfer: Promise<void> = Promise.resolve();

  constructor(private readonly session: Session) {
    session.input = {
      // AUTH TLS: whatever arrived in clear after it must not run inside the protected session.
      discard: () => {
        this.queue = [];
        this.splitter = new LineSplitter();
      },
      resume: () => this.maybeResume(),
    };
  }

  feed(chunk: Uint8Array): void {
    const session = this.session;
    announceSession(session.server, session);
    const { lines } = this.splitter.push(chunk);
    // Only complete commands count as activity: a trickle of bytes does not keep a session alive.
    if (lines.length) session.noteActivity();
    for (const line of lines) {
      // Nothing after QUIT runs (quitting implies it); the QUIT itself, queued, still must: returning
      // here skipped the pump, and "QUIT\r\nNOOP\r\n" in one packet got no 221 and no close.
      if (session.closed || session.quitReceived) break;
      // Parsed once, here: the verb decides whether it may run beside a transfer.
      const parsed: ParsedLine = line === null ? { ok: false, reason: "Command line too long" } : parseCommandLine(line);
      const verb = parsed.ok ? parsed.command.verb : "";
      if (verb === "QUIT") session.quitReceived = true;
      if (this.jumpBesideTransfer(parsed, this.queue.length === 0)) continue;
      if (this.queue.length >= MAX_QUEUED_COMMANDS) {
        session.replyAndClose(421, "Too many pipelined commands");
        return;
      }
      this.queue.push(parsed);
    }
    if (this.queue.length >= PAUSE_AT_QUEUED || session.congested) this.pause();
    void this.pump();
  }

  /**
   * Run `parsed` now beside the running transfer when it may (ABOR, STAT; NOOP and QUIT only with
   * nothing queued before them), at most one of each verb at a time; false when it must wait its turn.
   * Those beside the transfer run one after the other, so their replies keep their order: "ABOR,
   * NOOP" got NOOP's 200 before ABOR's 426 and 226 (vsftpd and ProFTPD answer in order).
   */
  private jumpBesideTransfer(parsed: ParsedLine, nothingBefore: boolean): boolean {
    const session = this.session;
    if (!parsed.ok || !session.transfer) return false;
    const spec = session.server.commandTable().get(parsed.command.verb);
    const jumps = spec?.duringTransfer === true || (spec?.duringTransfer === "in-turn" && nothingBefore);
    if (!jumps || this.jumping.has(spec!.verbs[0]!)) return false;
    const key = spec!.verbs[0]!;
    this.jumping.add(key);
    this.besideTransfer = this.besideTransfer
      .then(() => this.execute(parsed))
      .catch(() => {}) // execute answers its own errors; the chain must not break for the next one
      .finally(() => this.jumping.delete(key));
    return true;
  }

  /**
   * A transfer has just started: the commands queued right behind its command (pipelined with it,
   * or sent before its 150) are judged as if they arrived now, so an ABOR sent with the RETR aborts
   * that RETR instead of waiting for the whole download. Only from the head of the queue: a command
   * waiting behind another keeps its turn (the replies of "RETR, PWD, QUIT" stay in that order).
   * NOOP and QUIT ("in-turn") keep theirs too: sent before the client saw the 150, they were
   * pipelined, and "RETR, NOOP" in one packet got NOOP's 200 before RETR's 226, which a client
   * matching replies in order took for the RETR's (vsftpd: 150, 226, 200). A NOOP that arrives
   * during the transfer (Commons Net's keep-alive, after the 150) is still answered at once.
   */
  private jumpQueuedBesideTransfer(): void {
    let n = 0;
    while (n < this.queue.length && this.jumpBesideTransfer(this.queue[n]!, false)) n++;
    if (n === 0) return;
    this.queue.splice(0, n);
    this.maybeResume();
  }

  private pause(): void {
    if (this.paused || this.session.closed) return;
    this.paused = true;
    this.session.socket.pause();
  }

  private maybeResume(): void {
    if (!this.paused || this.session.closed) return;
    if (this.queue.length >= PAUSE_AT_QUEUED / 2 || this.session.congested) return;
    this.paused = false;
    this.session.socket.resume();
  }

  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      // Shared state: nothing runs before the connection slot is granted (refused: the session closes).
      if (this.session.admission && !(await this.session.admission)) return;
      while (this.queue.length && !this.session.closed && !this.session.quitting) {
        // Commands other than ABOR/STAT/QUIT wait for the running transfer (RFC 959 §5.4), and
        // none runs while the client leaves our replies unread.
        if (this.session.transfer) {
          this.jumpQueuedBesideTransfer();
          await this.session.transfer.done;
        }
        // After the replies of those that ran beside it (ABOR's 226 before the next command's); none
        // running (each link leaves `jumping` last): no wait, not a microtask per command of the loop.
        if (this.jumping.size > 0) await this.besideTransfer;
        await this.session.writable();
        // Either wait can end with the session: a command queued behind a transfer must not run
        // after the teardown (a PASV then opened a listener nothing would ever close).
        if (this.session.closed || this.session.quitting) break;
        const next = this.queue.shift();
        if (!next) break;
        await this.execute(next);
        this.maybeResume();
      }
    } finally {
      this.running = false;
    }
  }

  private async execute(parsed: ParsedLine): Promise<void> {
    const session = this.session;
    if (!parsed.ok) {
      session.reply(parsed.code ?? 500, parsed.reason);
      return;
    }
    const { verb, arg } = parsed.command;
    const spec = session.server.commandTable().get(verb);
    if (!spec) {
      session.reply(500, `Unknown command ${verb.slice(0, 8)}`);
      return;
    }
    if (spec.auth && !session.user) {
      session.reply(530, "Please login with USER and PASS");
      return;
    }
    if (spec.arg === "required" && arg.trim() === "") {
      session.reply(501, `${verb} needs an argument`);
      return;
    }
    // A command at work (a HASH of a big file, a slow store) is not idleness, and the idle time
    // counts from its end, as vsftpd's does from the last reply.
    session.commandsRunning++;
    try {
      await spec.handle({ session, verb, arg });
    } catch (err) {
      const r = replyForError(err);
      if (r.unexpected) session.server.log.error("command failed", { session: session.id, verb, error: String(err) });
      else logStorageTrouble(session, verb, arg, err);
      session.reply(r.code, r.text);
    } finally {
      session.commandsRunning--;
      session.noteActivity();
    }
  }
}

/** A MKD, DELE, RNTO… that failed for a reason on the server's side gets a log line saying which (see storageTrouble). */
function logStorageTrouble(session: Session, verb: string, arg: string, err: unknown): void {
  const error = storageTrouble(err);
  if (!error) return;
  if (err instanceof StorageError && err.kind === "unavailable" && !firstGoneRootNote(session, arg)) return;
  session.server.log.warn("storage error", { session: session.id, user: session.userName, verb, path: arg, error });
}

/**
 * A home or mount root gone as a whole (removed while served, a bucket deleted) fails every command
 * there until the admin acts: one WARN per root and session says so (with who met it), and a client
 * retrying in a loop does not write a line per try. False once this session has said it for the
 * root `arg` lies in (its mount; a path that does not resolve is said each time).
 */
function firstGoneRootNote(session: Session, arg: string): boolean {
  let mount;
  try {
    mount = resolvePath(session.mounts, session.cwd, arg).mount;
  } catch {
    return true;
  }
  if (session.goneRootsLogged.has(mount)) return false;
  session.goneRootsLogged.add(mount);
  return true;
}

/** Write a session's "session start" line, once: at its first byte, or before a line that names it. */
export function announceSession(server: ServerContext, session: Session): void {
  if (session.announced) return;
  session.announced = true;
  server.log.info("session start", { session: session.id, ip: session.remoteIp });
}
