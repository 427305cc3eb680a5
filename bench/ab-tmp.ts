// temporary A/B probe (not committed)
import { join } from "node:path";
import { readdirSync, rmSync } from "node:fs";
import { startFtpkit, stopServer, spawnPiped, BENCH_DIR, selfCpuMs } from "./servers.ts";
const work = join(BENCH_DIR, "work");
const acct = { user: "ftpbench", pass: "bench-Pw-2718", home: join(work, "home") };
const tls = { cert: join(work, "tls/cert.pem"), key: join(work, "tls/key.pem") };
const variants: Record<string, string[]> = JSON.parse(process.argv[2]!);
const servers: Record<string, any> = {};
let port = 23130, pasv = 46000;
for (const [k, extra] of Object.entries(variants)) {
  servers[k] = await startFtpkit({ acct, port: port++, pasv: [pasv, pasv + 999], work, tls, extraArgs: extra });
  pasv += 1000;
}
const scraper = setInterval(() => void fetch("http://127.0.0.1:23139/metrics").then((r) => r.text()).catch(() => {}), 1000);
const size = Number(process.argv[3] ?? 256) << 20;
const res: Record<string, number[]> = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
const thr: Record<string, number[]> = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
try {
  for (let i = 0; i < 6; i++) {
    const ks = Object.keys(variants);
    for (const k of i % 2 ? ks.reverse() : ks) {
      const spec = { kind: "stor", port: servers[k].port, user: acct.user, pass: acct.pass, paths: [`/up/ab-${k}-${i}.bin`], size };
      const before = selfCpuMs(servers[k].pid);
      const p = spawnPiped([process.execPath, join(BENCH_DIR, "load.ts"), JSON.stringify(spec)]);
      const out = await new Response(p.stdout).text();
      await p.exited;
      await Bun.sleep(200);
      const r = JSON.parse(out.trim().split("\n").pop()!);
      const cpu = selfCpuMs(servers[k].pid) - before;
      if (i > 0) { res[k]!.push(cpu); thr[k]!.push(r.value); }
      for (const f of readdirSync(join(acct.home, "up"))) rmSync(join(acct.home, "up", f));
    }
  }
} finally {
  clearInterval(scraper);
  for (const s of Object.values(servers)) await stopServer(s);
}
const med = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1]!;
for (const k of Object.keys(variants)) console.log(k, "cpu", med(res[k]!), "MB/s", med(thr[k]!).toFixed(0));
