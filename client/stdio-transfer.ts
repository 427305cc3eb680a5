// `get URL -` and `put - URL`: one file streamed to standard output or from standard input, as curl
// -o -, wget -O - and lftp's cat do. It is hashed as it streams and compared with the server's digest
// once the last byte went through, so a mismatch still ends with exit 9 (the bytes are out already:
// as with `curl … | sha256sum -c`). No part file, no journal, no resume: a pipe cannot be read twice.
// A download that drops continues at the byte it reached (REST), since every byte before it is
// already written out; an upload cannot go back for bytes it read.
import { basename } from "node:path";
import { ClientError } from "./client.ts";
import { failedAfter, RestUnsupported } from "./errors.ts";
import { closeFinished, cutShort, reportSoFar } from "./report.ts";
import { Progress, progressMode } from "./progress.ts";
import { checkTlsFlags, displayUrl, parseUrlArg, type TransferOptions } from "./options.ts";
import { Notifier } from "./messages.ts";
import { stdoutClosedAtStart } from "./closed-stdout.ts";
import { Credentials } from "./credentials.ts";
import { Session } from "./session.ts";
import { askDigest, localDigest, remoteState, unverifiedReason } from "./file-transfer.ts";
import { retrieve } from "./retrieve-attempts.ts";
import { askUploadChecks } from "./file-upload.ts";
import { StreamSink } from "./hasher.ts";
import { jobLimiter, uploadStream } from "./transfer.ts";
import { TransferInterrupted } from "./transfer-errors.ts";
import { remoteDirExists } from "./tree-plan.ts";
import { sayInterrupted, whenInterrupted } from "./on-interrupt.ts";
import type { TransferResult } from "./operations.ts";

import { STDIO } from "./options.ts";
export { STDIO };


/**
 * `ftpkit get URL -`: the remote file to standard output; or into another stream the user named (a
 * device, a FIFO: `get URL /dev/null`), which a part file renamed over it would have replaced.
 */
export async function getToStream(urlText: string, opts: TransferOptions, out: { fd: number; name: string } = { fd: 1, name: STDIO }): Promise<TransferResult> {
  const url = parseUrlArg(urlText);
  checkTlsFlags(url, opts);
  if (basename(url.path) === "" || url.path.endsWith("/")) throw new ClientError(`the URL names a directory, not a file (${url.path || "the login directory"}); use ftpkit ls`, { kind: "usage" });
  if (out.fd === 1 && stdoutClosedAtStart()) throw new ClientError("cannot write to standard output: it was closed (>&-); give a file name instead of -, or send it to /dev/null", { kind: "local" });
  const note = new Notifier(opts.quiet);
  // The file on the terminal itself: a bar redrawn between its lines garbled both (curl shows none then).
  // (node:tty only then: it loads Node's streams, which a start of get, put or sync does without.)
  const mode = progressMode(opts);
  const onTerminal = mode === "tty" && (await import("node:tty")).isatty(out.fd);
  const progress = new Progress(basename(url.path), onTerminal ? "plain" : mode, null);
  note.progress = progress;
  using _soFar = reportSoFar((signal) => [cutShort(out.name, displayUrl(url), progress.moved, signal)]);
  let size: number | null = null;
  let allWritten = false;
  let connected = false;
  // No part file and no journal: say what the reader of the stream got, as `resume` cannot continue it.
  // Registered before the session opens: a signal while it connects (a full server's 421 backs off
  // for seconds, a login may be answered late) exited 130 without a word.
  const into = out.name === STDIO ? "standard output" : out.name;
  const command = out.name === STDIO ? "get -" : "get";
  using interrupted = whenInterrupted((signal) => {
    progress.clear();
    if (!connected) return sayInterrupted(`${command} interrupted by ${signal} while connecting, before any byte of ${displayUrl(url)}: ${into} got nothing`);
    const got = allWritten
      ? `all ${progress.moved} bytes of ${displayUrl(url)} are in ${into}, but were not verified`
      : `${into} has only part of ${displayUrl(url)}${size === null ? "" : ` (${size} bytes)`}`;
    sayInterrupted(`${command} interrupted by ${signal} after ${progress.moved} bytes: ${got}`);
  });
  const session = await Session.open(url, opts, new Credentials(url), note);
  connected = true;
  const path = session.resolve(url.path);
  try {
    const state = await remoteState(session.client, path);
    const missing = state.missing;
    size = state.size;
    if (missing) {
      if (await remoteDirExists(session.client, path)) throw new ClientError(`${path} is a directory: fetch it with get -r into a local directory`, { code: 550, kind: "usage" });
      throw new ClientError(`remote file not found or not a file: ${path}`, { code: 550 });
    }
    const sink = new StreamSink(localDigest(session.client, { verify: opts.verify, algo: opts.hash, alwaysDigest: opts.alwaysDigest }), out.fd, into);
    // Every byte up to the size SIZE gave, or retrieve throws: no size check is left to do here.
    // With no size and no digest, only the TLS ending can tell a cut stream (RetrieveHooks.requireCloseNotify).
    const { offset: reached } = await retrieve(session, path, 0, size, sink, { opts, note, progress }, { requireCloseNotify: !(opts.verify && session.client.mayGiveDigest(opts.hash)) });
    allWritten = true;
    const why = unverifiedReason(note);
    const verdict = await askDigest(session.client, path, opts.hash, opts.verify, () => size, why);
    const digest = await sink.digest();
    if (typeof verdict !== "string" && verdict.hex !== digest) {
      throw new ClientError(`${opts.hash} mismatch: wrote ${digest} to ${into}, the server reports ${verdict.hex}`, { kind: "verify" });
    }
    const verifiedBy = typeof verdict === "string" ? verdict : `verified by ${verdict.via}`;
    interrupted[Symbol.dispose](); // done: a signal from now on cuts nothing short
    progress.finish(digest ? `${opts.hash} ${digest} (${verifiedBy})` : verifiedBy);
    return await closeFinished(session, { local: out.name, url: displayUrl(url), size: reached, moved: progress.moved, digest, hash: opts.hash, verifiedBy, ...why.entry() });
  } catch (err) {
    progress.clear();
    session.destroy();
    // A drop on a server without REST: the download cannot continue at a byte, and a stream cannot
    // start over as a file does (its first bytes are out). The cause is the lost connection: exit 4.
    if (err instanceof RestUnsupported && progress.moved > 0) {
      throw failedAfter(new ClientError(`${err.message}: ${into} has only the first ${progress.moved}${size === null ? "" : ` of ${size}`} bytes of ${displayUrl(url)}, and a stream cannot start over; run the command again`, { kind: "network" }), progress.moved);
    }
    throw failedAfter(err, progress.moved);
  }
}

