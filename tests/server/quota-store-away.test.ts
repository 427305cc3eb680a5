// A user whose quota also counts an S3 mount, with the store away: her uploads to her local home go
// on (the mount counts 0 while it cannot be measured, as it always did). For a while this session's
// stricter measure refused them: every STOR 451 "Cannot measure the space in use now", for a user
// without any limit too, and under --workers the login itself was 421 "shared state unreachable".
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, tempDir } from "../helpers/peers.ts";
import { random, finalCode } from "../helpers/quota.ts";
import { cleanedAfterEach, spawnServe } from "../helpers/serve-proc.ts";
import { makeUsersFile } from "../helpers/users.ts";
import { Wire } from "../helpers/wire.ts";

const t = cleanedAfterEach();

for (const workers of [0, 2]) {
  test(`an S3 mount away${workers ? " (--workers 2)" : ""}: users with and without a limit log in and upload to their local homes`, async () => {
    t.dir = tempDir("ftpkit-store-away-");
    const usersFile = await makeUsersFile(t.dir, [
      { name: "carol", password: "carol-pw", quota: 0, mounts: [{ vpath: "/s3", dir: "s3://away-bucket/carol", perms: ["read", "write"], quota: 0 }] },
      { name: "dave", password: "dave-pw", quota: 10_000_000, mounts: [{ vpath: "/s3", dir: "s3://away-bucket/dave", perms: ["read", "write"], quota: 0 }] },
    ]);
    t.srv = await spawnServe(["--users", usersFile, "--s3-endpoint", `http://127.0.0.1:${freePort()}`, ...(workers ? ["--workers", String(workers)] : [])], {
      cwd: t.dir,
      env: { S3_ACCESS_KEY_ID: "k", S3_SECRET_ACCESS_KEY: "s" },
      timeoutMs: 30_000,
    });
    for (const name of ["carol", "dave"]) {
      const w = await Wire.connect(t.srv.port);
      t.wires.push(w);
      expect((await w.login(name, `${name}-pw`)).code).toBe(230);
      await w.cmd("TYPE I");
      expect(finalCode(await w.transfer("STOR /a.bin", random(1000)))).toBe(226);
      // A measure of the whole usage (the S3 mount's fails), then more uploads.
      expect((await w.cmd("SITE QUOTA")).code).toBe(211);
      const body = random(2000);
      expect(finalCode(await w.transfer("STOR /b.bin", body))).toBe(226);
      expect(readFileSync(join(t.dir, "home", name, "b.bin"))).toEqual(Buffer.from(body));
    }
  }, 60_000);
}
