// A tree job's log of files (.ftpkit/transfers/ID.done) gets lines appended for each file a run
// tries: a job whose files keep failing grew at every `ftpkit resume`, without end (10,000 refused
// files: 1.1 MB a run). A resume now rewrites it with only the lines it reads once most are old.
import { expect, setDefaultTimeout, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { runFtpkit } from "../helpers/peers.ts";
import { useFakeServerWork } from "./fake-server.ts";
import { startRefusingTree } from "./scripted-server.ts";

setDefaultTimeout(60_000);

const t = useFakeServerWork();

/** The lines of the one tree job's log in `work`. */
function logLines(work: string): string[] {
  const dir = join(work, ".ftpkit/transfers");
  const [log] = readdirSync(dir).filter((n) => n.endsWith(".done"));
  return readFileSync(join(dir, log!), "utf8").split("\n").filter(Boolean);
}

test("resumes of a tree job whose files keep failing keep its log bounded, and the last resume still skips what was done", async () => {
  const names = ["a.txt", ...Array.from({ length: 5 }, (_, i) => `bad${i}.txt`)];
  const server = startRefusingTree(names);
  try {
    const url = `ftp://u:p@127.0.0.1:${server.port}/t`;
    const first = await runFtpkit(["get", "-r", "--parallel", "1", url, "out"], { cwd: t.work });
    expect(first.code).toBe(8);
    const afterFirst = logLines(t.work).length;
    let most = 0;
    for (let i = 0; i < 6; i++) {
      const r = await runFtpkit(["resume"], { cwd: t.work, env: { FTPKIT_PASSWORD: "p" } });
      expect(r.code).toBe(8);
      most = Math.max(most, logLines(t.work).length);
    }
    // Each run adds a line per refused file: 6 runs without compaction add 30.
    expect(most).toBeLessThanOrEqual(2 * afterFirst);
    server.stopRefusing();
    const last = await runFtpkit(["resume"], { cwd: t.work, env: { FTPKIT_PASSWORD: "p" } });
    expect(last.code).toBe(0);
    expect(last.stderr).toMatch(/5 copied .*, 1 skipped, 0 deleted, 0 failed/);
    expect(server.commands.filter((c) => c === "RETR /t/a.txt")).toHaveLength(1);
    for (const n of names) expect(readFileSync(join(t.work, "out", n), "utf8")).toBe("ok\n");
  } finally {
    server.stop();
  }
});
