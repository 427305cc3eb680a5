// Named pipes, sockets and device nodes inside a served tree (issue 9, item 2): never opened in a
// way that blocks the event loop, never served or listed; other sessions stay answered.
import { describe, expect, test } from "bun:test";
import { symlinkSync } from "node:fs";
import { join } from "node:path";
import { useServers } from "../helpers/server.ts";

const servers = useServers();

function mkfifo(path: string): void {
  const r = Bun.spawnSync(["mkfifo", path]);
  if (r.exitCode !== 0) throw new Error(`mkfifo failed: ${r.stderr.toString()}`);
}

describe("special files", () => {
  test("RETR, SIZE, MDTM, MLST and APPE of a FIFO get 550 while another session's NOOP is answered", async () => {
    await servers.start({
      setup(root) {
        mkfifo(join(root, "home/alice/pipe"));
        symlinkSync("/dev/zero", join(root, "home/alice/zero-link"));
      },
    });
    const w = await servers.login();
    const other = await servers.login();
    const retr = await w.transfer("RETR pipe");
    expect(retr.first.code).toBe(550);
    expect(retr.data.length).toBe(0);
    // Asked while the RETR above was handled: answered at once, not after the pipe got a writer.
    expect((await other.cmd("NOOP", 2000)).code).toBe(200);
    for (const line of ["SIZE pipe", "MDTM pipe", "MLST pipe"]) expect((await w.cmd(line, 2000)).code).toBe(550);
    const appe = await w.transfer("APPE pipe", Buffer.from("x"));
    expect([appe.first.code, appe.final?.code]).toContain(550);
    expect((await other.cmd("NOOP", 2000)).code).toBe(200);
    const list = await w.transfer("LIST");
    expect(list.data.toString()).not.toContain("pipe");
    // A link to a device outside the home is refused like any escaping link.
    expect((await w.transfer("RETR zero-link")).first.code).toBe(550);
    // New connections still get their greeting.
    const late = await servers.connect();
    expect((await late.read(2000))?.code).toBe(220);
  }, 20_000);
});
