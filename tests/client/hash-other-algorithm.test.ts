// A server whose FEAT lists SHA-256 for HASH but whose HASH answers with another algorithm.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { removeDir, runFtpkit, tempDir } from "../helpers/peers.ts";
import { sendsFile, startScriptedServer } from "./scripted-server.ts";

let work: string;
beforeEach(() => {
  work = tempDir();
});
afterEach(() => removeDir(work));

test("HASH answered with MD5 where FEAT lists SHA-256*: the note says so, not that the server offers no sha256 hash; size verified only", async () => {
  const data = Buffer.from(crypto.getRandomValues(new Uint8Array(200_000)));
  const md5 = createHash("md5").update(data).digest("hex");
  const scripted = startScriptedServer({
    feat: ["SIZE", "HASH SHA-256*;MD5"],
    on: {
      RETR: sendsFile(data),
      SIZE: (c) => c.reply(213, String(data.length)),
      HASH: (c, arg) => c.reply(213, `MD5 0-${data.length} ${md5} ${arg}`),
    },
  });
  const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${scripted.port}/f.bin`], { cwd: work }).finally(() => scripted.stop());
  expect(r.code).toBe(0);
  expect(r.stderr).toContain("the server did not give the sha256 digest (HASH answered with MD5, not SHA-256); verified size only");
  expect(r.stderr).not.toContain("offers no");
  expect(readFileSync(join(work, "f.bin")).equals(data)).toBe(true);
}, 30_000);
