// The fake server's options (each a way a real server misbehaves, for the test that needs it) and
// what a test reads back from it (fake-server.ts).

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
  /** The first STOR keeps only this many of the bytes it received and answers 226: a data connection a relay cut with a FIN. */
  storeShortOnce?: number;
  /** The first STOR stores this many zero bytes after those it received and answers 226: a longer file than was sent. */
  storeExtraOnce?: number;
  /** dropStorAfter closes both connections in order (FIN) once the client pauses, as a killed server process's do, instead of resetting them. */
  dropStorGently?: boolean;
  /** After the drop of dropRetrAfter/dropStorAfter (or a refuseHash 421), stop listening: a server that stays down. */
  goneAfterDrop?: boolean;
  /** Drop the control connection instead of answering the first whole-file HASH. */
  dropOnFirstHash?: boolean;
  /** Drop the control connection instead of answering the Nth SIZE (counted from 1). */
  dropOnSize?: number;
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
  /**
   * Like vsftpd whose privileged process died during the transfer: the Nth RETR, STOR or APPE (counted
   * together over all sessions, from 1) ends with its 226, then "500 OOPS: priv_sock_send_cmd" unasked;
   * the next command gets no reply but the close (so the 500 is read before the close).
   */
  oopsAfterTransfer?: number;
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
  /** The Nth MDTM (counted from 1 over all sessions) drops its control connection instead of answering. */
  dropOnMdtm?: number;
  /** MDTM's answer for every file (default 20260101120000, the minute LIST shows). */
  mdtm?: string;
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
  busy?: { at: "greeting" | "login" | "password"; times?: number; connections?: number[]; reply?: string; /** the refusal comes this late */ delayMs?: number };
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