/** `ftpkit put - URL`: standard input to the remote file the URL names. */
export async function putFromStdin(urlText: string, opts: TransferOptions): Promise<TransferResult> {
  const url = parseUrlArg(urlText);
  checkTlsFlags(url, opts);
  if (basename(url.path) === "" || url.path.endsWith("/")) throw new ClientError("put - needs a file name at the end of the URL (standard input has none)", { kind: "usage" });
  const note = new Notifier(opts.quiet);
  const progress = new Progress(basename(url.path), progressMode(opts), null);
  note.progress = progress;
  using _soFar = reportSoFar((signal) => [cutShort(STDIO, displayUrl(url), progress.moved, signal)]);
  // A signal resets the data connection (an exiting process's FIN would make a cut input a whole
  // file: ftpkit, vsftpd and pyftpdlib then answer 226) and says so; once all was sent, it says that.
  // Registered before the session opens, so a signal while it connects is said too.
  const interrupt = new AbortController();
  let allSent = false;
  let path: string | null = null;
  using interrupted = whenInterrupted((signal) => {
    interrupt.abort();
    progress.clear();
    if (path === null) return sayInterrupted(`put - interrupted by ${signal} while connecting, before any byte of standard input was sent: nothing of it reached ${displayUrl(url)}; run the command again`);
    sayInterrupted(
      allSent
        ? `put - interrupted by ${signal} after all ${progress.moved} bytes of standard input were sent, before the server confirmed ${path}: check it, or run the command again`
        : `put - interrupted by ${signal} after ${progress.moved} bytes of standard input: the upload was reset, so the server stored no complete ${path} (it may keep the bytes it got); run the command again`,
    );
  });
  const session = await Session.open(url, opts, new Credentials(url), note);
  path = session.resolve(url.path);
  const client = session.client;
  try {
    const sink = new StreamSink(localDigest(client, { verify: opts.verify, algo: opts.hash, alwaysDigest: opts.alwaysDigest }), -1);
    progress.start(0, null);
    let sent: number;
    try {
      // A terminal that a password prompt has already read from (process.stdin, raw mode, then paused)
      // never ended Bun.stdin's own stream at Ctrl-D: the upload waited forever. Read it the same way.
      // node:stream is loaded only here: at start-up it cost every get and put ~12 ms (journal.ts randomBytes).
      const input = process.stdin.isTTY ? ((require("node:stream") as typeof import("node:stream")).Readable.toWeb(process.stdin) as ReadableStream<Uint8Array>) : Bun.stdin.stream();
      sent = await uploadStream(client, path, input, {
        sink,
        limiter: jobLimiter(opts),
        stallMs: opts.stallMs,
        onProgress: (m) => progress.update(m),
        signal: interrupt.signal,
        onAllSent: () => (allSent = true),
      });
    } catch (err) {
      if (err instanceof TransferInterrupted) throw new ClientError(`${err.message}; standard input cannot be read again, so run the command again`, { kind: "network" });
      throw err;
    }
    const why = unverifiedReason(note);
    const checked = askUploadChecks(client, path, opts.hash, opts.verify, why);
    const digest = await sink.digest();
    const verifiedBy = await checked(digest, sent);
    interrupted[Symbol.dispose](); // stored and checked: a signal from now on cuts nothing short
    progress.finish(digest ? `${opts.hash} ${digest} (${verifiedBy})` : verifiedBy);
    return await closeFinished(session, { local: STDIO, url: displayUrl(url), size: sent, moved: sent, digest, hash: opts.hash, verifiedBy, ...why.entry() });
  } catch (err) {
    progress.clear();
    // STOR onto a directory's name: said as put of a file says it (asked only after a refusal).
    const ontoDir = err instanceof ClientError && (err.code === 550 || err.code === 553) && progress.moved === 0 && !client.control.isClosed && (await remoteDirExists(client, path));
    session.destroy();
    if (ontoDir) throw new ClientError(`${path} is a directory on the server: put - needs the file's name at the end of the URL (standard input has none)`, { code: 550, kind: "usage" });
    throw failedAfter(err, progress.moved);
  }
}
