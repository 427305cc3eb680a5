// startServer's options checked before anything starts, by the names the caller wrote: `bun test` does
// not type-check, so a misspelt option (`anonymus: true`) or a wrong type (`write: "yes"`) would
// otherwise start a server other than the one the test meant.
import { parsePerms } from "../server/auth/ini-store.ts";
import { ALL_PERMS } from "../server/auth/types.ts";
import { parseSize } from "../protocol/size.ts";
import { StartServerError } from "./api-errors.ts";
import type { StartServerOptions } from "./api.ts";
import type { UserOption } from "./inline-users.ts";

/** The option names at each level; `satisfies` keeps them equal to the types' keys. */
const SERVER_KEYS = {
  root: 1, users: 1, anonymous: 1, write: 1, host: 1, port: 1, tls: 1, idleTimeoutSec: 1, maxRate: 1, log: 1,
} as const satisfies Record<keyof StartServerOptions, 1>;
const TLS_KEYS = { cert: 1, key: 1, implicitPort: 1, require: 1 } as const satisfies Record<keyof NonNullable<StartServerOptions["tls"]>, 1>;
const USER_KEYS = { name: 1, password: 1, perm: 1, quota: 1, home: 1 } as const satisfies Record<keyof UserOption, 1>;

/** An option given the wrong value: the error names it as the caller wrote it. */
export function badOption(name: string, must: string, got: unknown): never {
  throw new StartServerError(`${name} must be ${must}, got ${shownValue(got)}`, "option");
}

/**
 * A bad value as an error shows it: its kind alone for bytes (a Buffer read without an encoding from a
 * key file put the whole private key into the message, and so into test logs), else short.
 */
function shownValue(got: unknown): string {
  if (got instanceof Uint8Array) return `${got.constructor.name} of ${got.length} bytes (read it as text: readFileSync(file, "utf8"))`;
  const text = typeof got === "string" ? JSON.stringify(got) : Array.isArray(got) ? "an array" : typeof got === "object" && got !== null ? "an object" : String(got);
  return text.length > 80 ? `${text.slice(0, 60)}… (${text.length} characters)` : text;
}

/** Edit distance with swapped neighbours as one edit ("quoat"): option names are short, so the plain table is cheap. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** The known name `key` was probably meant to be: same letters in another case, or at most a third of them off. */
function closest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = k.toLowerCase() === key.toLowerCase() ? 0 : distance(key.toLowerCase(), k.toLowerCase());
    if (d < bestD) [best, bestD] = [k, d];
  }
  return bestD <= Math.max(1, Math.floor(key.length / 3)) ? best : undefined;
}

/** Refuse a key `where` does not have (`where` is "" at the top level, else "tls." or "users[0]."). */
function checkKeys(value: object, known: Record<string, 1>, where: string): void {
  const names = Object.keys(known);
  for (const key of Object.keys(value)) {
    if (Object.hasOwn(known, key)) continue;
    const near = closest(key, names);
    const hint = near ? `did you mean ${where}${near}?` : `known: ${names.join(", ")}`;
    throw new StartServerError(`unknown option ${where}${key} (${hint})`, "option");
  }
}

const isPort = (v: unknown) => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 65535;
const isObject = (v: unknown): boolean => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * The API's errors name its options (`maxRate`, `tls.cert`), never `ftpkit serve`'s flags: the
 * server's own checks take these names (TLS), and what it does not check is checked here, with
 * the CLI's rules (a port 0–65535, a timeout of at least a second, a rate and quota of no bytes or more).
 */
/**
 * The options with what says "not set" left out: null anywhere an option may be left out, and
 * `tls: false` (\`tls: useTls && { cert, key }\`, \`cond ? {…} : null\`), as the API took them before
 * it checked its options; checkServerOptions refused them. Anything else is passed on as it is.
 */
export function withoutUnset(opts: StartServerOptions): StartServerOptions {
  if (!isObject(opts)) return opts;
  const drop = <T extends object>(o: T, also: (k: string, v: unknown) => boolean = () => false): T =>
    Object.fromEntries(Object.entries(o).filter(([k, v]) => v !== null && !also(k, v))) as T;
  const out = drop(opts as Record<string, unknown>, (k, v) => k === "tls" && v === false) as StartServerOptions;
  if (isObject(out.tls)) out.tls = drop(out.tls as object) as StartServerOptions["tls"];
  if (Array.isArray(out.users)) out.users = out.users.map((u) => (isObject(u) ? drop(u) : u));
  return out;
}

