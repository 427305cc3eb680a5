import { FtpError } from "../../protocol/errors.ts";
import type { DataConnection } from "../data/connection.ts";
import type { ActiveTransfer, Session } from "../session.ts";
import { replyForError } from "./errors.ts";

export interface TransferOutcome {
  code: number;
  text: string;
  result: "ok" | "aborted" | "quota" | "error";
}

/** Check, before a file is opened or truncated, that a transfer could start at all. */
export function requireDataEndpoint(session: Session): void {
  if (!session.dataEndpoint) throw new FtpError(425, "Use PORT, PASV or EPSV first");
  const tlsRefusal = session.server.dataTlsRefusal?.(session);
  if (tlsRefusal) throw tlsRefusal;
}

/**
 * Run a data transfer off the command loop: reply 150, get the data connection, run `body`, reply
 * with its outcome, log one line. The handler returns at once so ABOR/STAT/QUIT stay answerable.
 */
export function runTransfer(
  session: Session,
  verb: string,
  vpath: string,
  opening: string,
  body: (conn: DataConnection, t: ActiveTransfer) => Promise<TransferOutcome>,
  opts: { size?: number; logTransfer?: boolean } = {},
): void {
  // Callers ran requireDataEndpoint before opening any file; this only hands the endpoint over.
  const endpoint = session.takeDataEndpoint();
  if (!endpoint) throw new FtpError(425, "Use PORT, PASV or EPSV first");
  session.reply(150, opening);
  const t: ActiveTransfer = {
    verb,
    vpath,
    bytes: 0,
    size: opts.size,
    startedAt: Date.now(),
    signal: { aborted: false },
    conn: null,
    done: Promise.resolve(),
  };
  session.transfer = t;
  t.done = (async () => {
    let outcome: TransferOutcome;
    try {
      const conn = await endpoint.connect();
      t.conn = conn;
      if (conn.ready) await conn.ready;
      if (t.signal.aborted) conn.abort();
      outcome = await body(conn, t);
    } catch (err) {
      const r = replyForError(err);
      if (r.unexpected) session.server.log.error("transfer error", { session: session.id, error: String(err) });
      outcome = { code: t.signal.aborted ? 426 : r.code, text: t.signal.aborted ? "Connection closed; transfer aborted" : r.text, result: t.signal.aborted ? "aborted" : "error" };
    } finally {
      endpoint.close();
    }
    session.transfer = null;
    session.lastActivity = Date.now();
    session.reply(outcome.code, outcome.text);
    if (opts.logTransfer !== false) {
      session.server.log.info("transfer", {
        session: session.id,
        user: session.userName,
        verb,
        path: vpath,
        bytes: t.bytes,
        ms: Date.now() - t.startedAt,
        result: outcome.result,
        tls: session.tls.protP && t.conn ? (t.conn.sessionReused ? "reused" : "new") : undefined,
      });
    }
    session.server.events.emit({ type: "transfer", session, verb, vpath, bytes: t.bytes, ms: Date.now() - t.startedAt, result: outcome.result, sha256: t.sha256 });
  })();
}
