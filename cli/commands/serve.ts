// ftpkit serve: run the FTP server (embedded default: ./users.ini and the homes beside it).
import { defineCommand } from "citty";
import { consola } from "consola";
import { CliError, UsageError } from "../args.ts";
import { checkArgs } from "../args-check.ts";
import { FDS_PER_SESSION } from "../../server/fd-budget.ts";
import { opsOptionsFrom } from "../ops-args.ts";
import { runWorkers, STATE_ENV, WORKER_CONFIG_EXIT, WORKER_ENV, WORKER_STATE_ENV, workerCount, workerSecretArgs } from "./serve-workers.ts";
import { alreadyTuned, reexecTuned, SERVER_TUNING } from "../tuning.ts";
import { heldStop, takeEarlySignals } from "../early-serve-signals.ts";
import { ignoreHupAcrossExec } from "../hup-across-exec.ts";
import { listenPermissionHint } from "../../server/privileged-port.ts";
import { sweepAgain } from "../../server/storage/local-temp.ts";
import { abortUploadsOf } from "../../server/storage/s3-orphans.ts";
import { s3SettingsFromEnv } from "../../server/storage/s3-request.ts";
import { banner, checkListenHost, inlineAccounts, s3Endpoint, serveArgs, serverOptionsFrom } from "./serve-options.ts";

/**
 * Last resort, once the server listens: an exception or a rejection nothing caught is a bug, but it
 * must not end every session with it (Bun's default exits the process). Logged at error level with
 * its stack, and the server goes on, as pyftpdlib does with a handler's exception; vsftpd and
 * ProFTPD lose only the one session's process. Two such crashes were remote (a reset connection on
 * the implicit-FTPS port, memory filled through a data connection), both fixed at their cause.
 */
function keepServingAfterBugs(log: { error(event: string, fields?: Record<string, unknown>): void }): void {
  const report = (kind: string) => (err: unknown) => {
    const e = err instanceof Error ? err : new Error(String(err));
    log.error("internal error; the server goes on", { kind, error: e.message, stack: (e.stack ?? "").split("\n").slice(1, 6).map((l) => l.trim()).join(" | ") });
  };
  process.on("uncaughtException", report("exception"));
  process.on("unhandledRejection", report("rejection"));
}

