// ftpkit test HOST[:PORT] | URL: a conformance checklist for any FTP server (PASS / FAIL / N/A).
import { defineCommand, type ArgsDef } from "citty";
import { Credentials } from "../../client/credentials.ts";
import { probeServer } from "../../client/probe/index.ts";
import { formatProbeHeader, formatProbeItem, formatProbeSummary } from "../../client/probe/report.ts";
import { parseFtpUrl } from "../../protocol/url.ts";
import { printableJson } from "../../protocol/printable.ts";
import { UsageError, tlsArgs, tlsOptions } from "../args.ts";
import { checkArgs } from "../args-check.ts";
import { refuseClosedStdout } from "../stdout-job.ts";

const args = {
  target: { type: "positional", required: true, description: "HOST[:PORT], or ftp://[user[:password]@]host[:port]/dir (ftps:// = implicit TLS)", valueHint: "HOST[:PORT]|URL" },
  user: { type: "string", description: "Log in as this user (default: the URL's, else anonymous)", valueHint: "NAME" },
  password: { type: "string", description: "Password (default: the URL's, $FTPKIT_PASSWORD, ~/.netrc, else a prompt)", valueHint: "PASS" },
  json: { type: "boolean", description: "Print the report as JSON" },
  timeout: { type: "string", description: "Seconds to wait for any one reply (default 10)", valueHint: "SECONDS" },
  ...tlsArgs,
} as const satisfies ArgsDef;

export default defineCommand({
  meta: {
    name: "test",
    description: "Probe an FTP server and print a conformance checklist; writes only in a scratch directory it removes; exit 1 when a required item fails or that directory is left",
  },
  args,
  async run({ args: a, rawArgs, cmd }) {
    checkArgs(rawArgs, cmd.args, a._);
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(a.target) && !/^ftps?:\/\//i.test(a.target)) throw new UsageError(`not a HOST[:PORT] or ftp:// URL: "${a.target}"`);
    const text = /^ftps?:\/\//i.test(a.target) ? a.target : `ftp://${a.target}`;
    let url;
    try {
      url = parseFtpUrl(text.replace(/^[a-z]+/i, (s) => s.toLowerCase()));
    } catch {
      throw new UsageError(`not a HOST[:PORT] or ftp:// URL: "${a.target}"`);
    }
    // An empty --user (--user= from a script whose variable was unset) ran as "" (header "as   (* = required)"),
    // neither a user nor anonymous: anonymous is asked for by leaving --user out.
    if (a.user === "") throw new UsageError("--user is empty: give a user name, or leave --user out to test as anonymous");
    if (a.user !== undefined) url = { ...url, user: a.user, password: a.password ?? url.password };
    else if (a.password !== undefined) url = { ...url, password: a.password };
    const timeout = a.timeout === undefined ? 10 : Number(a.timeout);
    if (!Number.isFinite(timeout) || timeout < 1 || timeout > 600) throw new UsageError(`--timeout must be a number of seconds from 1 to 600, got "${a.timeout}"`);
    const tls = tlsOptions(a);
    refuseClosedStdout(["test", ...rawArgs]);
    const creds = new Credentials(url);
    const user = creds.user;
    const pw = await creds.password();
    const mode = url.secure === "implicit" ? "implicit" : tls.tls ? "explicit" : undefined;
    const live = !a.json;
    if (live) process.stdout.write(formatProbeHeader(`${url.host.includes(":") ? `[${url.host}]` : url.host}:${url.port}`, user, mode ?? "none") + "\n");
    const report = await probeServer({
      host: url.host,
      port: url.port,
      user,
      password: pw,
      tls: mode,
      ca: tls.ca,
      insecure: tls.insecure,
      dir: url.path && url.path !== "/" ? url.path : undefined,
      timeoutMs: timeout * 1000,
      onItem: live ? (item) => process.stdout.write(formatProbeItem(item) + "\n") : undefined,
      // A script reading --json gets its one report, as from the client commands: what was decided.
      onInterrupted: a.json ? (r) => process.stdout.write(printableJson(r) + "\n") : undefined,
    });
    if (a.json) process.stdout.write(printableJson(report) + "\n");
    else process.stdout.write(formatProbeSummary(report) + "\n");
    // A scratch directory left on someone's server is the one promise the probe broke: a script must see it.
    if (report.requiredFailed > 0 || (report.scratch.path !== null && !report.scratch.removed)) process.exitCode = 1;
  },
});
