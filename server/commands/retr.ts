// RETR — RFC 959 §4.1.3: send a file (from REST's offset, to RANG's end); needs read.
import type { CommandSpec } from "./types.ts";
import { FtpError } from "../../protocol/errors.ts";
import { hashesOffThread } from "../data/hashing.ts";
import { createHasher } from "../../protocol/digest.ts";
import { HashCache } from "../data/hash-cache.ts";
import { sendFile } from "../data/transfer.ts";
import { asciiSendConnection } from "../data/ascii.ts";
import { ASCII_NO_RESUME } from "./type.ts";
import { requireDataEndpoint, startTransfer } from "../data/transfer-job.ts";

export const retr: CommandSpec = {
  verbs: ["RETR"],
  auth: true,
  arg: "required",
  perm: "read",
  help: "RETR <file>: download a file",
  async handle(ctx) {
    const { session } = ctx;
    const start = session.restOffset;
    const rangeEnd = session.rangeEnd;
    session.restOffset = 0;
    session.rangeEnd = null;
    requireDataEndpoint(session);
    const { r, st } = await session.fs.planRead(ctx.arg);
    if (start > st.size) throw new FtpError(554, "Restart offset beyond end of file");
    const ascii = session.type === "A";
    if (ascii && (start > 0 || rangeEnd !== null)) throw new FtpError(550, ASCII_NO_RESUME);
    const end = Math.min(rangeEnd ?? st.size, st.size);
    const algorithm = session.hashAlgorithm;
    const name = r.vpath.slice(r.vpath.lastIndexOf("/") + 1);
    const opening = `Opening ${ascii ? "ASCII" : "BINARY"} mode data connection for ${name} (${end - start} bytes)`;
    // Opened before the 150, as vsftpd and ProFTPD do: a file the server may not read gets 550 as
    // RETR's only reply, not a 150 and then a 550 that clients take for a transfer cut short. On S3
    // the open starts the GET: an object deleted since SIZE or LIST is refused here too.
    const file = await session.fs.openPlanned(r, start);
    const last = Math.min(end, file.size);
    const place = `${r.mount.id}/${r.key}`;
    const { hashCache } = session.server;
    // Hash while streaming only for whole files and clients that asked for a digest (OPTS HASH),
    // and only when the digest of this version of the file is not known yet.
    const key = HashCache.key(place, st, algorithm);
    const known = hashCache.get(key);
    const wanted = session.hashWhileStreaming && !ascii && start === 0 && last === file.size && !known;
    // From before the 150: a HASH of this file on another connection waits for this send's digest.
    const settle = wanted ? hashCache.computing(key) : null;
    const held = {
      [Symbol.dispose]: () => {
        file.close();
        settle?.(); // nothing, unless the digest was settled below
      },
    };
    startTransfer(session, { verb: "RETR", vpath: r.vpath, opening, size: end - start, held }, async (t, conn) => {
      // Big files on the storage's hashing thread when it has one (in parallel with the send), else
      // inline. A rate-limited download hashes inline too: paced with the send, never ahead of it.
      const offThread = file.digest && hashesOffThread(algorithm, last) && session.limiters.length === 0;
      const digest = wanted && offThread ? file.digest!(algorithm, 0, last) : undefined;
      digest?.catch(() => undefined); // a failed digest only means nothing is cached
      const hasher = wanted && !digest ? createHasher(algorithm) : undefined;
      const sent = await sendFile(ascii ? asciiSendConnection(conn) : conn, file, start, last, {
        limiters: session.limiters,
        hasher,
        signal: t.signal,
        onBytes: (n) => t.progress(n),
      });
      await conn.finish();
      // The file ended before the size it had at the open: another session cut it (REST+STOR,
      // truncate) while it was sent, and the copy is neither the old file nor the new one. vsftpd
      // and ProFTPD say 226 for it; a client must not take it for a whole file. (A file that grows
      // is sent to the size it had, as before; an object store's GET is pinned to one version.)
      if (sent < last - start) throw new FtpError(451, `File changed during transfer; ${sent} of ${last - start} bytes sent`);
      // Before the 226: a client's HASH right after it then finds the digest in the cache.
      const hex = known ?? (digest ? await digest.catch(() => undefined) : hasher?.hex());
      if (hex) {
        // Only for the version that was sent: a file changed meanwhile (even after the open, for a
        // known digest) is neither cached nor reported with bytes it no longer has.
        const after = await r.mount.storage.stat(r.key).catch(() => null);
        if (after?.version !== undefined && after.version === st.version) {
          hashCache.remember(place, st, after, algorithm, hex);
          settle?.(hex);
          if (algorithm === "SHA-256") t.sha256 = hex;
        }
      }
      return { code: 226, text: "Transfer complete", result: "ok" };
    });
  },
};
