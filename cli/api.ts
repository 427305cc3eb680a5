// The package's entry point (`import { startServer, FtpClient } from "ftpkit"`): a server for other
// projects' tests, and the client behind `ftpkit get` / `put` / `ls`. It may import both sides.
import { chmodSync, mkdirSync, mkdtempSync, rmdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve, sep } from "node:path";
import { createServer } from "../server/index.ts";
import { MemoryLogins } from "../server/auth/memory-store.ts";
import { getFile, putFile, type TransferOptions, type TransferResult } from "../client/operations.ts";
import { listUrl } from "../client/list-url.ts";
import { checkTlsFlags, parseUrlArg, quietTransferOptions, type SecurityOptions } from "../client/options.ts";
import { ClientError } from "../client/errors.ts";
import { openAbove, ownDir, ownPrivateDir } from "../client/state.ts";
import { isDigestAlgorithm } from "../client/remote-hash.ts";
import { openSession } from "../client/session.ts";
import { FtpClient } from "../client/client.ts";
import { Credentials } from "../client/credentials.ts";
import type { FileInfo } from "../protocol/listing.ts";
import { checkRoot, inlineUsers, type UserOption } from "./inline-users.ts";
import { listenHostProblem } from "./listen-host.ts";
import { removeTempDir, trackTempDir } from "./api-temp-dirs.ts";
import { withCaTexts } from "./api-ca.ts";
import { StartServerError, asStartServerError } from "./api-errors.ts";
import { badOption, checkServerOptions, withoutUnset } from "./api-options.ts";
import type { OptionWords } from "../client/option-words.ts";
import { probeServer as runProbe, type ProbeOptions, type ProbeReport } from "../client/probe/index.ts";

export { FtpClient, ClientError, type ClientOptions, type Features, type DataTransfer } from "../client/client.ts";
export type { FileInfo } from "../protocol/listing.ts";
export type { TransferResult } from "../client/operations.ts";
export type { UserOption } from "./inline-users.ts";
export { StartServerError } from "./api-errors.ts";
export { formatProbeReport, type ProbeOptions, type ProbeReport, type ProbeItem, type ProbeStatus } from "../client/probe/index.ts";

/** Options of {@link startServer}; they mirror `ftpkit serve --root DIR --user NAME:PASS`. */
export interface StartServerOptions {
  /** Directory to serve (default: a new temp directory, removed by close(), or when the process ends without it). */
  root?: string;
  /** Accounts, kept in memory (passwords hashed, never written). Homes default to the root. */
  users?: UserOption[];
  /** Also accept anonymous logins (read-only). */
  anonymous?: boolean;
  /** Let the users upload, rename and delete (default read-only unless a user's `perm` says otherwise). */
  write?: boolean;
  /** Listen address (default 127.0.0.1). */
  host?: string;
  /** Control port (default 0: any free port). */
  port?: number;
  /** Explicit FTPS (AUTH TLS): PEM text or file paths. `implicitPort` also serves ftps://. */
  tls?: { cert: string; key: string; implicitPort?: number; require?: boolean };
  /** Seconds before an idle session is closed (default 120). */
  idleTimeoutSec?: number;
  /** Bytes per second per session (default unlimited). */
  maxRate?: number;
  /** Log sessions and transfers to stdout (default silent). */
  log?: "text" | "json";
}

/** Options of {@link RunningServer.urlFor}. */
export interface UrlForOptions {
  /** "implicit": an `ftps://` URL to the implicit-TLS port (the client then needs `ca` or `insecure`). */
  tls?: "implicit";
}

