// The jail holds while another session of the same user renames directories (issue 9, item 1):
// one session swaps a real directory and a symlink to the outside under one name, others keep
// writing, reading, listing, creating and deleting through that name.
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseEpsvReply } from "../../protocol/address.ts";
import { LocalStorage } from "../../server/storage/local.ts";
import { spawnServe, type ServeProcess } from "../helpers/serve-proc.ts";
import { makeUsersFile } from "../helpers/users.ts";
import { Wire } from "../helpers/wire.ts";

const wires: Wire[] = [];
afterEach(() => {
  for (const w of wires.splice(0)) w.close();
});
const RACE_MS = 8000;
const SECRET = "OUTSIDE-SECRET-0123456789";
const INSIDE = "inside";

/** A data command over EPSV whose data connection never blocks the loop for long (errors are fine). */
async function transfer(w: Wire, line: string, upload?: Uint8Array): Promise<{ code: number; text: string; data: string }> {
  const epsv = await w.cmd("EPSV");
  if (epsv.code !== 229) return { code: epsv.code, text: epsv.lines.join("\n"), data: "" };
  const chunks: Buffer[] = [];
  let closed!: () => void;
  const closedP = new Promise<void>((r) => (closed = r));
  const sock = await Bun.connect({
    hostname: "127.0.0.1",
    port: parseEpsvReply(epsv.lines[0]!),
    socket: { data: (_s, c) => void chunks.push(Buffer.from(c)), close: () => closed(), error: () => closed() },
  });
  const first = await w.cmd(line);
  if (first.code >= 400) {
    sock.end();
    return { code: first.code, text: first.lines.join("\n"), data: "" };
  }
  if (upload) {
    sock.write(upload);
    sock.shutdown();
    sock.end();
  }
  await Promise.race([closedP, Bun.sleep(3000)]);
  const final = await w.read(5000);
  return { code: final?.code ?? 0, text: [...first.lines, ...(final?.lines ?? [])].join("\n"), data: Buffer.concat(chunks).toString("latin1") };
}

describe("rename race against the jail", () => {
  let serve: ServeProcess | null = null;
  let root = "";
  afterEach(async () => {
    await serve?.kill();
    serve = null;
    if (root) rmSync(root, { recursive: true, force: true });
  });

  test(
    "sessions racing renames of a directory and an outside symlink: nothing is created, read, listed or deleted outside",
    async () => {
      root = mkdtempSync(join(tmpdir(), "ftpkit-race-"));
      const outside = join(root, "outside");
      mkdirSync(join(outside, "Z"), { recursive: true });
      writeFileSync(join(outside, "Z/data.txt"), SECRET);
      writeFileSync(join(outside, "Z/victim.txt"), SECRET);
      writeFileSync(join(outside, "Z/outside-only.txt"), SECRET);
      const home = join(root, "home/alice");
      mkdirSync(join(home, "Y/Z"), { recursive: true });
      writeFileSync(join(home, "Y/Z/data.txt"), INSIDE);
      symlinkSync(outside, join(home, "Ylink"));
      const usersFile = await makeUsersFile(root, [{ name: "alice", password: "alice-pw", home }]);
      // The server in its own process: clients and server each get a core, as an attacker's would.
      serve = await spawnServe(["--users", usersFile, "--max-per-ip", "20"], { cwd: root });
      const login = async () => {
        const w = await Wire.connect(serve!.port);
        wires.push(w);
        expect((await w.login("alice", "alice-pw")).code).toBe(230);
        return w;
      };
      const renamer = await login();
      const workers = [await login(), await login(), await login()];
      const deadline = Date.now() + RACE_MS;
      const seen: string[] = [];
      const sizes: string[] = [];
      const mlst: number[] = [];
      const listings: string[] = [];
      let ops = 0;
      let renames = 0;

      // The swap of the issue: Y is the real directory or the link almost all the time. Pipelined,
      // so the renames land between another session's check and its use as often as they can.
      const renameLoop = async () => {
        const cycle = ["RNFR Y", "RNTO Yt", "RNFR Ylink", "RNTO Y", "RNFR Y", "RNTO Ylink", "RNFR Yt", "RNTO Y"];
        const steps = [...cycle, ...cycle, ...cycle, ...cycle];
        while (Date.now() < deadline) {
          renamer.raw(steps.map((l) => l + "\r\n").join(""));
          for (let i = 0; i < steps.length; i++) if ((await renamer.read(5000))?.code === 250) renames++;
        }
      };
      const workLoop = async (w: Wire, n: number) => {
        let i = 0;
        while (Date.now() < deadline) {
          i++;
          const batch: string[] = [];
          for (let k = 0; k < 8; k++) batch.push("SIZE Y/Z/data.txt", `MKD Y/Z/dir-${n}-${i}-${k}`, "DELE Y/Z/victim.txt", "MLST Y/Z/outside-only.txt");
          w.raw(batch.map((l) => l + "\r\n").join(""));
          for (let k = 0; k < batch.length; k++) {
            const r = await w.read(5000);
            const text = r?.lines.join("\n") ?? "";
            if (batch[k]!.startsWith("SIZE")) sizes.push(text);
            else if (batch[k]!.startsWith("MLST")) mlst.push(r?.code ?? 0);
            else seen.push(text);
          }
          seen.push((await transfer(w, `STOR Y/Z/pwned-${n}-${i}.txt`, Buffer.from("x"))).text);
          const retr = await transfer(w, "RETR Y/Z/data.txt");
          seen.push(retr.data, retr.text);
          const list = await transfer(w, "LIST Y/Z");
          seen.push(list.data, list.text);
          listings.push(list.data);
          seen.push((await w.cmd("RNFR Y/Z/outside-only.txt")).lines.join(""));
          seen.push((await w.cmd("RNTO moved-out.txt")).lines.join(""));
          ops += batch.length + 5;
        }
      };
      await Promise.all([renameLoop(), ...workers.map((w, n) => workLoop(w, n))]);

      // The race ran (renames happened, work was done), and nothing reached the outside directory.
      expect(renames).toBeGreaterThan(100);
      expect(ops).toBeGreaterThan(200);
      expect(readdirSync(join(outside, "Z")).sort()).toEqual(["data.txt", "outside-only.txt", "victim.txt"]);
      expect(readFileSync(join(outside, "Z/victim.txt"), "utf8")).toBe(SECRET);
      expect(existsSync(join(home, "moved-out.txt"))).toBe(false);
      // No outside byte, name or size was ever sent.
      const all = seen.join("\n");
      expect(all.includes(SECRET)).toBe(false);
      expect(listings.filter((l) => l.includes("outside-only"))).toEqual([]);
      expect(mlst.filter((c) => c === 250)).toEqual([]);
      expect(sizes.filter((s) => s === `213 ${SECRET.length}`)).toEqual([]);
    },
    RACE_MS + 20_000,
  );
});

