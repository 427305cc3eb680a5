// `bun run bench --s3 [--quick]`: the S3-home rows (issue 11). Starts its own radosgw
// (../shared/s3/start-rgw.sh with RGW_OSD_STORE=bluestore and 16 GiB of sparse capacity: the run
// writes several GiB, more than the default in-RAM memstore holds) and stops it at the end;
// `--s3-env` uses the S3_* variables of the environment instead. Measures, against the same radosgw:
// RETR and STOR of one big file through an ftpkit user whose home is s3://…, Bun's S3Client alone
// (the limit for us), LIST of 10,000 objects, and memory per upload in flight.
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { closeSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { createBucket } from "../../shared/s3/s3-bucket.ts";
import { fillPattern } from "./pattern.ts";
import { BENCH_DIR, REPO_DIR, selfCpuMs, startFtpkit, stopServer, treePssKiB, type RunningServer } from "./servers.ts";

const MiB = 1 << 20;
const RGW_SCRIPTS = join(REPO_DIR, "..", "shared", "s3");
/** Capacity of the bench's own radosgw (a sparse file: only what is written takes disk). */
const RGW_STORE_BYTES = 16 * 1024 ** 3;

export interface S3BenchPorts {
  ftpkit: number;
  pasv: [number, number];
  /** The bench's own radosgw (outside Ceph's 6800–7300). */
  rgw: number;
}

/** Start a bluestore radosgw in `dir` on `port`; sets S3_* in process.env (the ftpkit server inherits them). */
async function startRgw(dir: string, port: number): Promise<() => Promise<void>> {
  const p = Bun.spawn(["bash", join(RGW_SCRIPTS, "start-rgw.sh"), dir, String(port)], {
    env: { ...process.env, RGW_OSD_STORE: "bluestore", RGW_STORE_BYTES: String(RGW_STORE_BYTES) },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  const stop = async () => {
    await Bun.spawn(["bash", join(RGW_SCRIPTS, "stop-rgw.sh"), dir], { stdout: "ignore", stderr: "ignore" }).exited;
  };
  if (code !== 0) {
    await stop();
    throw new Error(`radosgw did not start (start-rgw.sh ${dir} ${port}): ${err.trim().split("\n").slice(-5).join(" | ")}`);
  }
  for (const line of out.split("\n")) {
    const m = /^(S3_[A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) process.env[m[1]!] = m[2]!;
  }
  return stop;
}

interface Row {
  label: string;
  unit: string;
  ftpkit?: number;
  limit?: number;
  target?: string;
  met?: boolean;
  detail?: string;
}

function ensureFile(path: string, size: number): void {
  const pattern = fillPattern(11);
  const fd = openSync(path, "w");
  try {
    for (let pos = 0, chunk = 0; pos < size; pos += MiB, chunk++) {
      pattern.writeUInt32LE(chunk, 0);
      writeSync(fd, pattern, 0, Math.min(MiB, size - pos), pos);
    }
  } finally {
    closeSync(fd);
  }
}

async function curl(args: string[], timeoutMs: number): Promise<{ ms: number; code: number; err: string }> {
  const t0 = performance.now();
  const p = Bun.spawn(["curl", "-sS", "--max-time", String(Math.ceil(timeoutMs / 1000)), ...args], { stdout: "ignore", stderr: "pipe" });
  const err = await new Response(p.stderr).text();
  const code = await p.exited;
  return { ms: performance.now() - t0, code, err };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

export async function runS3Bench(opts: { quick: boolean; reps?: number; ports: S3BenchPorts; useEnv: boolean; onStop(stop: () => Promise<void>): void }): Promise<string> {
  let rgwNote = "its own radosgw (bluestore)";
  if (opts.useEnv) {
    if (!process.env.S3_ENDPOINT) throw new Error("--s3-env: S3_ENDPOINT is not set (start radosgw with ../shared/s3/start-rgw.sh and export its S3_* lines)");
    rgwNote = "the radosgw of S3_ENDPOINT";
  } else {
    const stopRgw = await startRgw(join(BENCH_DIR, "work", `rgw-${opts.ports.rgw}`), opts.ports.rgw);
    opts.onStop(stopRgw);
  }
  const PORT = opts.ports.ftpkit;
  const PASV = opts.ports.pasv;
  const size = (opts.quick ? 256 : 1024) * MiB;
  const reps = opts.reps ?? (opts.quick ? 1 : 3);
  const listN = 10_000;
  const work = join(BENCH_DIR, ".work-s3");
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const bucket = `bench-${crypto.randomUUID().slice(0, 12)}`;
  await createBucket(bucket, {
    endpoint: process.env.S3_ENDPOINT!,
    accessKeyId: process.env.S3_ACCESS_KEY_ID ?? "",
    secretAccessKey: process.env.S3_SECRET_ACCESS_KEY ?? "",
    region: process.env.S3_REGION ?? "us-east-1",
  });
  const s3 = new Bun.S3Client({
    endpoint: process.env.S3_ENDPOINT,
    region: process.env.S3_REGION,
    bucket,
    accessKeyId: process.env.S3_ACCESS_KEY_ID,
    secretAccessKey: process.env.S3_SECRET_ACCESS_KEY,
  });
  const src = join(work, "big.bin");
  ensureFile(src, size);
  const mbps = (ms: number) => size / 1e6 / (ms / 1000);
  const rows: Row[] = [];
  let server: RunningServer | undefined;
  try {
    server = await startFtpkit({ acct: { user: "s3bench", pass: "bench-Pw-2718", home: `s3://${bucket}/home` }, port: PORT, pasv: PASV, work });
    const base = `ftp://s3bench:bench-Pw-2718@127.0.0.1:${PORT}`;
    // Side by side, rep by rep: the limit (Bun's S3Client alone, same part size and parallelism as
    // our uploads) and then ftpkit, so both see the same machine load.
    const bunStor: number[] = [];
    const bunRetr: number[] = [];
    const bunRetrCpu: number[] = [];
    const stor: number[] = [];
    const retr: number[] = [];
    const storCpu: number[] = [];
    const retrCpu: number[] = [];
    const gib = size / 1024 ** 3;
    for (let i = 0; i < reps; i++) {
      let t0 = performance.now();
      await s3.write("limit/big.bin", Bun.file(src), { partSize: 8 * MiB, queueSize: 4 });
      bunStor.push(mbps(performance.now() - t0));
      t0 = performance.now();
      const cpu0 = process.cpuUsage();
      const reader = s3.file("limit/big.bin").stream().getReader();
      let got = 0;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        got += value.length;
      }
      if (got !== size) throw new Error(`Bun S3 read ${got} of ${size} bytes`);
      bunRetr.push(mbps(performance.now() - t0));
      const cpu = process.cpuUsage(cpu0);
      bunRetrCpu.push((cpu.user + cpu.system) / 1000 / gib);
      await s3.delete("limit/big.bin");

      let c0 = selfCpuMs(server.pid);
      const up = await curl(["-T", src, `${base}/big.bin`], 600_000);
      if (up.code !== 0) throw new Error(`curl STOR failed: ${up.err.trim()}`);
      stor.push(mbps(up.ms));
      storCpu.push((selfCpuMs(server.pid) - c0) / gib);
      c0 = selfCpuMs(server.pid);
      const down = await curl(["-o", "/dev/null", `${base}/big.bin`], 600_000);
      if (down.code !== 0) throw new Error(`curl RETR failed: ${down.err.trim()}`);
      retr.push(mbps(down.ms));
      retrCpu.push((selfCpuMs(server.pid) - c0) / gib);
    }
    const runs = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(", ");
    const rs = median(stor);
    const ls = median(bunStor);
    rows.push({ label: `STOR ${size / MiB} MiB into an S3 home (curl)`, unit: "MB/s", ftpkit: rs, limit: ls, target: "≥ 0.8× Bun S3Client", met: rs >= 0.8 * ls, detail: `runs ${runs(stor)} vs ${runs(bunStor)}; server CPU ${median(storCpu).toFixed(0)} ms/GiB` });
    const rr = median(retr);
    const lr = median(bunRetr);
    rows.push({ label: `RETR ${size / MiB} MiB from an S3 home (curl)`, unit: "MB/s", ftpkit: rr, limit: lr, target: "≥ 0.8× Bun S3Client", met: rr >= 0.8 * lr, detail: `runs ${runs(retr)} vs ${runs(bunRetr)}; server CPU ${median(retrCpu).toFixed(0)} ms/GiB, Bun S3Client alone ${median(bunRetrCpu).toFixed(0)} ms/GiB` });

    // Memory per upload in flight: N slow uploads held open, server PSS before and during.
    const n = opts.quick ? 4 : 8;
    await Bun.sleep(1000);
    const idle = treePssKiB(server.pid);
    const procs = Array.from({ length: n }, (_, i) =>
      Bun.spawn(["curl", "-sS", "--limit-rate", "40M", "-T", src, `${base}/mem-${i}.bin`], { stdout: "ignore", stderr: "ignore" }),
    );
    let peak = idle;
    const until = performance.now() + 8_000;
    while (performance.now() < until) {
      await Bun.sleep(250);
      peak = Math.max(peak, treePssKiB(server.pid));
    }
    for (const p of procs) p.kill(9);
    await Promise.all(procs.map((p) => p.exited));
    rows.push({ label: `memory per upload in flight (${n} uploads at 40 MB/s)`, unit: "MiB", ftpkit: (peak - idle) / 1024 / n, target: "≤ 40 MiB (5 parts of 8 MiB)", met: (peak - idle) / 1024 / n <= 40, detail: `PSS ${idle} → ${peak} KiB` });

    // LIST of 10,000 objects: put them with Bun's client (64 at a time), then list.
    const names = Array.from({ length: listN }, (_, i) => `home/dir/file-${String(i).padStart(5, "0")}.txt`);
    for (let i = 0; i < names.length; i += 64) await Promise.all(names.slice(i, i + 64).map((k) => s3.write(k, "x")));
    const listMs: number[] = [];
    const bunListMs: number[] = [];
    for (let i = 0; i < Math.max(3, reps); i++) {
      const l = await curl(["-o", "/dev/null", `${base}/dir/`], 120_000);
      if (l.code !== 0) throw new Error(`curl LIST failed: ${l.err.trim()}`);
      listMs.push(l.ms);
      const t0 = performance.now();
      let token: string | undefined;
      let count = 0;
      do {
        const r = await s3.list({ prefix: "home/dir/", delimiter: "/", continuationToken: token });
        count += r.contents?.length ?? 0;
        token = r.isTruncated ? r.nextContinuationToken : undefined;
      } while (token);
      if (count !== listN) throw new Error(`listed ${count} of ${listN}`);
      bunListMs.push(performance.now() - t0);
    }
    rows.push({ label: `LIST of ${listN} objects (curl, includes login)`, unit: "ms", ftpkit: median(listMs), limit: median(bunListMs), target: "—" });
  } catch (err) {
    // The server's own words (its log is removed with the work directory below).
    if (server) console.error(`ftpkit log (last lines):\n${readFileSync(server.log, "utf8").split("\n").slice(-15).join("\n")}`);
    throw err;
  } finally {
    if (server) await stopServer(server);
    rmSync(work, { recursive: true, force: true });
  }
  const head = "| S3 workload | unit | ftpkit (S3 home) | Bun S3Client alone | ratio | target | met |\n|---|---|---|---|---|---|---|";
  const f = (x?: number) => (x === undefined ? "—" : x >= 100 ? x.toFixed(0) : x.toFixed(1));
  const lines = rows.map(
    (r) =>
      `| ${r.label} | ${r.unit} | ${f(r.ftpkit)}${r.detail ? ` (${r.detail})` : ""} | ${f(r.limit)} | ${r.limit && r.ftpkit ? (r.ftpkit / r.limit).toFixed(2) + "×" : "—"} | ${r.target ?? ""} | ${r.met === undefined ? "—" : r.met ? "✅" : "❌"} |`,
  );
  return `${head}\n${lines.join("\n")}\n\nBucket ${bucket} on ${rgwNote}, ${process.env.S3_ENDPOINT} (left in place; radosgw is throwaway). ${reps} rep(s), median; the Bun S3Client rows run in the bench process itself, alternating with ftpkit's.`;
}

if (import.meta.main) console.error("run it as `bun run bench --s3 [--quick] [--reps N] [--port-base N] [--s3-env]`");