/** 127.0.0.0/8, ::1 (also as ::ffff:127.x.y.z) and "localhost" (Bun binds it to 127.0.0.1): reachable from this machine only. */
function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^::ffff:/, "");
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** A stop signal came before anything started: the run ends as a stop would, with its last line (exit 0). */
function stoppedBeforeStart(signal: string, json: boolean): never {
  if (json) process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), level: "info", event: "stopped", signal })}\n`);
  else consola.info(`${signal}: stopped`);
  process.exit(0);
}

/** The address a local script can reach: a wildcard listener is reached on loopback. */
function urlHost(host: string): string {
  if (host === "0.0.0.0" || host === "") return "127.0.0.1";
  if (host === "::") return "[::1]";
  return host.includes(":") ? `[${host}]` : host;
}

/** A users file that does not load is the one clear start-up error a lone server gives (a missing one is not: it may come). */
async function checkUsersFile(file: string): Promise<void> {
  const { loadUsers, UsersFileError } = await import("../../server/auth/ini-store.ts");
  await loadUsers(file, { allowMissing: true }).catch((err: unknown) => {
    throw err instanceof UsersFileError ? new CliError(err.message) : err;
  });
}

export default defineCommand({
  meta: { name: "serve", description: "Run the FTP server (default: ./users.ini, port 2121)" },
  args: serveArgs,
  async run({ args, rawArgs: given, cmd }) {
    // A --workers worker's flags were checked by its primary: it runs tuned at once, and that image
    // reads its --user and --hook flags and the store's URL from its standard input (kept out of `ps`
    // and /proc/PID/environ).
    if (process.env[WORKER_ENV] !== undefined) reexecTuned(SERVER_TUNING);
    const rawArgs = [...(await workerSecretArgs()), ...given];
    // citty ignores unknown flags: `--idle-timout 5` must not start a server with the default.
    checkArgs(rawArgs, cmd.args, args._);
    const options = serverOptionsFrom(args);
    await checkListenHost(options.host);
    options.ops = opsOptionsFrom(args, rawArgs);
    // `--metrics 999.1.1.1:9100` is as bad a value as `--host 999.1.1.1`: Bun's "Failed to listen" was exit 1.
    await checkListenHost(options.ops.metrics?.host, "--metrics");
    // Flags are valid: from here on the process runs as the server (see cli/tuning.ts). A stop signal
    // held so far would be lost with this image: it ends the run here instead (a SIGHUP is dropped:
    // the next image reads every file afresh). One turn of the event loop first, for a signal just taken.
    // From then on until the next image's handler, a SIGHUP is ignored (hup-across-exec.ts).
    if (!alreadyTuned()) {
      await new Promise((r) => setImmediate(r));
      const stopFirst = heldStop();
      if (stopFirst) stoppedBeforeStart(stopFirst, options.logFormat === "json");
      const restoreHup = ignoreHupAcrossExec();
      reexecTuned(SERVER_TUNING);
      restoreHup(); // no new image came
    }
    // Hooks run with the server's environment: the store's password is not theirs to see.
    delete process.env[STATE_ENV];
    const inline = inlineAccounts(args, rawArgs);
    if (inline) {
      const { MemoryLogins } = await import("../../server/auth/memory-store.ts");
      try {
        options.auth = new MemoryLogins(inline.users, options.failedLoginDelayMs);
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
    }
    if (args.demo) {
      // The demo's logins are those of ./ftpkit-demo/users.ini: with another file they would be false.
      if (args.users !== undefined) throw new UsageError("--demo serves ./ftpkit-demo/users.ini and cannot be combined with --users");
      // demo/demo has full rights and its password is in the README: it stays on this machine.
      if (options.host !== undefined && !isLoopback(options.host)) throw new UsageError(`--demo listens on loopback only (its demo/demo login has full rights); --host ${options.host} is not a loopback address (127.0.0.1, ::1)`);
      const { prepareDemo } = await import("../demo.ts");
      options.usersFile = await prepareDemo("ftpkit-demo");
      options.host ??= "127.0.0.1";
    }
    const workers = workerCount(args.workers as string | undefined);
    const worker = process.env[WORKER_ENV];
    if (workers > 1 && worker === undefined) {
      // Read here once: each worker would meet the same broken file and say so (N lines, not one).
      if (!options.auth && options.usersFile) await checkUsersFile(options.usersFile);
      return runWorkers(workers, rawArgs, options);
    }
    if (worker !== undefined) {
      options.reusePort = true;
      options.worker = Number(worker);
    }
    if (worker !== undefined && process.env[WORKER_STATE_ENV] === "ipc") {
      const { ipcClient } = await import("../../server/state/ipc-client.ts");
      options.state = "ipc:primary";
      options.stateClient = ipcClient;
    }
    const { createServer } = await import("../../server/index.ts");
    // --port 0: the URL is the first stdout line, so log lines of the start-up (a users file not
    // found yet) wait for it instead of coming first.
    const urlFirst = options.port === 0 && options.logFormat !== "json" && worker === undefined;
    const log = urlFirst ? await import("../../server/log.ts") : null;
    const held = log ? log.holdOutput(process.stdout) : null;
    if (log && held) options.logger = log.createLogger("text", false, held);
    let server;
    let address;
    try {
      server = createServer(options);
      address = await server.listen();
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === "EADDRINUSE") throw new CliError(`port ${options.port ?? 2121} is already in use`);
      if (e.code === "EACCES") throw new CliError(`no permission to listen on port ${options.port ?? 2121}${listenPermissionHint(options.port ?? 2121)}`);
      if (e.code === "EADDRNOTAVAIL" || /^Failed to listen/.test(e.message)) throw new CliError(`cannot listen on ${options.host ?? "0.0.0.0"}: ${e.code === "EADDRNOTAVAIL" ? "not an address of this machine" : "not a valid address"}`);
      // In a worker, another try would fail the same way: its status tells the primary to stop at once
      // rather than restart it for 30 s (a store that is down, StateStartError, is worth retrying).
      if (worker !== undefined && ["UsersFileError", "TlsConfigError", "OpsConfigError", "JailUnavailableError"].includes(e.name)) {
        throw Object.assign(new CliError(e.message), { exitStatus: WORKER_CONFIG_EXIT });
      }
      if (["UsersFileError", "TlsConfigError", "OpsConfigError", "StateStartError", "JailUnavailableError"].includes(e.name)) throw new CliError(e.message);
      throw err;
    } finally {
      if (!address) held?.release();
    }
    keepServingAfterBugs(server.context.log);
    const shown = address.host.includes(":") ? `[${address.host}]` : address.host;
    // Under --log-format json stdout is for machines: every line there must be a JSON record.
    const json = server.options.logFormat === "json";
    // Text mode: consola's lines go through the log's output, in order with its lines, and start a
    // line of their own after one a full disk cut (written beside it, they were glued to its piece).
    if (!json) consola.options.stdout = (await import("../../server/log.ts")).logStream(server.context.log) as unknown as NodeJS.WriteStream;
    // Before the first line that says we listen: a supervisor may signal as soon as it reads it,
    // and a signal with no handler yet ends the process (exit 130 instead of a clean stop).
    // SIGHUP: banners, users file, certificate and xferlog again; sessions and bans stay.
    const reload = () => {
      // Each on its own: a broken goodbye file kept a good new welcome from being read.
      for (const which of ["welcome", "goodbye"] as const) {
        try {
          const text = banner(args[which], which);
          if (text !== undefined) server.options[which] = text;
        } catch (err) {
          server.context.log.warn("banner not reloaded", { reason: (err as Error).message });
        }
      }
      void server.reload();
    };
    process.on("SIGHUP", reload);
    let stopping = false;
    let signals = 0;
    // Only a second *signal* means "stop now" (a second Ctrl-C). The primary's stop request and its
    // disconnect do not count: under systemd (SIGTERM to the whole cgroup) or Ctrl-C (SIGINT to the
    // whole process group) a worker gets the signal itself *and* its primary's request, in either
    // order, and used to take the second for an impatient operator: exit 1, running transfers cut.
    const onSignal = (signal: string) => {
      if (++signals > 1) {
        // Hooks run in process groups of their own, out of reach of the signal: end them, or they outlive us.
        server.ops.hooks?.kill();
        server.context.log.flush?.();
        process.exit(1);
      }
      void stop(signal);
    };
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      // A worker's primary says it once for the whole server (each worker said it: N lines, one "stopped").
      if (worker === undefined) {
        if (json) server.context.log.info("stopping", { signal, graceSec: server.options.shutdownGraceSec });
        else consola.info(`${signal}: stopping (running transfers may finish within ${server.options.shutdownGraceSec} s)`);
      }
      await server.close();
      // The last line of a clean stop: without it, a stop cut short (systemd's SIGKILL at TimeoutStopSec)
      // left the same last lines. A worker's primary says it for the whole server.
      if (worker === undefined) {
        if (json) server.context.log.info("stopped", { signal });
        else consola.info(`${signal}: stopped`);
      }
      server.context.log.flush?.();
      process.exit(0);
    };
    process.on("SIGINT", () => onSignal("SIGINT"));
    process.on("SIGTERM", () => onSignal("SIGTERM"));
    // Ours are installed: the early ones step aside, and what they held is acted on once we have said we listen.
    const early = takeEarlySignals();
    // --port 0: the first stdout line is the URL alone, so a script can read it.
    if (urlFirst) {
      process.stdout.write(`ftp://${urlHost(address.host)}:${address.port}/\n`);
      held!.release();
    }
    const serving = inline ? `root: ${inline.root}; ${inline.summary}` : `users: ${server.options.usersFile}`;
    if (worker !== undefined) server.context.log.info("worker listening", { worker: Number(worker), pid: process.pid, port: address.port });
    else if (json) server.context.log.info("listening", { host: address.host, port: address.port, ...(inline ? { root: inline.root } : { users: server.options.usersFile }) });
    else consola.success(`ftpkit listening on ftp://${shown}:${address.port} (${serving})`);
    // After the listening line, with the port really listened on (--port 0); never as text among JSON records.
    if (args.demo) {
      const { demoBanner } = await import("../demo.ts");
      if (json) server.context.log.info("demo", { user: "demo", password: "demo", anonymous: true });
      else consola.box(demoBanner(urlHost(address.host), address.port));
    }
    // S3 homes and mounts: which store, and one line per cause if it cannot be reached (in the background).
    if (worker === undefined || worker === "0") {
      const places = server.context.auth.places?.() ?? [];
      if (places.some((p) => p.startsWith("s3://"))) {
        const { reportObjectStores } = await import("../../server/vfs/s3-report.ts");
        void reportObjectStores(places, { s3Endpoint: server.options.s3Endpoint, log: server.context.log });
      }
    }
    const fds = server.descriptorLimit;
    if (fds && json) server.context.log.info("descriptor limit", { soft: fds.soft, hard: fds.hard });
    // The text line once, by worker 0, not once per worker (the same limit: each raises it alike).
    else if (fds && (worker === undefined || worker === "0")) consola.info(`open-file limit: ${fds.soft} (hard limit ${fds.hard}); a session holds up to ${FDS_PER_SESSION} descriptors at once`);
    // vsftpd and ProFTPD switch each session to an unprivileged user; ftpkit never does (README,
    // Running as a service), so run as root the files' own modes stop no account (a mode-000 file is served).
    if (process.getuid?.() === 0 && (worker === undefined || worker === "0")) {
      const why = "file permissions do not limit what accounts may read or change in their homes and mounts; run ftpkit serve as an ordinary user that owns them";
      if (json) server.context.log.warn("running as root", { reason: why });
      else consola.warn(`running as root: ${why}`);
    }
    if (server.ftps) {
      const reuse = server.ftps.sessionReuse;
      const required = server.ftps.options.requireTls === true;
      const certificate = server.ftps.store?.current.fingerprint;
      if (json) {
        // One record; the implicit-TLS port is a field of it, not a second "listening" record a script could take for the control port.
        server.context.log.info("ftps", { port: address.port, implicitPort: server.implicitTlsPort, required, sessionReuse: reuse, certificate });
      } else {
        consola.info(`FTPS: AUTH TLS on port ${address.port}${required ? " (required)" : ""}; data session reuse ${reuse}; certificate ${certificate}`);
        if (server.implicitTlsPort !== undefined) consola.success(`ftpkit listening on ftps://${shown}:${server.implicitTlsPort} (implicit TLS)`);
      }
    }
    const metricsPort = server.ops.metricsPort;
    if (metricsPort !== undefined) {
      const host = server.ops.options.metrics!.host;
      const url = `http://${host.includes(":") ? `[${host}]` : host}:${metricsPort}/metrics`;
      if (json) server.context.log.info("metrics listening", { url });
      else consola.success(`metrics on ${url} (and /healthz, /readyz)`);
    }
    if (worker !== undefined) {
      // The primary prints the listening line; it learns we are up over IPC, and we stop when it is gone.
      process.send?.({ listening: address.port });
      process.on("disconnect", () => void stop("primary gone"));
      process.on("message", (m: { stop?: string; workerExited?: number }) => {
        if (typeof m?.stop === "string") void stop(m.stop);
        // Never our own PID (one reused from a worker that died a moment ago): we are not gone.
        if (typeof m?.workerExited === "number" && m.workerExited !== process.pid) {
          sweepAgain();
          // With --state the primary holds no store of its own: the survivors tell it (each, idempotent).
          void server.context.state.nodeGone?.(m.workerExited).catch(() => {});
          // Its multipart uploads in progress: the first survivor to ask aborts them (not a day later).
          const settings = s3SettingsFromEnv(process.env, server.options.s3Endpoint);
          void abortUploadsOf(server.context.state, m.workerExited, settings, (event, fields) => server.context.log.warn(event, fields));
        }
      });
    }
    // Signals taken while starting. A SIGHUP is a reload now: it may have come after a file was read
    // (logrotate moved the xferlog away once it was open), and a reload of unchanged files costs little.
    // A SIGTERM or SIGINT stops the server as it would have a moment later.
    const stopSignal = early.find((s) => s !== "SIGHUP");
    if (stopSignal) onSignal(stopSignal);
    else if (early.includes("SIGHUP")) reload();
  },
});
