// Who a job logs in as, and with which password: the URL, the password saved when an interrupted
// transfer began, $FTPKIT_PASSWORD, ~/.netrc, a hidden prompt on a TTY; anonymous without a user.
import type { FtpUrl } from "../protocol/url.ts";
import { breaksCommandLine } from "../protocol/command.ts";
import { ClientError } from "./errors.ts";
import { lookupNetrc, netrcExposedMode } from "./netrc.ts";
import { endAsInterrupted } from "./on-interrupt.ts";

/**
 * A user and a password asked for at most once per job (every parallel session shares it): the URL,
 * then the password saved when an interrupted transfer began, $FTPKIT_PASSWORD, ~/.netrc, a hidden
 * prompt on a TTY; anonymous without a user.
 */
export class Credentials {
  readonly user: string;
  private value: Promise<string> | null = null;
  private readonly netrc;

  constructor(
    private readonly url: FtpUrl,
    private readonly saved?: string,
    /** false: never ask on the terminal (the package API: a library must not wait on its caller's keyboard). */
    private readonly prompt = true,
  ) {
    this.netrc = lookupNetrc(url.host, url.user);
    const netrcLogin = this.netrc?.login;
    this.user = url.user ?? (netrcLogin !== undefined ? usable(netrcLogin, "the login in ~/.netrc") : "anonymous");
  }

  /** In any case, as servers take it (vsftpd, ftpkit's own): "ANONYMOUS" is no named account with a secret. */
  get anonymous(): boolean {
    return /^(anonymous|ftp)$/i.test(this.user);
  }

  private resolved: string | undefined;
  /** The saved password was refused (changed since the transfer began): the other sources are asked. */
  private savedRefused = false;

  password(): Promise<string> {
    this.value ??= this.find().then((pw) => (this.resolved = pw));
    return this.value;
  }

  /**
   * The server refused the password: true (ask again) if it was the one kept for `resume`, which
   * the URL, $FTPKIT_PASSWORD, ~/.netrc or the prompt may now replace (it is saved again on success).
   */
  refusedSaved(): boolean {
    if (this.saved === undefined || this.savedRefused || this.url.password !== undefined || this.resolved !== this.saved) return false;
    this.savedRefused = true;
    this.value = null;
    return true;
  }

  private fromNetrc = false;
  /**
   * Once per job: the password came from a ~/.netrc others may read (used all the same, as curl
   * does; ftp(1) refuses it), so the user learns the secret is not one.
   */
  netrcWarning(): string | null {
    if (!this.fromNetrc) return null;
    this.fromNetrc = false;
    const mode = netrcExposedMode();
    return mode === null ? null : `~/.netrc may be read or changed by other users (mode ${mode.toString(8).padStart(4, "0")}), and it holds the password for ${this.user}@${this.url.host}: chmod 600 ~/.netrc`;
  }

  /**
   * The same login with the password this job's login used, for an optional extra connection (a
   * side HASH): it never prompts, and a refusal there never passes for the saved password's.
   */
  settled(): Credentials {
    const password = this.known();
    return new Credentials(password === undefined ? this.url : { ...this.url, password }, undefined, false);
  }

  /** The password a login used (to keep for `ftpkit resume`); undefined for anonymous or none asked yet. */
  known(): string | undefined {
    return this.anonymous ? undefined : this.resolved;
  }

  private async find(): Promise<string> {
    const { url, netrc, user } = this;
    if (url.password !== undefined) return url.password;
    if (this.saved !== undefined && !this.savedRefused) return usable(this.saved, "the password kept for this transfer");
    // The secret of the account a URL names: an anonymous login never sends it (a script that also
    // fetches from a public mirror gave the mirror its password in clear text, as anonymous's "email
    // address"), nor does a login ~/.netrc supplies for a URL naming no user: that entry's own password
    // goes with it (FTPKIT_PASSWORD, meant for another account, went to that host under that login).
    // Empty is not set (a secret CI left undefined expands to ""): sent, it cost a refused login that
    // counts towards a ban, said as "login failed". An empty password is still `ftp://user:@host/`.
    if (process.env.FTPKIT_PASSWORD && !this.anonymous && url.user !== undefined) return usable(process.env.FTPKIT_PASSWORD, "$FTPKIT_PASSWORD");
    if (netrc?.password !== undefined && (netrc.login === undefined || netrc.login === user)) {
      this.fromNetrc = true;
      return usable(netrc.password, "the password in ~/.netrc");
    }
    if (this.anonymous) return "anonymous@";
    if (!this.prompt) throw new ClientError(`no password for ${user}@${url.host} (put it in the URL, $FTPKIT_PASSWORD or ~/.netrc)`, { kind: "auth" });
    let typed: string | null;
    // Loaded only to ask: most jobs have their password before this point.
    const { NoAnswer, promptHidden } = await import("./prompt.ts");
    try {
      typed = await promptHidden(`Password for ${user}@${url.host}: `);
    } catch (err) {
      if (!(err instanceof NoAnswer)) throw err;
      // Ctrl-C: an interruption (130), not a missing password (exit 6, "put it in the URL…").
      return endAsInterrupted();
    }
    if (typed !== null) return usable(typed, "the password typed");
    // `ftpkit resume` takes no URL: after a refused saved password, say which sources are left.
    if (this.savedRefused) throw new ClientError(`the server refused the password kept for this transfer of ${user}@${url.host} (changed since?): give the new one in $FTPKIT_PASSWORD or ~/.netrc, or run resume at a terminal to be asked`, { kind: "auth" });
    throw new ClientError(`no password for ${user}@${url.host} (put it in the URL, $FTPKIT_PASSWORD or ~/.netrc)`, { kind: "auth" });
  }
}

/**
 * A user name or password from outside the URL (which parseFtpUrl checks): CR, LF or NUL would end
 * or cut the USER/PASS line, so it is bad usage (exit 2), said in one line that never shows it.
 */
function usable(value: string, source: string): string {
  if (breaksCommandLine(value)) throw new ClientError(`${source} contains control characters (CR, LF or NUL)`, { kind: "usage" });
  return value;
}
