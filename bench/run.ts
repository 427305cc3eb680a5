// `bun run bench [--quick] [--only ftpkit,vsftpd] [--workloads retr-1,login-seq,client-get] [--reps N] [--out FILE] [--port-base N] [--workers-redis]`
// `bun run bench --s3 [--s3-env] [--quick] [--reps N]`: only the S3-home rows (bench/s3.ts; starts its own bluestore radosgw, or uses S3_* with --s3-env).
// Starts ftpkit, vsftpd, pyftpdlib and ProFTPD with one account and one data set, runs every workload against
// each with our own load generator (bench/load.ts, a separate process), stops every server by PID,
// prints one markdown table (ratios to vsftpd) and writes it to bench/RESULTS.md.
// This file is the driver (main); its parts: settings.ts (flags, profiles, ports), cleanup.ts,
// data-set.ts, load-runner.ts, workloads.ts (the rows and targets) and report.ts (the table).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { LoadResult, LoadSpec } from "./load.ts";
import { median } from "./stats.ts";
import { CLIENT_WORKLOADS, clientCpuTable, clientNotes, ensureTree, isTreeWorkload, renderClientTable, runClientRows, TREE_MIN_REPS, type ClientWorkload } from "./client.ts";
import {
  BENCH_DIR,
  type Account,
  type RunningServer,
  alive,
  chownTree,
  ensurePeers,
  ensureSystemUser,
  makeCert,
  pyOpenSslImportable,
  cpuMsWithReaped,
  selfCpuMs,
  startFtpkit,
  startPyftpdlib,
  startRaw,
  startRedis,
  startVsftpd,
  stopServer,
} from "./servers.ts";
import { ensureProftpd, startProftpd } from "./proftpd.ts";
import { ACCOUNT_PASS, ACCOUNT_USER, CPU_BOUND, FULL, MiB, PASV, PORTS, QUICK, SERVERS, parseArgs, type Profile, type ServerName } from "./settings.ts";
import { extraStops, running, stopEverything } from "./cleanup.ts";
import { prepareData } from "./data-set.ts";
import { runLoad, runSessions } from "./load-runner.ts";
import { workloads, type Cell } from "./workloads.ts";
import { fmt, machine, renderTable, type Results } from "./report.ts";

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.s3) {
    const { runS3Bench } = await import("./s3.ts");
    const table = await runS3Bench({
      quick: args.quick,
      reps: args.reps,
      useEnv: args.s3Env,
      // The S3 run has no other servers: ftpkit takes its usual ports, its radosgw the raw sender's.
      ports: { ftpkit: PORTS.ftpkit, pasv: PASV.ftpkit, rgw: PORTS.raw },
      onStop: (stop) => extraStops.add(stop),
    }).finally(stopEverything);
    const command = `bun run bench ${process.argv.slice(2).join(" ")}`;
    const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
    const file = join(BENCH_DIR, "RESULTS-S3.md");
    // Keep hand-written findings (a "## Findings" section) across runs, as for RESULTS.md.
    const old = existsSync(file) ? readFileSync(file, "utf8") : "";
    const findings = old.includes("\n## Findings") ? old.slice(old.indexOf("\n## Findings")) : "";
    writeFileSync(file, `# S3 rows\n\n\`${command}\` on ${new Date().toISOString()}, load average after the run ${load}.\n\n${table}\n${findings}`);
    console.log(table);
    return;
  }
  const profile: Profile = { ...(args.quick ? QUICK : FULL) };
  if (args.reps !== undefined && args.reps > 0) profile.reps = args.reps;
  const t0 = performance.now();
  const log = (msg: string) => console.error(`[${((performance.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${msg}`);

  if (process.getuid?.() !== 0) throw new Error("the bench runs as root (it creates a system user for vsftpd and starts it)");
  for (const n of ensurePeers()) log(n);
  if (args.only.includes("proftpd")) {
    const note = ensureProftpd();
    if (note) log(note);
  }

  const work = join(BENCH_DIR, "work");
  const acct: Account = { user: ACCOUNT_USER, pass: ACCOUNT_PASS, home: join(work, "home") };
  mkdirSync(work, { recursive: true });
  log("preparing data…");
  const data = prepareData(acct.home, profile);
  ensureSystemUser(acct);
  chownTree(acct.home, acct.user);
  const cert = makeCert(join(work, "tls"));

  // Servers
  const servers = new Map<ServerName, RunningServer>();
  const unavailable = new Map<ServerName, string>();
  let pyTls: RunningServer | undefined;
  let proTls: RunningServer | undefined;
  const starters: Record<ServerName, () => Promise<RunningServer>> = {
    ftpkit: () => startFtpkit({ acct, port: PORTS.ftpkit, pasv: PASV.ftpkit, work, tls: cert }),
    vsftpd: () => startVsftpd({ acct, port: PORTS.vsftpd, pasv: PASV.vsftpd, work, tls: cert }),
    pyftpdlib: () => startPyftpdlib({ acct, port: PORTS.pyftpdlib, pasv: PASV.pyftpdlib, work }),
    // Without mod_tls: loaded, it reads the system's CA bundle and the certificate in every session
    // (~65 ms per login here, plain ones included); the FTPS row has an instance of its own.
    proftpd: () => startProftpd({ acct, port: PORTS.proftpd, pasv: PASV.proftpd, work }),
  };
  for (const name of args.only) {
    try {
      const s = await starters[name]();
      running.add(s);
      servers.set(name, s);
      log(`${name} up on 127.0.0.1:${s.port} (pid ${s.pid})`);
    } catch (e) {
      unavailable.set(name, (e as Error).message);
      log(`${name}: not available — ${(e as Error).message}`);
    }
  }
  if (args.only.includes("pyftpdlib") && cert && pyOpenSslImportable()) {
    try {
      pyTls = await startPyftpdlib({ acct, port: PORTS.pyftpdlibTls, pasv: PASV.pyftpdlibTls, work, tls: cert });
      running.add(pyTls);
    } catch (e) {
      log(`pyftpdlib TLS: not available — ${(e as Error).message}`);
    }
  }

  if (args.only.includes("proftpd") && cert && servers.has("proftpd") && (!args.workloads || args.workloads.includes("ftps-retr-1"))) {
    try {
      proTls = await startProftpd({ acct, port: PORTS.proftpdTls, pasv: PASV.proftpdTls, work, tls: cert });
      running.add(proTls);
    } catch (e) {
      log(`ProFTPD TLS: not available — ${(e as Error).message}`);
    }
  }

  const results: Results = { raw: undefined, cells: new Map() };
  const wanted = (id: string) => !args.workloads || args.workloads.includes(id);

  // ftpkit --workers 2 and the redis-server its workers share, only when a -w2 row is wanted.
  let ftpkitWorkers: RunningServer | undefined;
  if (args.only.includes("ftpkit") && workloads(profile, data, acct).some((w) => w.workers && wanted(w.id))) {
    try {
      // Default: the workers' state lives in the primary; --workers-redis puts it in a redis-server.
      const extra = ["--workers", "2"];
      if (args.workersRedis) {
        running.add(await startRedis(PORTS.redis, work));
        extra.push("--state", `redis://127.0.0.1:${PORTS.redis}`);
      }
      ftpkitWorkers = await startFtpkit({ acct, port: PORTS.ftpkitWorkers, pasv: PASV.ftpkitWorkers, work, extraArgs: extra });
      running.add(ftpkitWorkers);
      log(`ftpkit --workers 2 up on 127.0.0.1:${ftpkitWorkers.port} (pid ${ftpkitWorkers.pid}, state ${args.workersRedis ? `redis ${PORTS.redis}` : "in the primary"})`);
    } catch (e) {
      log(`ftpkit --workers 2: not available — ${(e as Error).message}`);
    }
  }

  // afterEach runs after every run: uploads are deleted at once, so no run pays for the writeback of
  // the previous runs' dirty pages (6 × 1 GiB kept around exceeded dirty_ratio and throttled to disk speed).
  const measureReps = async (make: (rep: number, warm: boolean) => LoadSpec, timeoutMs: number, server?: RunningServer, afterEach?: () => void): Promise<Cell> => {
    const samples: LoadResult[] = [];
    const serverCpu: number[] = [];
    for (let i = 0; i < profile.warmup + profile.reps; i++) {
      if (server && !alive(server)) return { error: `${server.name} died (see ${server.log})` };
      const warm = i < profile.warmup;
      const cpu0 = server ? cpuMsWithReaped(server.pid) : NaN;
      const r = await runLoad(make(i, warm), timeoutMs);
      const cpu = server ? cpuMsWithReaped(server.pid) - cpu0 : NaN;
      afterEach?.();
      if (!r.ok) return { error: r.error ?? "failed" };
      if (r.na) return { na: r.na };
      if (!warm) samples.push(r);
      if (!warm && Number.isFinite(cpu)) serverCpu.push(cpu);
    }
    const value = median(samples.map((s) => s.value ?? 0));
    const mid = samples.find((s) => s.value === value) ?? samples[0]!;
    return {
      value,
      wallMs: median(samples.map((s) => s.wallMs)),
      cpuFrac: median(samples.map((s) => (s.wallMs > 0 ? s.cpuMs / s.wallMs : 0))),
      detail: mid.detail,
      ...(serverCpu.length ? { serverCpuMs: median(serverCpu) } : {}),
    };
  };

  // The ceiling
  if (wanted("raw")) {
    log("raw loopback…");
    try {
      const raw = await startRaw(join(acct.home, data.big), PORTS.raw, work);
      extraStops.add(raw.stop);
      results.raw = await measureReps(() => ({ kind: "raw", port: PORTS.raw, size: profile.bigSize }), 300_000);
      await raw.stop();
      extraStops.delete(raw.stop);
    } catch (e) {
      results.raw = { error: (e as Error).message };
    }
  }

  const ws = workloads(profile, data, acct).filter((w) => wanted(w.id));
  // The operations rows: a second ftpkit with --metrics (scraped every second, like a busy Prometheus)
  // and a post-upload hook (/bin/true: the cost of spawning it, not of what it does).
  let opsServer: RunningServer | undefined;
  let opsError: string | undefined;
  let scraper: ReturnType<typeof setInterval> | undefined;
  if (args.only.includes("ftpkit") && ws.some((w) => w.ops)) {
    try {
      const metricsAddr = `127.0.0.1:${PORTS.ftpkitOpsMetrics}`;
      opsServer = await startFtpkit({ acct, port: PORTS.ftpkitOps, pasv: PASV.ftpkitOps, work, tls: cert, extraArgs: ["--metrics", metricsAddr, "--hook", "upload=/bin/true"] });
      running.add(opsServer);
      log(`ftpkit (metrics + hook) up on 127.0.0.1:${opsServer.port} (pid ${opsServer.pid})`);
      scraper = setInterval(() => void fetch(`http://${metricsAddr}/metrics`).then((r) => r.text()).catch(() => {}), 1000);
    } catch (e) {
      opsError = (e as Error).message;
    }
  }
  for (const w of ws) {
    const row: Record<string, Cell> = {};
    results.cells.set(w.id, row);
    for (const name of SERVERS) {
      if (!args.only.includes(name)) continue;
      if (w.ops && name !== "ftpkit") {
        row[name] = { na: "ftpkit's own operations flags" };
        continue;
      }
      let s = w.ops ? opsServer : w.workers && name === "ftpkit" ? ftpkitWorkers : servers.get(name);
      if (w.ops) {
        const plain = servers.get(name);
        if (!s || !plain) {
          row[name] = { error: opsError ?? "not available" };
          continue;
        }
        // On a shared machine the load drifts between rows: plain and ops runs alternate, in
        // alternating order, and the ratio is taken between the two medians of the same runs.
        log(`${w.id} · ${name} (paired with plain ftpkit)…`);
        const ops = s;
        const samples: { plain: LoadResult[]; ops: LoadResult[] } = { plain: [], ops: [] };
        const cpu: { plain: number[]; ops: number[] } = { plain: [], ops: [] };
        let failed: Cell | undefined;
        for (let i = 0; i < profile.warmup + profile.reps && !failed; i++) {
          const warm = i < profile.warmup;
          const order: Array<["plain" | "ops", RunningServer]> = i % 2 ? [["ops", ops], ["plain", plain]] : [["plain", plain], ["ops", ops]];
          for (const [kind, srv] of order) {
            if (!alive(srv)) failed = { error: `${srv.name} died (see ${srv.log})` };
            if (failed) break;
            const cpu0 = selfCpuMs(srv.pid);
            const r = await runLoad(w.spec(name, srv.port, i, warm), w.timeoutMs);
            await Bun.sleep(200); // post-event hooks of this run are dispatched (their CPU belongs to it)
            const used = selfCpuMs(srv.pid) - cpu0;
            w.after?.();
            if (!r.ok) failed = { error: `${kind}: ${r.error ?? "failed"}` };
            else if (!warm) {
              samples[kind].push(r);
              cpu[kind].push(used);
            }
          }
        }
        const med = (xs: LoadResult[]) => median(xs.map((x) => x.value ?? 0));
        row[name] = failed ?? {
          value: med(samples.ops),
          paired: med(samples.plain),
          cpu: { ops: median(cpu.ops), plain: median(cpu.plain) },
          wallMs: median(samples.ops.map((x) => x.wallMs)),
          cpuFrac: median(samples.ops.map((x) => (x.wallMs > 0 ? x.cpuMs / x.wallMs : 0))),
        };
        const c = row[name]!;
        log(`  ${c.error ? `error: ${c.error}` : `${fmt(c.value ?? 0, w.unit)} ${w.unit} vs plain ${fmt(c.paired ?? 0, w.unit)}; server CPU ${c.cpu?.ops} vs ${c.cpu?.plain} ms per run`}`);
        continue;
      }
      if (!s) {
        row[name] = { error: "not available" };
        continue;
      }
      if (w.id === "ftps-retr-1" && name === "pyftpdlib") {
        if (!pyTls) {
          row[name] = { na: "pyftpdlib TLS needs pyOpenSSL and a certificate" };
          continue;
        }
        s = pyTls;
      }
      if (w.id === "ftps-retr-1" && name === "proftpd") {
        if (!proTls) {
          row[name] = { na: "ProFTPD TLS needs mod_tls (proftpd-mod-crypto) and a certificate" };
          continue;
        }
        s = proTls;
      }
      if (w.id === "memory") {
        // A fresh process: otherwise earlier workloads leave freed heap that new sessions reuse
        // (pyftpdlib then "costs" 0 KiB per session). One small login run warms the code paths.
        log(`${name}: restarting for the memory row…`);
        await stopServer(s);
        running.delete(s);
        try {
          s = await starters[name]();
        } catch (e) {
          row[name] = { error: `restart failed: ${(e as Error).message}` };
          continue;
        }
        running.add(s);
        servers.set(name, s);
        await runLoad({ kind: "login", port: s.port, user: acct.user, pass: acct.pass, n: 20, concurrency: 5, maxMs: 10_000 }, 60_000);
      }
      log(`${w.id} · ${name}…`);
      const server = s;
      try {
        row[name] =
          w.id === "memory"
            ? await runSessions(w.spec(name, server.port, 0, false) as Extract<LoadSpec, { kind: "sessions" }>, server).then(
                // No ⚠ here: the generator's CPU is spent logging in, not during the measurement.
                (r): Cell => (r.ok ? { value: r.value, wallMs: r.wallMs, detail: r.detail } : { error: r.error ?? "failed" }),
              )
            : await measureReps((rep, warm) => w.spec(name, server.port, rep, warm), w.timeoutMs, server, w.after);
      } finally {
        w.after?.();
      }
      const c = row[name]!;
      log(`  ${c.error ? `error: ${c.error}` : c.na ? `n/a: ${c.na}` : `${fmt(c.value ?? 0, w.unit)} ${w.unit}${c.detail ? ` (${c.detail})` : ""}`}`);
    }
  }

  if (scraper) clearInterval(scraper);
  // Client rows: ftpkit's client vs curl and lftp against the same server (pyftpdlib is left out: it
  // would measure Python, not the clients). ProFTPD verifies with mod_digest's HASH, which reads
  // the file again for every digest asked.
  const clientWs = CLIENT_WORKLOADS.filter((w) => args.workloads?.includes(w) ?? true);
  const clientResults = new Map<string, Map<ClientWorkload, Record<string, { value?: number; error?: string; na?: string }>>>();
  if (clientWs.length > 0) {
    if (clientWs.some(isTreeWorkload)) {
      ensureTree(acct.home);
      chownTree(acct.home, acct.user);
    }
    for (const name of ["ftpkit", "vsftpd", "proftpd"] as const) {
      const s = servers.get(name);
      if (!s) continue;
      log(`client rows against ${name}…`);
      clientResults.set(
        name,
        await runClientRows(clientWs, { server: name, port: s.port, serverPid: s.pid, user: acct.user, pass: acct.pass, home: acct.home, big: data.big, bigSize: profile.bigSize, tls: cert !== undefined && name !== "proftpd", reps: profile.reps, warmup: profile.warmup, work, log }),
      );
    }
  }

  await stopEverything();

  const shown = SERVERS.filter((s) => args.only.includes(s));
  const { table, notes } = renderTable(ws, results, shown);
  if (clientResults.size > 0) notes.push(...clientNotes(clientResults as Parameters<typeof clientNotes>[0]));
  for (const [name, why] of unavailable) notes.unshift(`${name} not available: ${why}`);
  const command = `bun run bench${process.argv.length > 2 ? ` ${process.argv.slice(2).join(" ")}` : ""}`;
  const p = profile;
  const legend = [
    `Each cell is the median of ${p.reps} runs after ${p.warmup} warm-up run(s); (N×) is the ratio to vsftpd of the same number (for ms and KiB lower is better).`,
    `MB = 10^6 bytes. Transfers are timed from PASV to the final 226, after login; retr/stor-${p.manyClients} also show the wall time of the whole batch.`,
    `⚠ = the load generator used ≥ ${CPU_BOUND * 100}% of a core during the measurement: that result is a lower bound for the server.`,
    "n/a = the server lacks the feature (vsftpd has no MLSD; FTPS needs AUTH TLS in FEAT). † = see the notes below.",
  ];
  const out = [
    `Command: \`${command}\`${args.quick ? " (quick mode: smaller sizes and counts, fewer repetitions)" : ""}`,
    "",
    ...machine(),
    "",
    ...(ws.length > 0 ? [table, ""] : []),
    ...(clientResults.size > 0
      ? [
          `Client (MB/s, wall time of the whole command; (N×) is the median over rounds of the ratio to curl's run of the same round, to lftp's for trees; tree rows run at least ${TREE_MIN_REPS} rounds):`,
          "",
          renderClientTable(clientResults as Parameters<typeof renderClientTable>[0], profile.bigSize / MiB),
          "",
          "CPU time per run of the ftpkit client rows (medians; server = its process and the session processes it reaped), and the fastest ratio to the reference that much CPU time allows when client and server share this machine's cores:",
          "",
          clientCpuTable(clientResults as Parameters<typeof clientCpuTable>[0], profile.bigSize / MiB),
          "",
        ]
      : []),
    ...(ws.length > 0 ? legend.map((l) => `- ${l}`) : []),
    ...(notes.length > 0 ? ["", "Notes:", ...notes.map((n) => `- ${n}`)] : []),
  ].join("\n");
  console.log(`\n${out}\n`);

  // Keep hand-written findings (a "## Findings" section) across runs.
  let findings = "";
  if (existsSync(args.out)) {
    const old = readFileSync(args.out, "utf8");
    const at = old.indexOf("\n## Findings");
    if (at >= 0) findings = old.slice(at);
  }
  writeFileSync(args.out, `# ftpkit benchmark results\n\n${out}\n${findings}`);
  log(`wrote ${args.out} in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}

try {
  await main();
} catch (e) {
  console.error(`bench failed: ${(e as Error).message}`);
  process.exitCode = 1;
} finally {
  await stopEverything();
}
process.exit(process.exitCode ?? 0);
