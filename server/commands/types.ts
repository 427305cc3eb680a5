import type { Perm } from "../auth/types.ts";
import type { Session } from "../session.ts";

export interface CommandContext {
  session: Session;
  verb: string;
  arg: string;
}

/** One row of the command table (ftpserverlib/pyftpdlib style): checks run before the handler. */
export interface CommandSpec {
  verbs: readonly string[]; // ["MKD", "XMKD"]: aliases are rows, not code
  auth: boolean; // false: allowed before login
  arg: "required" | "optional" | "none";
  help: string; // HELP is generated from the table
  feat?: string | readonly string[] | ((session: Session) => string | readonly string[]); // FEAT too
  /**
   * May run while a transfer is active (ABOR, STAT) — bypasses the command queue. "in-turn":
   * only when no command waits before it (NOOP and QUIT: a reply must not overtake theirs, and a
   * QUIT that jumped them ended the session before they ran).
   */
  duringTransfer?: boolean | "in-turn";
  /** A verb ftpkit knows but does not offer (answered 502): HELP names it apart. */
  notImplemented?: boolean;
  /** Documentation: the permission the verb needs (enforced by the resolver). */
  perm?: Perm;
  handle(ctx: CommandContext): Promise<void> | void;
}
