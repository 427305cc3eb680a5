// startServer's one error class: a caller tells a bad option (fix the call) from a failure of this
// machine (a port in use, a file system error) by `kind`, whatever check found it.
import { CliError, UsageError } from "./args.ts";
import { ParseError } from "../protocol/errors.ts";
import { TlsConfigError } from "../server/tls/config.ts";

/** Every error startServer (and RunningServer.urlFor) throws; its message starts "startServer: ". */
export class StartServerError extends Error {
  override name = "StartServerError";
  /** "option": a value given is wrong (fix the call); "runtime": this machine refused (a port in use, a directory it cannot make). */
  readonly kind: "option" | "runtime";
  constructor(message: string, kind: "option" | "runtime", options?: { cause?: unknown }) {
    super(message.startsWith("startServer: ") ? message : `startServer: ${message}`, options);
    this.kind = kind;
  }
}

/** A system error (EADDRINUSE, EACCES…), or one caused by it, as a TLS port in use is. */
const systemCode = (err: unknown): boolean => {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^E[A-Z]+$/.test(code);
};

/**
 * Any error from starting, as a StartServerError: the checks shared with `ftpkit serve` (the root, user
 * names, certificates) throw their own classes, each a bad option unless the system's error caused it
 * (a port in use); anything else is a runtime failure.
 */
export function asStartServerError(err: unknown): StartServerError {
  if (err instanceof StartServerError) return err;
  const known = err instanceof CliError || err instanceof UsageError || err instanceof ParseError || err instanceof TlsConfigError;
  const option = known && !systemCode(err) && !systemCode((err as Error).cause);
  const message = err instanceof Error ? err.message : String(err);
  return new StartServerError(message, option ? "option" : "runtime", { cause: err });
}
