// A drop box's uploader (write, no modify) can neither resume, replace nor delete a file. What an
// upload that failed there wrote (a 552 in a full box, an ABOR) stayed: the name was taken for good
// (every retry "550 Permission denied") and its bytes filled the box. Such an upload now removes its
// file; an account that may modify keeps its partial bytes to resume, as before.
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { useServers } from "../helpers/server.ts";
import type { UserSpec } from "../helpers/users.ts";
import { finalCode, random } from "../helpers/quota.ts";
import { waitFor } from "../helpers/peers.ts";

const servers = useServers();
const KB = 1000;

const users: UserSpec[] = [
  { name: "anonymous", home: "home/anon", perms: ["read"], mounts: [{ vpath: "/incoming", dir: "home/incoming", perms: ["write"], quota: 100 * KB }] },
  { name: "bob", password: "bob-pw", home: "home/bob", mounts: [{ vpath: "/in", dir: "home/incoming", perms: ["read", "write", "modify"], quota: 100 * KB }] },
];

async function start() {
  return servers.start({
    users,
    setup(root) {
      for (const d of ["home/anon", "home/bob", "home/incoming"]) mkdirSync(join(root, d), { recursive: true });
    },
  });
}

describe("a failed upload into a write-only drop box", () => {
  test("over the box's limit (552): nothing is left under its name, and the same name is taken once there is room", async () => {
    const srv = await start();
    const box = join(srv.root, "home/incoming");
    const anon = await servers.login("anonymous", "guest@");
    expect(finalCode(await anon.transfer("STOR /incoming/first.bin", random(70 * KB)))).toBe(226);
    expect(finalCode(await anon.transfer("STOR /incoming/second.bin", random(50 * KB)))).toBe(552);
    expect(existsSync(join(box, "second.bin"))).toBe(false);
    // Its bytes were given back: 30 KB still fit.
    expect(finalCode(await anon.transfer("STOR /incoming/third.bin", random(30 * KB)))).toBe(226);
    const bob = await servers.login("bob", "bob-pw");
    expect((await bob.cmd("DELE /in/first.bin")).code).toBe(250);
    const body = random(50 * KB);
    expect(finalCode(await anon.transfer("STOR /incoming/second.bin", body))).toBe(226);
    expect(readFileSync(join(box, "second.bin"))).toEqual(Buffer.from(body));
  });

  test("a client killed mid-upload (kill -9: its kernel ends the data connection with a FIN, the control connection with it): nothing is left under the name", async () => {
    const srv = await start();
    // Python's ftplib sends part of a file and waits; kill -9 then closes both its sockets at once.
    const py = `
import ftplib, sys, time
f = ftplib.FTP(); f.connect("127.0.0.1", ${srv.port}, timeout=10); f.login("anonymous", "guest@"); f.voidcmd("TYPE I")
conn = f.transfercmd("STOR /incoming/killed.bin")
conn.sendall(b"K" * 20000)
print("sent", flush=True)
time.sleep(60)
`;
    const proc = Bun.spawn(["python3", "-c", py], { stdout: "pipe", stderr: "inherit" });
    try {
      const out = { text: "" };
      const reader = (async () => {
        for await (const chunk of proc.stdout) out.text += new TextDecoder().decode(chunk);
      })();
      await waitFor(() => out.text.includes("sent") || proc.exitCode !== null, 10_000, "the bytes sent");
      proc.kill(9);
      await proc.exited;
      await reader;
    } finally {
      proc.kill(9);
    }
    const name = join(srv.root, "home/incoming/killed.bin");
    await waitFor(() => !existsSync(name), 5000, "the partial file to go");
    const retry = await servers.login("anonymous", "guest@");
    const body = random(KB);
    expect(finalCode(await retry.transfer("STOR /incoming/killed.bin", body))).toBe(226);
    expect(readFileSync(name)).toEqual(Buffer.from(body));
  });

  test("a name already taken is refused saying so, before any 150", async () => {
    await start();
    const anon = await servers.login("anonymous", "guest@");
    expect(finalCode(await anon.transfer("STOR /incoming/a.bin", random(KB)))).toBe(226);
    expect((await anon.transfer("STOR /incoming/a.bin", random(KB))).first).toEqual({ code: 550, lines: ["File exists; this account may not replace it"] });
  });

  test("an account that may modify the file keeps the file its 552 left (to resume it), as before", async () => {
    const srv = await start();
    const bob = await servers.login("bob", "bob-pw");
    expect(finalCode(await bob.transfer("STOR /in/first.bin", random(70 * KB)))).toBe(226);
    expect(finalCode(await bob.transfer("STOR /in/partial.bin", random(50 * KB)))).toBe(552);
    // What was stored before the chunk that would have crossed the limit (none here: one chunk).
    expect(statSync(join(srv.root, "home/incoming/partial.bin")).size).toBeLessThanOrEqual(30 * KB);
  });
});
