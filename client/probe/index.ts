// `ftpkit test`: how well does a server speak FTP? Runs the checklist against one server, writing
// only inside a scratch directory it creates there and removes; nothing is written locally.
import type { FtpClient } from "../client.ts";
import { ClientError } from "../errors.ts";
import { appendAndRename, dataConnections, directories, mlsx, restStream, sizeAndMdtm, transfers, typeA, utf8 } from "./checks-core.ts";
import { hash, xdigests } from "./checks-hash.ts";
import { abor, idle, longLine, pasvTheft, portBounce, statDuringTransfer, tls } from "./checks-edge.ts";
import { line, Probe } from "./runner.ts";
import { CATALOGUE, type ProbeOptions, type ProbeReport } from "./types.ts";
import { stderrStream } from "../report.ts";
import { printableName } from "../../protocol/printable.ts";

export type { ProbeItem, ProbeOptions, ProbeReport, ProbeStatus } from "./types.ts";
export { formatProbeReport, formatProbeItem } from "./report.ts";

/** Probe one server. Never throws for server behaviour: every finding is an item of the report. */
export async function probeServer(opts: ProbeOptions): Promise<ProbeReport> {
  const started = performance.now();
  const p = new Probe(opts);
  const scratch: ProbeReport["scratch"] = { path: null, removed: false };
  // Ctrl-C or SIGTERM: the scratch directory still goes (or its path is said), then exit as the signal would.
  // One removal, whoever asks first: the signal's, or the end of the run (which an interrupted run
  // still reaches); two at once raced, and the loser said the directory was left while it was gone.
  let removal: Promise<{ removed: boolean; note?: string }> | null = null;
  const removeOnce = () => (removal ??= p.cleanup(() => removeScratch(p)));
  let stopping = false;
  const onSignal = (signal: "SIGINT" | "SIGTERM") => {
    // A second signal while the scratch directory goes (GNU timeout sends its TERM to the child and to
    // the group: twice) waits for that, bounded: with `once`, it killed the process silently and the
    // directory stayed on the server with no line saying so.
    if (stopping) return;
    stopping = true;
    const code = signal === "SIGINT" ? 130 : 143;
    p.halt();
    const exit = () => {
      opts.onInterrupted?.({ ...reportOf(opts, p, scratch, started), interrupted: signal });
      process.exit(code);
    };
    if (!p.scratch) return exit();
    const left = printableName(p.scratch); // the server's words (its MKD or PWD reply), for a terminal
    const path = p.scratch;
    void Promise.race([removeOnce(), Bun.sleep(5000).then(() => ({ removed: false }))]).then(({ removed }) => {
      Object.assign(scratch, { path, removed });
      stderrStream().write(removed ? `interrupted: removed the scratch directory ${left}\n` : `interrupted: the scratch directory ${left} is left on the server; remove it by hand\n`);
      exit();
    });
  };
  const signals = (["SIGINT", "SIGTERM"] as const).map((s) => [s, () => onSignal(s)] as const);
  for (const [s, handler] of signals) process.on(s, handler);
  try {
    const c = await connectAndLogin(p);
    if (c) {
      await directories(p, c).catch((err: Error) => {
        p.readOnlyReason = `scratch directory not usable: ${err.message}`;
        p.writable = false;
      });
      scratch.path = p.scratch;
      await dataConnections(p);
      if (p.items.find((i) => i.id === "passive")?.status === "fail") {
        for (const id of ["stor", "list", "retr"]) p.record(id, "fail", "no working passive data connection");
      }
      await transfers(p);
      await utf8(p);
      await sizeAndMdtm(p);
      await mlsx(p);
      await restStream(p);
      await appendAndRename(p);
      await hash(p);
      await xdigests(p);
      await typeA(p);
      await abor(p);
      await statDuringTransfer(p);
      await longLine(p);
      await portBounce(p);
      await pasvTheft(p);
      await tls(p);
      await idle(p);
    }
  } finally {
    if (p.scratch) Object.assign(scratch, await removeOnce());
    p.closeAll();
    for (const [s, handler] of signals) process.off(s, handler);
  }
  return reportOf(opts, p, scratch, started);
}

/** The report of the items decided so far, in catalogue order. */
function reportOf(opts: ProbeOptions, p: Probe, scratch: ProbeReport["scratch"], started: number): ProbeReport {
  const items = CATALOGUE.map((c) => p.items.find((i) => i.id === c.id)!).filter(Boolean);
  return {
    target: `${opts.host.includes(":") ? `[${opts.host}]` : opts.host}:${opts.port}`,
    user: p.user,
    tls: opts.tls ?? "none",
    server: [p.greeting.split(/\r?\n/)[0], p.syst].filter(Boolean).join("; "),
    items,
    requiredFailed: items.filter((i) => i.required && i.status === "fail").length,
    scratch,
    durationMs: Math.round(performance.now() - started),
  };
}

