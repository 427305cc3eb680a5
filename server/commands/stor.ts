// STOR — RFC 959 §4.1.3: receive a file. New names need write; overwriting or REST+STOR need modify.
import type { CommandSpec, CommandContext } from "./types.ts";
import { FtpError } from "../../protocol/errors.ts";
import { StorageError, type WriteMode } from "../storage/backend.ts";
import { createHasher } from "../data/hashing.ts";
import { HashCache } from "../data/hash-cache.ts";
import { receiveFile } from "../data/transfer.ts";
import { requirePerm } from "../vfs/resolve.ts";
import { resolveFor, statOrNull } from "./shared.ts";

// Temporary on branch jail (the lead rewrites STOR onto Upload.commit/abort): the old hidden-sibling overwrite.
const UPLOAD_TEMP_PREFIX = ".ftpkit-upload.";
import { replyForError } from "./errors.ts";
import { requireDataEndpoint, runTransfer } from "./transfer-runner.ts";

/** STOR and APPE share this: pick the write mode and permission, book quota as bytes arrive. */
export async function storeFile(ctx: CommandContext, append: boolean): Promise<void> {
  const { session } = ctx;
  const offset = session.restOffset;
  session.restOffset = 0;
  session.rangeEnd = null;
    requireDataEndpoint(session);
  const r = resolveFor(session, ctx.arg);
  if (r.virtual) throw new FtpError(550, "Is a directory");
  const existing = await statOrNull(session, r);
  if (existing?.type === "dir") throw new FtpError(550, "Is a directory");
  let mode: WriteMode;
  if (append) {
    requirePerm(r, "modify");
    // APPE to a missing name creates a file: that needs write as well.
    if (!existing) requirePerm(r, "write");
    mode = { kind: "append" };
  } else if (offset > 0) {
    requirePerm(r, "modify");
    if (!existing || offset > existing.size) throw new FtpError(554, "Restart offset beyond end of file");
    mode = { kind: "offset", offset };
  } else if (existing) {
    requirePerm(r, "modify");
    mode = { kind: "truncate" };
  } else {
    requirePerm(r, "write");
    mode = { kind: "create" };
  }
  const ledger = r.mount.ledger;
  const storage = r.mount.storage;
  // Overwriting: the bytes go to a hidden file beside the target that replaces it only when the
  // upload completes, so a broken upload never destroys the file it was meant to replace.
  const overwrite = existing !== null && mode.kind === "truncate";
  const writeKey = overwrite ? `${r.key.slice(0, r.key.lastIndexOf("/") + 1)}${UPLOAD_TEMP_PREFIX}${crypto.randomUUID()}` : r.key;
  let file;
  try {
    file = await storage.openWrite(writeKey, overwrite ? { kind: "create" } : mode);
  } catch (err) {
    // Someone created the name between our stat and the exclusive open: that is an overwrite.
    if (err instanceof StorageError && err.kind === "exists") throw new FtpError(550, "File exists");
    throw err;
  }
  // Bytes the write mode dropped from an existing file go back to the quota.
  if (existing && mode.kind === "truncate") ledger.release(existing.size);
  if (existing && mode.kind === "offset") ledger.release(existing.size - mode.offset);
  const wholeFile = mode.kind === "create" || mode.kind === "truncate";
  const hasher = session.hashWhileStreaming && wholeFile ? createHasher(session.hashAlgorithm) : undefined;
  const algorithm = session.hashAlgorithm;
  try {
    runTransfer(session, ctx.verb, r.vpath, `Ok to send data`, async (conn, t) => {
      const result = await receiveFile(conn, file, {
        limiters: session.limiters,
        hasher,
        signal: t.signal,
        admit: (n) => ledger.admit(n),
        onBytes: (n) => {
          t.bytes += n;
          session.lastActivity = Date.now();
        },
      }).finally(() => file.commit());
      if (overwrite) {
        // A client killed mid-upload closes the data connection like a finished one; its control
        // connection drops at the same moment. Give that close a moment to arrive before replacing.
        if (result.outcome === "complete") {
          await Bun.sleep(25);
          if (session.closed) result.outcome = "aborted";
        }
        if (result.outcome === "complete") {
          try {
            await storage.rename(writeKey, r.key);
          } catch (err) {
            result.outcome = "error";
            result.error = err;
          }
        }
        if (result.outcome !== "complete") {
          // The old file stays as it was: drop the partial copy, book the old size again.
          await storage.remove(writeKey).catch(() => {});
          ledger.release(result.bytes);
          ledger.used += existing.size;
        }
      }
      if (result.outcome === "quota") return { code: 552, text: "Quota exceeded: upload aborted", result: "quota" };
      if (result.outcome === "aborted") return { code: 426, text: "Connection closed; transfer aborted", result: "aborted" };
      if (result.outcome === "error") {
        const e = replyForError(result.error);
        return { code: e.code, text: e.text, result: "error" };
      }
      conn.close();
      if (hasher) {
        const st = await r.mount.storage.stat(r.key).catch(() => null);
        if (st && st.size === result.bytes) {
          session.server.hashCache.set(HashCache.key(`${r.mount.id}/${r.key}`, st.size, st.mtime, algorithm), hasher.hex());
        }
      }
      return { code: 226, text: "Transfer complete", result: "ok" };
    });
  } catch (err) {
    await file.abort().catch(() => 0);
    if (overwrite) {
      await storage.remove(writeKey).catch(() => {});
      ledger.used += existing.size;
    }
    throw err;
  }
}

export const stor: CommandSpec = {
  verbs: ["STOR"],
  auth: true,
  arg: "required",
  perm: "write",
  help: "STOR <file>: upload a file",
  handle: (ctx) => storeFile(ctx, false),
};
