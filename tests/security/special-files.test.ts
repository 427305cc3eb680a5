// Named pipes, sockets and device nodes inside a served tree (issue 9, item 2): never opened in a
// way that blocks the event loop, never served or listed; other sessions stay answered.
import { describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, readFileSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { useServers } from "../helpers/server.ts";

const servers = useServers();

/** Resolves once process `pid` waits in open(2) for the other end of a FIFO (bounded). */
async function waitingOnFifo(pid: number): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    let wchan = "";
    try {
      wchan = readFileSync(`/proc/${pid}/wchan`, "utf8");
    } catch {}
    if (wchan === "wait_for_partner") return;
    if (Date.now() > deadline) throw new Error(`process ${pid} is not waiting on the FIFO (wchan ${JSON.stringify(wchan)})`);
    await Bun.sleep(10);
  }
}

/** Whether `proc` is still running after `ms` (a bounded look for an exit that must not come). */
async function stillRunning(proc: Bun.Subprocess, ms: number): Promise<boolean> {
  return (await Promise.race([proc.exited.then(() => false), Bun.sleep(ms).then(() => true)])) as boolean;
}

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

  test("a FIFO is never opened for I/O: a local writer or reader waiting on it keeps waiting through RETR, XSHA256, MFMT, APPE, REST+STOR or STOR", async () => {
    const srv = await servers.start({
      setup(root) {
        mkfifo(join(root, "home/alice/to-reader"));
        mkfifo(join(root, "home/alice/from-writer"));
      },
    });
    const home = srv.home("alice");
    // A local program handing data to another through a FIFO: its open waits for the other end.
    const writer = Bun.spawn(["sh", "-c", 'printf local-secret > "$0"', join(home, "from-writer")], { stdout: "ignore", stderr: "ignore" });
    const reader = Bun.spawn(["cat", join(home, "to-reader")], { stdout: "pipe", stderr: "ignore" });
    try {
      await waitingOnFifo(writer.pid);
      await waitingOnFifo(reader.pid);
      const w = await servers.login();
      expect((await w.transfer("RETR from-writer")).first.code).toBe(550);
      expect((await w.cmd("XSHA256 from-writer", 2000)).code).toBe(550);
      expect((await w.cmd("MFMT 20200101000000 from-writer", 2000)).code).toBe(550);
      const appe = await w.transfer("APPE to-reader", Buffer.from("x"));
      expect([appe.first.code, appe.final?.code]).toContain(550);
      expect((await w.cmd("REST 1", 2000)).code).toBe(350);
      const rest = await w.transfer("STOR to-reader", Buffer.from("x"));
      expect(rest.final?.code ?? rest.first.code).toBeGreaterThanOrEqual(550);
      const stor = await w.transfer("STOR to-reader", Buffer.from("new"));
      expect(stor.final?.code ?? stor.first.code).toBe(550);
      // Opened, the writer's open would have returned (its bytes lost, or SIGPIPE), and the reader seen an end of file.
      expect(await stillRunning(writer, 500)).toBe(true);
      expect(await stillRunning(reader, 0)).toBe(true);
    } finally {
      writer.kill(9);
      reader.kill(9);
      await Promise.all([writer.exited, reader.exited]);
    }
  }, 20_000);
  test("STOR and APPE onto a FIFO or a dangling symlink (inside, or leading out) get 550 before any 150, STOU takes the next name; nothing is created or followed", async () => {
    const srv = await servers.start({
      setup(root) {
        mkfifo(join(root, "home/alice/pipe"));
        symlinkSync("nowhere", join(root, "home/alice/dangling"));
        symlinkSync(join(root, "home/outside-target"), join(root, "home/alice/dangling-out"));
      },
    });
    const home = srv.home("alice");
    const w = await servers.login();
    for (const name of ["pipe", "dangling", "dangling-out"]) {
      for (const verb of ["STOR", "APPE"]) {
        const r = await w.transfer(`${verb} ${name}`, Buffer.from("data"));
        expect([`${verb} ${name}`, r.first.code]).toEqual([`${verb} ${name}`, 550]);
        // A link leading out is refused as any escaping link is ("Permission denied"), as APPE's lock of an existing name refuses a non-file.
        if (verb === "STOR" && name !== "dangling-out") expect(r.first.lines[0]).toBe("File exists: not a regular file");
        expect(r.final).toBeNull();
      }
    }
    // STOU passes over such a name as over a taken one.
    const stou = await w.transfer("STOU dangling", Buffer.from("data"));
    expect([stou.first.lines[0], stou.final?.code]).toEqual(["FILE: dangling.1", 226]);
    expect(existsSync(join(home, "nowhere"))).toBe(false);
    expect(existsSync(join(srv.root, "home/outside-target"))).toBe(false);
    expect(lstatSync(join(home, "dangling")).isSymbolicLink()).toBe(true);
    expect(lstatSync(join(home, "pipe")).isFIFO()).toBe(true);
    expect((await w.cmd("NOOP", 2000)).code).toBe(200);
  }, 20_000);

  test("DELE of a FIFO is refused and it stays; RMD of a directory holding only a FIFO and a dangling link says why it is not empty", async () => {
    await servers.start({
      setup(root) {
        const home = join(root, "home/alice");
        mkdirSync(join(home, "ghost"));
        mkfifo(join(home, "ghost/pipe"));
        symlinkSync("nothing-here", join(home, "ghost/dangling"));
      },
    });
    const home = servers.server.home("alice");
    const w = await servers.login();
    expect((await w.cmd("DELE ghost/pipe")).code).toBe(550);
    expect(lstatSync(join(home, "ghost/pipe")).isFIFO()).toBe(true);
    expect(lstatSync(join(home, "ghost/dangling")).isSymbolicLink()).toBe(true);
    // Listed empty; before, a bare "Directory not empty" for ever.
    expect((await w.transfer("MLSD ghost")).data.toString().trim().split("\r\n")).toHaveLength(1);
    expect(await w.cmd("RMD ghost")).toEqual({
      code: 550,
      lines: ["Directory not empty: it holds only entries FTP does not show (links to nothing or out of the home, special files, names with line breaks), which only an administrator can remove"],
    });
  });
});