/** Greeting, FEAT (before login, as RFC 2389 allows), login, FEAT again, SYST. */
async function connectAndLogin(p: Probe): Promise<FtpClient | null> {
  let c: FtpClient;
  try {
    c = await p.open({ login: false });
  } catch (err) {
    // Explicit FTPS fails after a good 220 (AUTH TLS refused, a certificate not trusted): that is the
    // TLS item's failure, required since TLS was asked for, not the greeting's (a --json reader took
    // "greeting: fail" for a server whose greeting is broken).
    if (p.opts.tls === "explicit" && err instanceof ClientError && err.kind === "tls") {
      p.record("greeting", "pass", "220 (then TLS failed)");
      p.record("tls", "fail", err.message, true);
    } else p.record("greeting", "fail", (err as Error).message);
    p.skipRest("no session");
    return null;
  }
  p.greeting = c.greeting?.lines.join("\n") ?? "";
  p.record("greeting", "pass", c.greeting ? line(c.greeting) : "220");
  await p.check("feat", async () => {
    const r = await c.command("FEAT");
    if (r.code !== 211) return ["fail", `FEAT: ${line(r)}`];
    const names = [...new Set(r.lines.slice(1, -1).map((l) => l.trim().split(" ")[0]!.toUpperCase()).filter(Boolean))];
    return ["pass", `${names.length} features: ${names.join(" ")}`];
  });
  // A FEAT that timed out cost the session (the client closes one it stopped waiting on, and then
  // says "the server closed the control connection"): log in on a new one, so that the required
  // login item judges the login, not FEAT.
  if (c.control.isClosed) {
    await p.discard(c);
    try {
      c = await p.open({ login: false });
    } catch (err) {
      p.record("login", "fail", `no new session after FEAT: ${(err as Error).message}`);
      p.skipRest("not logged in");
      return null;
    }
  }
  try {
    await p.login(c);
  } catch (err) {
    p.record("login", "fail", (err as Error).message);
    p.skipRest("not logged in");
    return null;
  }
  p.record("login", "pass", `logged in as ${p.user}`);
  p.features = await c.feat().catch(() => new Map());
  const syst = await c.command("SYST").catch(() => null);
  p.syst = syst?.code === 215 ? syst.lines[0]!.trim() : "";
  // A server that stopped answering (SYST timed out) fails this too: the checks find that out one by one.
  const t = await c.command("TYPE", "I").catch((err: Error) => err);
  if (t instanceof Error) p.readOnlyReason = `TYPE I: ${t.message}`;
  else if (t.code !== 200) p.readOnlyReason = `TYPE I refused: ${line(t)}`;
  // FEAT, SYST or TYPE I timed out and cost the session (as FEAT before login can): go on with a new
  // one if the server gives it, so PWD and the rest are judged on their own replies.
  if (c.control.isClosed) {
    const fresh = await p.open().catch(() => null);
    if (fresh) {
      await p.discard(c);
      c = fresh;
      p.readOnlyReason = "";
    }
  }
  p.adoptMain(c);
  return c;
}

/** Delete what the probe wrote, then the scratch directory; say so when something is left. */
async function removeScratch(p: Probe): Promise<{ removed: boolean; note?: string }> {
  const path = p.scratch!;
  try {
    p.closeAll(); // side sessions may hold uploads open
    await Bun.sleep(200);
    const c = await p.session();
    const cwd = await c.command("CWD", path);
    if (cwd.code === 250) {
      const names = new Set(p.created);
      const listed = await p.fetch(c, "NLST").catch(() => null);
      for (const n of listed?.data.toString("utf8").split(/\r?\n/) ?? []) if (n.trim()) names.add(n.trim().replace(/^.*\//, ""));
      for (const n of names) await c.command("DELE", n).catch(() => null);
    }
    await c.command("CWD", p.home);
    for (let attempt = 0; attempt < 5; attempt++) {
      const r = await c.command("RMD", path);
      if (r.code === 250) return { removed: true };
      // Interrupted before the server made it (see directories()): the home does not list it.
      if (attempt === 0 && cwd.code !== 250 && !(await listsName(p, c, path))) return { removed: true };
      if (attempt === 4) return { removed: false, note: `RMD ${path}: ${line(r)}` };
      await Bun.sleep(300);
    }
  } catch (err) {
    return { removed: false, note: `clean-up failed: ${(err as Error).message}` };
  }
  return { removed: false };
}

/** Whether the login directory's NLST names `path`'s last segment (true when it cannot be listed). */
async function listsName(p: Probe, c: FtpClient, path: string): Promise<boolean> {
  const name = path.replace(/^.*\//, "");
  const listed = await p.fetch(c, "NLST").catch(() => null);
  if (!listed) return true;
  return listed.data.toString("utf8").split(/\r?\n/).some((n) => n.trim().replace(/^.*\//, "") === name);
}
