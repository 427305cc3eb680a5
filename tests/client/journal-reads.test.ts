// A resumed tree job reads its log of files (.ftpkit/transfers/ID.done) once: it was read whole four
// times (its compaction, the finished files, the started downloads twice), 424 MB at the peak for a
// job of 100,000 files. Counted through node:fs, in this process: the resume runs here.
import { afterEach, expect, setDefaultTimeout, spyOn, test } from "bun:test";
import * as fs from "node:fs";
import { join } from "node:path";
import { scanRecords } from "../../client/journal.ts";
import { quietTransferOptions } from "../../client/options.ts";
import { resumeTree } from "../../client/tree-job.ts";
import { runFtpkit } from "../helpers/peers.ts";
import { useFakeServerWork } from "./fake-server.ts";
import { startRefusingTree } from "./scripted-server.ts";

setDefaultTimeout(30_000);

const t = useFakeServerWork();
const password = process.env.FTPKIT_PASSWORD;

afterEach(() => {
  if (password === undefined) delete process.env.FTPKIT_PASSWORD;
  else process.env.FTPKIT_PASSWORD = password;
});

test("a resumed tree download reads its log of files once, and still skips what was done and fetches the rest", async () => {
  const names = ["a.txt", "b.txt", "bad0.txt", "bad1.txt"];
  const server = startRefusingTree(names);
  const reads = spyOn(fs, "readFileSync");
  try {
    const url = `ftp://u:p@127.0.0.1:${server.port}/t`;
    const first = await runFtpkit(["get", "-r", "--parallel", "1", url, "out"], { cwd: t.work });
    expect(first.code).toBe(8);
    const dir = join(t.work, ".ftpkit/transfers");
    const [rec] = scanRecords(dir).records;
    expect(rec?.kind).toBe("tree");
    server.stopRefusing();
    process.env.FTPKIT_PASSWORD = "p";
    reads.mockClear();
    const report = await resumeTree(rec!, quietTransferOptions(dir, { keepPassword: false }));
    const logReads = reads.mock.calls.filter(([path]) => String(path).endsWith(`${rec!.id}.done`));
    expect(logReads).toHaveLength(1);
    expect(report.copied).toBe(2);
    expect(report.skipped).toBe(2);
    expect(server.commands.filter((c) => c === "RETR /t/a.txt")).toHaveLength(1);
    for (const n of names) expect(fs.readFileSync(join(t.work, "out", n), "utf8")).toBe("ok\n");
  } finally {
    reads.mockRestore();
    server.stop();
  }
});