export function checkServerOptions(opts: StartServerOptions): void {
  if (!isObject(opts)) badOption("the options", "an object such as { users: [{ name, password }] }", opts);
  checkKeys(opts, SERVER_KEYS, "");
  if (opts.root !== undefined && (typeof opts.root !== "string" || opts.root === "")) badOption("root", "a directory name", opts.root);
  for (const flag of ["anonymous", "write"] as const) if (opts[flag] !== undefined && typeof opts[flag] !== "boolean") badOption(flag, "true or false", opts[flag]);
  if (opts.port !== undefined && !isPort(opts.port)) badOption("port", "a whole number from 0 to 65535", opts.port);
  if (opts.host !== undefined && (typeof opts.host !== "string" || opts.host === "")) badOption("host", "an address such as 127.0.0.1 or ::", opts.host);
  if (opts.idleTimeoutSec !== undefined && !(typeof opts.idleTimeoutSec === "number" && opts.idleTimeoutSec >= 1 && Number.isFinite(opts.idleTimeoutSec))) {
    badOption("idleTimeoutSec", "a number of seconds of at least 1", opts.idleTimeoutSec);
  }
  if (opts.maxRate !== undefined && !(Number.isSafeInteger(opts.maxRate) && opts.maxRate >= 0)) badOption("maxRate", "a whole number of bytes per second (0: no limit)", opts.maxRate);
  if (opts.log !== undefined && opts.log !== "text" && opts.log !== "json") badOption("log", `"text" or "json"`, opts.log);
  if (opts.tls !== undefined) checkTls(opts.tls, opts.port);
  // Typed callers cannot get these wrong; a JavaScript caller (or a cast) got a TypeError, or an account that could do nothing.
  if (opts.users !== undefined && !Array.isArray(opts.users)) badOption("users", "an array of { name, password }", opts.users);
  (opts.users ?? []).forEach(checkUser);
}

function checkTls(tls: NonNullable<StartServerOptions["tls"]>, port: number | undefined): void {
  // `tls: true` is the client's option; the server needs its certificate.
  if (!isObject(tls)) badOption("tls", "{ cert, key } (PEM text or file names)", tls);
  checkKeys(tls, TLS_KEYS, "tls.");
  for (const k of ["cert", "key"] as const) if (typeof tls[k] !== "string" || tls[k] === "") badOption(`tls.${k}`, "PEM text or a file name", tls[k]);
  if (tls.implicitPort !== undefined && !isPort(tls.implicitPort)) badOption("tls.implicitPort", "a whole number from 0 to 65535", tls.implicitPort);
  // Both on one port was "tls.implicitPort N is already in use": by the server's own control port.
  if (tls.implicitPort !== undefined && tls.implicitPort !== 0 && tls.implicitPort === port) badOption("tls.implicitPort", `another port than port (${port})`, tls.implicitPort);
  if (tls.require !== undefined && typeof tls.require !== "boolean") badOption("tls.require", "true or false", tls.require);
}

function checkUser(u: UserOption, i: number): void {
  const name = `users[${i}]`;
  if (!isObject(u)) badOption(name, "an object { name, password }", u);
  checkKeys(u, USER_KEYS, `${name}.`);
  for (const field of ["name", "password"] as const) if (typeof u[field] !== "string") badOption(`${name}.${field}`, "a string", u[field]);
  if (u.home !== undefined && typeof u.home !== "string") badOption(`${name}.home`, "a directory name relative to the root", u.home);
  const q = u.quota;
  if (typeof q === "number" && !(Number.isSafeInteger(q) && q >= 0)) badOption(`${name}.quota`, "a whole number of bytes or a size such as 10MB (0: no limit)", q);
  else if (q !== undefined && typeof q !== "number" && typeof q !== "string") badOption(`${name}.quota`, "a whole number of bytes or a size such as 10MB (0: no limit)", q);
  const check = (field: string, parse: () => unknown) => {
    try {
      parse();
    } catch (err) {
      throw new StartServerError(`${name}.${field}: ${(err as Error).message}`, "option", { cause: err });
    }
  };
  if (typeof q === "string") check("quota", () => parseSize(q, { allowUnlimited: true }));
  if (typeof u.perm === "string") check("perm", () => parsePerms(u.perm as string));
  else if (Array.isArray(u.perm)) {
    const unknown = u.perm.find((p) => !(ALL_PERMS as readonly unknown[]).includes(p));
    if (unknown !== undefined) throw new StartServerError(`${name}.perm: unknown permission ${JSON.stringify(unknown)} (use ${ALL_PERMS.join(", ")})`, "option");
  } else if (u.perm !== undefined) badOption(`${name}.perm`, `a string such as "read,write" or a list such as ["read"]`, u.perm);
}