describe("rename race against the storage backend", () => {
  test("renames between every step of concurrent stat, mkdir, open and list never reach outside", async () => {
    const root = mkdtempSync(join(tmpdir(), "ftpkit-race-"));
    try {
      const outside = join(root, "outside");
      mkdirSync(join(outside, "Z"), { recursive: true });
      writeFileSync(join(outside, "Z/data.txt"), SECRET);
      const home = join(root, "home");
      mkdirSync(join(home, "Y/Z"), { recursive: true });
      writeFileSync(join(home, "Y/Z/data.txt"), INSIDE);
      symlinkSync(outside, join(home, "Ylink"));
      const storage = new LocalStorage(home);
      // A local swapper stands in for the other session: it renames on every turn of the event
      // loop, so it runs between any two awaited steps of the operations below.
      let swaps = 0;
      let stop = false;
      const swap = () => {
        if (stop) return;
        try {
          renameSync(join(home, "Y"), join(home, "Yt"));
          renameSync(join(home, "Ylink"), join(home, "Y"));
          setImmediate(() => {
            try {
              renameSync(join(home, "Y"), join(home, "Ylink"));
              renameSync(join(home, "Yt"), join(home, "Y"));
              swaps++;
            } catch {}
            setImmediate(swap);
          });
        } catch {
          setImmediate(swap);
        }
      };
      swap();
      const leaks: string[] = [];
      const deadline = Date.now() + 3000;
      let i = 0;
      while (Date.now() < deadline) {
        i++;
        // Operations refused without I/O settle in microtasks: let the swapper run every round too.
        await new Promise<void>((r) => setImmediate(r));
        await Promise.all([
          storage.stat("Y/Z/data.txt").then((st) => st.size === SECRET.length && leaks.push("stat"), () => {}),
          storage.mkdir(`Y/Z/d-${i}`).catch(() => {}),
          storage.list("Y/Z").then((l) => l.some((e) => e.size === SECRET.length) && leaks.push("list"), () => {}),
          storage.openRead("Y/Z/data.txt").then(
            (h) => {
              if (h.size === SECRET.length) leaks.push("read");
              h.close();
            },
            () => {},
          ),
          storage.openWrite(`Y/Z/w-${i}`, { kind: "create" }).then((u) => u.commit(), () => {}),
        ]);
      }
      stop = true;
      await new Promise<void>((r) => setImmediate(r));
      expect(swaps).toBeGreaterThan(50);
      expect(leaks).toEqual([]);
      expect(readdirSync(join(outside, "Z"))).toEqual(["data.txt"]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }, 15_000);
});