/** A running server from {@link startServer}. */
export interface RunningServer {
  /** `ftp://HOST:PORT/` (no credentials). */
  url: string;
  host: string;
  port: number;
  /** The implicit-TLS port, when `tls.implicitPort` was given. */
  implicitTlsPort?: number;
  /** The directory being served (the temp directory when no root was given). */
  root: string;
  /**
   * `ftp://user:password@HOST:PORT/path` for a configured user (or "anonymous", which throws unless the
   * server was started with `anonymous: true`); with `{ tls: "implicit" }`, `ftps://…:implicitTlsPort/path`
   * (throws unless `tls.implicitPort` was given).
   */
  urlFor(user?: string, path?: string, opts?: UrlForOptions): string;
  /** Stop at once: sessions are closed, a temp root is removed. Safe to call twice. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * The homes of the servers of this process still running, each with how many use it; and the
 * directories a server made for homes, still to be removed. Another server on the same root (tests
 * often share a fixture root) may use a home this one made: it is removed when the last one stops.
 */
const homesInUse = new Map<string, number>();
const madeDirs = new Set<string>();

function useHomes(homes: string[], by: 1 | -1): void {
  for (const home of homes) {
    const n = (homesInUse.get(home) ?? 0) + by;
    if (n > 0) homesInUse.set(home, n);
    else homesInUse.delete(home);
  }
}

/**
 * rmdir each directory made for a home, deepest first, that no running server uses (as its home or
 * above it): one that holds anything (the test's uploads) stays.
 */
function removeMadeDirs(): void {
  const inUse = [...homesInUse.keys()];
  for (const dir of [...madeDirs].sort((a, b) => b.length - a.length)) {
    if (inUse.some((home) => home === dir || home.startsWith(dir + sep))) continue;
    madeDirs.delete(dir);
    try {
      rmdirSync(dir);
    } catch {
      // not empty, or gone already
    }
  }
}

/**
 * Start an FTP server for a test: `await using server = await startServer({ users: [{ name: "me",
 * password: "pw" }], write: true })`. Listens on 127.0.0.1, port 0, until `close()`.
 */
export async function startServer(given: StartServerOptions = {}): Promise<RunningServer> {
  const opts = withoutUnset(given);
  checkServerOptions(opts);
  const users = opts.users ?? [];
  if (!users.length && !opts.anonymous) throw new StartServerError("give at least one user ({ name, password }) or anonymous: true", "option");
  // As `serve --host` checks it: Bun's "Failed to listen at 999.1.1.1" or "getaddrinfo ENOTFOUND ::g" said neither the option nor why.
  const hostProblem = opts.host === undefined ? null : await listenHostProblem(opts.host, "host");
  if (hostProblem) throw new StartServerError(hostProblem, "option");
  const temps: string[] = [];
  const madeHomes: string[] = [];
  const homes: string[] = [];
  const cleanup = () => {
    useHomes(homes.splice(0), -1);
    for (const dir of madeHomes.splice(0)) madeDirs.add(dir);
    removeMadeDirs();
    for (const dir of temps.splice(0)) removeTempDir(dir);
  };
  try {
    let root: string;
    if (opts.root === undefined) {
      // Absolute: a relative TMPDIR named another place once the caller's script changed directory
      // (close() and the watcher removed nothing, and server.root misled).
      root = resolve(mkdtempSync(join(tmpdir(), "ftpkit-root-")));
      temps.push(root);
      trackTempDir(root);
    } else root = checkRoot(opts.root, "root");
    const accounts = inlineUsers(root, users, { anonymous: opts.anonymous, write: opts.write });
    // `home: "pub"` need not exist yet; what this makes in a given root goes again at close(), if empty.
    for (const a of accounts) {
      const first = mkdirSync(a.home, { recursive: true });
      if (first !== undefined && opts.root !== undefined) for (let d = a.home; ; d = dirname(d)) {
        madeHomes.push(d);
        if (d === first || d === dirname(d)) break;
      }
    }
    homes.push(...new Set(accounts.map((a) => a.home)));
    useHomes(homes, 1);
    const auth = new MemoryLogins(accounts, undefined, { anonymous: "anonymous: true" });
    const server = createServer({
      auth,
      host: opts.host ?? "127.0.0.1",
      port: opts.port ?? 0,
      quiet: opts.log === undefined,
      ...(opts.log ? { logFormat: opts.log } : {}),
      ...(opts.idleTimeoutSec !== undefined ? { idleTimeoutSec: opts.idleTimeoutSec } : {}),
      ...(opts.maxRate !== undefined ? { maxRate: opts.maxRate } : {}),
      ...(opts.tls ? { tls: tlsFiles(opts.tls, temps) } : {}),
    });
    // Bun's own words ("Failed to listen at 127.0.0.1") name neither the port nor the cause.
    const address = await server.listen().catch((err: NodeJS.ErrnoException) => {
      if (err.code === "EADDRINUSE") throw new StartServerError(`port ${opts.port} is already in use`, "runtime", { cause: err });
      if (err.code === "EADDRNOTAVAIL") throw new StartServerError(`host ${opts.host} is not an address of this machine`, "runtime", { cause: err });
      throw err;
    });
    const hostPart = address.host === "0.0.0.0" ? "127.0.0.1" : address.host === "::" ? "[::1]" : address.host.includes(":") ? `[${address.host}]` : address.host;
    const base = `ftp://${hostPart}:${address.port}`;
    const passwords = new Map(users.map((u) => [u.name, u.password]));
    let closing: Promise<void> | null = null;
    const close = () =>
      (closing ??= server.close(0).finally(cleanup));
    return {
      url: `${base}/`,
      host: address.host,
      port: address.port,
      implicitTlsPort: server.implicitTlsPort,
      root,
      urlFor(user, path = "/", urlOpts = {}) {
        const name = user ?? users[0]?.name;
        let origin = base;
        if (urlOpts.tls !== undefined) {
          if (urlOpts.tls !== "implicit") badOption("urlFor's tls", `"implicit" (explicit FTPS takes the ftp:// URL and tls: true)`, urlOpts.tls);
          if (server.implicitTlsPort === undefined) throw new StartServerError(`urlFor(…, { tls: "implicit" }): this server has no implicit TLS port (start it with tls: { cert, key, implicitPort: 0 })`, "option");
          origin = `ftps://${hostPart}:${server.implicitTlsPort}`;
        }
        // Each segment percent-encoded: a "#" or "%" in a name is part of the name, not of the URL's
        // syntax; and "*", which encodeURIComponent leaves, as %2A: the client reads a bare one as a wildcard.
        const p = (path.startsWith("/") ? path : `/${path}`).split("/").map((s) => encodeURIComponent(s).replaceAll("*", "%2A")).join("/");
        // The URL would only fail later, at login ("Login incorrect (530)"), far from the cause.
        if (name === "anonymous" && !opts.anonymous) throw new StartServerError(`urlFor("anonymous"): this server has no anonymous login (start it with anonymous: true)`, "option");
        if (name === undefined || name === "anonymous") return `${origin}${p}`;
        const pw = passwords.get(name);
        if (pw === undefined) throw new StartServerError(`no user "${name}"`, "option");
        return origin.replace("://", `://${encodeURIComponent(name)}:${encodeURIComponent(pw)}@`) + p;
      },
      close,
      [Symbol.asyncDispose]: close,
    };
  } catch (err) {
    cleanup();
    throw asStartServerError(err);
  }
}

/** The server's own TLS checks name the options as the API does, never `ftpkit serve`'s flags. */
const API_TLS_NAMES = { cert: "tls.cert", key: "tls.key", implicitPort: "tls.implicitPort" };

/**
 * PEM text is written to a private temp directory (removed on close); anything else is a file path.
 * Errors name PEM text as such: the temp file's path (gone once startServer has thrown) means nothing to the caller.
 */
function tlsFiles(tls: NonNullable<StartServerOptions["tls"]>, temps: string[]) {
  const pem = (v: string) => v.includes("-----BEGIN");
  let certFile = tls.cert;
  let keyFile = tls.key;
  const shown: Record<string, string> = {};
  if (pem(certFile) || pem(keyFile)) {
    const dir = resolve(mkdtempSync(join(tmpdir(), "ftpkit-tls-")));
    temps.push(dir);
    trackTempDir(dir);
    if (pem(certFile)) writeFileSync((certFile = join(dir, "cert.pem")), tls.cert, { mode: 0o600 });
    if (pem(keyFile)) writeFileSync((keyFile = join(dir, "key.pem")), tls.key, { mode: 0o600 });
    for (const file of [certFile, keyFile]) if (file.startsWith(dir + sep)) shown[file] = "(PEM text)";
  }
  return { certFile, keyFile, implicitPort: tls.implicitPort, requireTls: tls.require === true, names: { ...API_TLS_NAMES, shown } };
}

/** Every client message that names an option says the API's, not the CLI's flags: this table is the one place. */
const API_WORDS: OptionWords = {
  ca: "ca",
  caFile: "ca: [CERT]",
  insecure: "insecure: true",
  tls: "tls: true",
  active: "active: true",
  retries: "retries:",
  segments: "segments",
  noVerify: "verify: false",
  restart: "restart: true",
  stall: "stallMs",
  startOver: (verb) => `call ${verb}() again with restart: true`,
};

/** Options of {@link get} and {@link put}: everything `ftpkit get/put` has, with quiet defaults. */
export type ClientTransferOptions = Partial<TransferOptions>;

/**
 * The client API's checks of its arguments, before anything starts: whatever they refuse (an option,
 * the URL, a `ca` entry, TLS options without TLS) is a ClientError of kind "usage" prefixed with the
 * function's name ("get: …"), as startServer's are StartServerErrors of kind "option": a caller tells
 * a bad call from a failed transfer by `kind`, with the CLI's exit status 2 for the same mistake.
 */
function checkedOptions<T>(what: string, check: () => T): T {
  try {
    return check();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const error = new ClientError(message.startsWith(`${what}: `) ? message : `${what}: ${message}`, { kind: "usage" });
    error.cause = err;
    throw error;
  }
}

/** What get/put check before they start: the options as the API names them (the CLI checks its flags in cli/args.ts). */
function checkTransferOptions(url: string, o: ClientTransferOptions): void {
  const bad = (name: string, must: string, got: unknown): never => {
    throw new Error(`${name} must be ${must}, got ${typeof got === "string" ? JSON.stringify(got) : String(got)}`);
  };
  if (o.rate !== undefined && !(Number.isSafeInteger(o.rate) && o.rate >= 0)) bad("rate", "a whole number of bytes per second (0: no limit)", o.rate);
  if (o.retries !== undefined && !(Number.isInteger(o.retries) && o.retries >= 0 && o.retries <= 100)) bad("retries", "a whole number from 0 to 100", o.retries);
  if (o.segments !== undefined && !(Number.isInteger(o.segments) && o.segments >= 1 && o.segments <= 32)) bad("segments", "a whole number from 1 to 32", o.segments);
  if (o.stallMs !== undefined && !(typeof o.stallMs === "number" && o.stallMs >= 0 && Number.isFinite(o.stallMs))) bad("stallMs", "a number of milliseconds (0: never)", o.stallMs);
  if (o.hash !== undefined && !isDigestAlgorithm(o.hash)) bad("hash", `"sha256", "md5" or "crc32"`, o.hash);
  checkTrace(o.trace);
  checkApiTls(url, o);
}

/** `trace` is called with every line of the conversation: anything but a function would fail mid-job. */
function checkTrace(trace: unknown): void {
  if (trace !== undefined && typeof trace !== "function") throw new Error(`trace must be a function (line: string) => void, got ${typeof trace}`);
}

/** insecure/ca without TLS, said with the API's names (the CLI says --insecure, --ca, --tls). */
function checkApiTls(url: string, o: SecurityOptions): void {
  checkTlsFlags(parseUrlArg(url), { ...o, words: API_WORDS });
}

let apiJournal: string | null = null;

/**
 * The API's journal: TMPDIR/ftpkit-transfers-UID, made 0700 and used only once checked to be this
 * user's own real directory (one another account made first, mode 0777, was used as it was, and its
 * links had a get write into the user's files). If it is not, a fresh private one (mkdtemp) for this
 * process rather than an error: any account could otherwise stop every caller's transfers with one
 * mkdir; only resuming in a later process is lost. A TMPDIR another account may replace is refused.
 */
function apiJournalDir(): string {
  if (apiJournal) return apiJournal;
  const dir = join(tmpdir(), `ftpkit-transfers-${process.getuid?.() ?? "user"}`);
  const open = openAbove(dir);
  if (open) throw new ClientError(`will not keep resume records in ${dir}: ${open}; set TMPDIR to a directory only you may write`, { kind: "local" });
  // One an earlier ftpkit made with the umask's 0755 is this user's and no one else could write in
  // it: tightened to 0700 and kept, so calls of this release resume what earlier calls left.
  if (!ownPrivateDir(dir) && ownDir(dir, process.getuid?.(), 0o022)) {
    try {
      chmodSync(dir, 0o700);
    } catch {}
  }
  if (ownDir(dir, process.getuid?.(), 0o077)) return (apiJournal = dir);
  apiJournal = mkdtempSync(join(tmpdir(), "ftpkit-transfers-"));
  trackTempDir(apiJournal);
  return apiJournal;
}

function transferDefaults(what: "get" | "put", over: ClientTransferOptions): TransferOptions {
  // Resume records live in the temp directory, not in the caller's working directory.
  // Nor are passwords kept in the user's state directory: a test's throwaway server never comes back
  // on its port, and its password stayed in ~/.local/state/ftpkit/credentials for every cut-off transfer.
  return quietTransferOptions(apiJournalDir(), {
    keepPassword: false,
    words: API_WORDS,
    // `ftpkit resume` does not look in the API's journal: a second call with the same arguments continues.
    resumeHint: `call ${what}() again with the same arguments`,
    ...over,
  });
}

/** Download `url` to `local` (default: its name in the cwd), verified with the server's digest when offered. */
export async function get(url: string, local?: string, opts: ClientTransferOptions = {}): Promise<TransferResult> {
  const checked = checkedOptions("get", () => (checkTransferOptions(url, opts), withCaTexts(opts)));
  return getFile(url, local, transferDefaults("get", checked));
}

/** Upload the file `local` to `url` (a URL ending in "/" gets the local name), verified when the server can hash. */
export async function put(local: string, url: string, opts: ClientTransferOptions = {}): Promise<TransferResult> {
  const checked = checkedOptions("put", () => (checkTransferOptions(url, opts), withCaTexts(opts)));
  return putFile(local, url, transferDefaults("put", checked));
}

/** List a remote directory (MLSD, else LIST), or one file. */
export async function list(url: string, opts: { active?: boolean; tls?: boolean; ca?: string[]; insecure?: boolean; trace?: (line: string) => void } = {}): Promise<FileInfo[]> {
  const checked = checkedOptions("list", () => (checkTrace(opts.trace), checkApiTls(url, opts), withCaTexts(opts)));
  return listUrl(url, { active: false, words: API_WORDS, ...checked, prompt: false });
}

/** A logged-in {@link FtpClient} for `ftp://user:pass@host:port/` (binary mode, FEAT read); `quit()` it when done. */
export async function connect(url: string, opts: { active?: boolean; tls?: boolean; ca?: string[]; insecure?: boolean; timeoutMs?: number; trace?: (line: string) => void } = {}): Promise<FtpClient> {
  const [parsed, checked] = checkedOptions("connect", () => (checkTrace(opts.trace), checkApiTls(url, opts), [parseUrlArg(url), withCaTexts(opts)] as const));
  return openSession(parsed, { words: API_WORDS, ...checked }, new Credentials(parsed, undefined, false));
}

/** `ftpkit test`: how well the server at `host:port` speaks FTP, item by item (`ca` as for get). */
export async function probeServer(opts: ProbeOptions): Promise<ProbeReport> {
  // Its TLS errors name the options it takes ("tls: \"explicit\"" for a plain port's, not tls: true).
  const checked = checkedOptions("probeServer", () => (checkProbeOptions(opts), withCaTexts(opts)));
  // The API's own words always (a caller's partial `words` made messages say "use undefined").
  return runProbe({ ...checked, words: { ...API_WORDS, tls: 'tls: "explicit"' } });
}

/** probeServer's own options, refused before anything starts (a missing port came back as the greeting's FAIL). */
function checkProbeOptions(o: ProbeOptions): void {
  const bad = (name: string, must: string, got: unknown) => {
    throw new Error(`${name} must be ${must}, got ${typeof got === "string" ? JSON.stringify(got.slice(0, 60)) : String(got)}`);
  };
  if (typeof o.host !== "string" || o.host === "") bad("host", "a host name or address", o.host);
  if (!Number.isInteger(o.port) || o.port < 1 || o.port > 65535) bad("port", "a whole number from 1 to 65535", o.port);
  if (o.user !== undefined && (typeof o.user !== "string" || o.user === "")) bad("user", "a user name (leave it out for anonymous)", o.user);
  if (o.tls !== undefined && o.tls !== "explicit" && o.tls !== "implicit") bad("tls", '"explicit" or "implicit" (or left out)', o.tls);
  if (o.timeoutMs !== undefined && !(Number.isFinite(o.timeoutMs) && o.timeoutMs >= 1)) bad("timeoutMs", "a number of milliseconds of at least 1", o.timeoutMs);
}
