// `bun bench/profile.ts <workload> [reps]`: runs ftpkit under `bun --cpu-prof --cpu-prof-md`, drives
// one bench workload against it `reps` times, stops it with SIGINT (so the profile is written) and
// prints where the profile went. HEAP=1 takes a heap profile (--heap-prof-md) instead. Needs the data set of a previous `bun run bench` (bench/work/home).
// Workloads: retr-1 ftps-retr-1 stor-1 retr-100 stor-100 login-seq login-conc list mlsd sessions.
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import type { LoadSpec } from "./load.ts";
import { BENCH_DIR, REPO_DIR, spawnPiped, spawnServer } from "./servers.ts";
import { FtpLite } from "./ftp-lite.ts";

const [workload = "stor-1", repsArg = "3"] = process.argv.slice(2);
const reps = Number(repsArg);
const work = join(BENCH_DIR, "work");
const home = join(work, "home");
const users = join(work, "ftpkit-users.ini");
const port = 22131;
const profDir = join(work, "prof", `${workload}-${Date.now()}`);
if (!existsSync(users) || !existsSync(home)) throw new Error("run `bun run bench --quick` once first (it makes the data and the users file)");
mkdirSync(profDir, { recursive: true });

// The largest data set present (a full run's, when there was one).
const pick = (re: RegExp) =>
  readdirSync(home)
    .filter((f) => re.test(f))
    .sort((a, b) => Number(b.replace(/\D/g, "")) - Number(a.replace(/\D/g, "")))[0];
const big = pick(/^big-\d+\.bin$/);
const many = pick(/^many-\d+$/);
const dir = pick(/^dir-\d+$/);
if (!big || !many || !dir) throw new Error("data set incomplete: run `bun run bench --quick` first");
const bigSize = statSync(join(home, big)).size;
const manyFiles = readdirSync(join(home, many)).sort().map((f) => `/${many}/${f}`);
const manySize = statSync(join(home, many, readdirSync(join(home, many))[0]!)).size;
const base = { port, user: "ftpbench", pass: "bench-Pw-2718" };
const up = (n: number, rep: number) => Array.from({ length: n }, (_, i) => `/up/prof-${rep}-${i}.bin`);

const specs: Record<string, (rep: number) => LoadSpec> = {
  "retr-1": () => ({ kind: "retr", ...base, paths: [`/${big}`], size: bigSize }),
  "ftps-retr-1": () => ({ kind: "retr", ...base, paths: [`/${big}`], size: bigSize, tls: true }),
  "stor-1": (rep) => ({ kind: "stor", ...base, paths: up(1, rep), size: bigSize }),
  "retr-100": () => ({ kind: "retr", ...base, paths: manyFiles, size: manySize }),
  "stor-100": (rep) => ({ kind: "stor", ...base, paths: up(manyFiles.length, rep), size: manySize }),
  "login-seq": () => ({ kind: "login", ...base, n: 3000, concurrency: 1, maxMs: 5_000 }),
  "login-conc": () => ({ kind: "login", ...base, n: 10_000, concurrency: 50, maxMs: 5_000 }),
  list: () => ({ kind: "listing", ...base, verb: "LIST", path: `/${dir}`, minLines: 1 }),
  mlsd: () => ({ kind: "listing", ...base, verb: "MLSD", path: `/${dir}`, minLines: 1 }),
  sessions: () => ({ kind: "sessions", ...base, n: 1000, concurrency: 50, holdMs: 2_000 }),
};
const make = specs[workload];
if (!make) throw new Error(`unknown workload ${workload}; one of ${Object.keys(specs).join(" ")}`);

const log = join(profDir, "server.log");
const cert = join(work, "tls", "cert.pem");
const tlsFlags = existsSync(cert) ? ["--tls-cert", cert, "--tls-key", join(work, "tls", "key.pem")] : [];
const server = spawnServer(
  [process.execPath, ...(process.env.HEAP ? ["--heap-prof-md", `--heap-prof-dir=${profDir}`] : ["--cpu-prof", "--cpu-prof-md", `--cpu-prof-dir=${profDir}`]), join(REPO_DIR, "cli", "ftpkit.ts"), "serve", "--users", users, "--port", String(port), "--host", "127.0.0.1", "--pasv-ports", "44000-44999", "--max-connections", "5000", "--max-per-ip", "5000", "--idle-timeout", "600", ...tlsFlags],
  log,
);
try {
  for (let i = 0; ; i++) {
    try {
      await (await FtpLite.connect("127.0.0.1", port, 1_000)).quit();
      break;
    } catch {
      if (i > 100) throw new Error("ftpkit did not start");
      await Bun.sleep(100);
    }
  }
  for (let rep = 0; rep < reps; rep++) {
    const p = spawnPiped([process.execPath, join(BENCH_DIR, "load.ts"), JSON.stringify(make(rep))]);
    p.stdin.end();
    const out = await new Response(p.stdout).text();
    await p.exited;
    console.log(out.trim().split("\n").slice(-1)[0]);
    rmSync(join(home, "up"), { recursive: true, force: true });
    mkdirSync(join(home, "up"), { recursive: true });
  }
} finally {
  process.kill(server.pid, "SIGINT");
  await Promise.race([server.exited, Bun.sleep(15_000)]);
  if (server.exitCode === null) process.kill(server.pid, "SIGKILL");
}
console.log(`profile in ${profDir}: ${readdirSync(profDir).join(", ")}`);
