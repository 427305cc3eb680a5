// Defender: password guessers get banned (421 at connect), allowed addresses never, denied ones always.
import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { parseCidrList } from "../../protocol/cidr.ts";
import { useServers } from "../helpers/server.ts";
import { makeUsersFile } from "../helpers/users.ts";
import { captureLogger } from "../tls/helpers.ts";
import { removeDir, tempDir } from "../helpers/peers.ts";
import { spawnServe } from "../helpers/serve-proc.ts";
import { Wire } from "../helpers/wire.ts";
import { scrape, SourcedWire, until } from "./helpers.ts";

const servers = useServers();
const open: SourcedWire[] = [];
afterEach(() => {
  for (const w of open.splice(0)) w.close();
});

async function from(port: number, addr: string): Promise<SourcedWire> {
  const w = await SourcedWire.connect(port, addr);
  open.push(w);
  return w;
}

/** `n` wrong passwords in one session; returns the replies to each PASS. */
async function guess(w: SourcedWire, n: number): Promise<Array<number | undefined>> {
  expect((await w.read())?.code).toBe(220);
  const codes: Array<number | undefined> = [];
  for (let i = 0; i < n; i++) {
    await w.cmd("USER alice");
    codes.push((await w.cmd(`PASS guess-${i}`))?.code);
  }
  return codes;
}

describe("defender", () => {
  test("a guessing address is banned (421 at connect) while an allowed one and others keep working; the ban survives a users-file reload", async () => {
    const logger = captureLogger();
    const ts = await servers.start({
      options: { logger, ops: { banAfter: 3, allow: parseCidrList("127.0.0.3"), metrics: { host: "127.0.0.1", port: 0 } } },
    });
    // 127.0.0.2 guesses three times: the third failure bans it and closes its session.
    const guesser = await from(ts.port, "127.0.0.2");
    expect(await guess(guesser, 3)).toEqual([530, 530, 530]);
    expect((await guesser.read())?.code).toBe(421);
    expect(await guesser.read()).toBeNull();
    // 127.0.0.3 guesses five times side by side and is never banned (its first connection is closed
    // by the per-connection cap of 3 attempts, the second is still served).
    const allowed = await from(ts.port, "127.0.0.3");
    expect(await guess(allowed, 3)).toEqual([530, 530, 530]);
    expect((await allowed.read())?.code).toBe(421);
    expect(await guess(await from(ts.port, "127.0.0.3"), 2)).toEqual([530, 530]);
    // A new connection from the banned address is refused before any command; the others log in.
    const again = await from(ts.port, "127.0.0.2");
    const refused = await again.read();
    expect(refused?.code).toBe(421);
    expect(refused?.lines.join(" ")).toContain("Too many failed logins");
    expect(await again.read()).toBeNull();
    expect((await (await from(ts.port, "127.0.0.3")).login("alice", "alice-pw")).pass?.code).toBe(230);
    expect((await (await from(ts.port, "127.0.0.1")).login("alice", "alice-pw")).pass?.code).toBe(230);

    expect(logger.events.find((e) => e.event === "ban")?.fields).toMatchObject({ ip: "127.0.0.2", failures: 3, repeat: 1, seconds: 900 });
    const m = await scrape(ts.server.ops.metricsPort!);
    expect(m.get("ftpkit_bans_total")).toBe(1);
    expect(m.get("ftpkit_bans_active")).toBe(1);
    expect(m.get('ftpkit_connections_refused_total{reason="banned"}')).toBe(1);

    // The users file changes (a new user appears, so it was read again) and SIGHUP's reload runs: still banned.
    await makeUsersFile(ts.root, [
      { name: "alice", password: "alice-pw", home: ts.home("alice") },
      { name: "bob", password: "bob-pw", home: join(ts.root, "home/bob") },
    ]);
    await until(async () => (await (await from(ts.port, "127.0.0.1")).login("bob", "bob-pw")).pass?.code === 230, 10_000, "bob to exist");
    await ts.server.reload();
    expect((await (await from(ts.port, "127.0.0.2")).read())?.code).toBe(421);
  }, 30_000);

  test("a ban ends after its time and the next one lasts twice as long", async () => {
    const logger = captureLogger();
    const ts = await servers.start({ options: { logger, ops: { banAfter: 2, banTimeMs: 1000, banMaxMs: 60_000 } } });
    expect(await guess(await from(ts.port, "127.0.0.2"), 2)).toEqual([530, 530]);
    expect((await (await from(ts.port, "127.0.0.2")).read())?.code).toBe(421);
    await until(async () => (await (await from(ts.port, "127.0.0.2")).read())?.code === 220, 10_000, "the ban to end");
    expect(await guess(await from(ts.port, "127.0.0.2"), 2)).toEqual([530, 530]);
    const bans = logger.events.filter((e) => e.event === "ban").map((e) => e.fields);
    expect(bans).toMatchObject([
      { ip: "127.0.0.2", seconds: 1, repeat: 1 },
      { ip: "127.0.0.2", seconds: 2, repeat: 2 },
    ]);
  }, 30_000);

  test("--deny refuses at connect without a single failure; --ban-after 0 never bans", async () => {
    const ts = await servers.start({ options: { ops: { banAfter: 0, deny: parseCidrList("127.0.0.4/32") } } });
    const denied = await from(ts.port, "127.0.0.4");
    expect((await denied.read())?.code).toBe(421);
    // Four failures (over two connections: each closes after 3) and still no ban.
    expect(await guess(await from(ts.port, "127.0.0.2"), 3)).toEqual([530, 530, 530]);
    expect(await guess(await from(ts.port, "127.0.0.2"), 1)).toEqual([530]);
    expect((await (await from(ts.port, "127.0.0.2")).login("alice", "alice-pw")).pass?.code).toBe(230);
  }, 30_000);
});

describe("bans under --workers", () => {
  test("an address is banned by every worker after --ban-after + 1 failed logins at most (each used to count only its own: 2 × --ban-after)", async () => {
    const root = tempDir("ftpkit-ban-workers-");
    const users = await makeUsersFile(root, [{ name: "alice", password: "alice-pw" }]);
    const serve = await spawnServe(["--users", users, "--workers", "2", "--ban-after", "3"], { cwd: root, timeoutMs: 30_000 });
    try {
      let failed = 0;
      let refusedInARow = 0;
      // The kernel spreads connections over the two workers; go on until both refuse several times over.
      for (let i = 0; i < 40 && refusedInARow < 8; i++) {
        const w = await Wire.connect(serve.port);
        const greeting = await w.read(10_000);
        if (greeting?.code === 421) {
          refusedInARow++;
        } else {
          refusedInARow = 0;
          await w.cmd("USER alice");
          if ((await w.cmd(`PASS wrong-${i}`, 15_000)).code === 530) failed++;
        }
        w.close();
      }
      expect(refusedInARow).toBe(8);
      expect(failed).toBeGreaterThanOrEqual(3);
      expect(failed).toBeLessThanOrEqual(4);
    } finally {
      await serve.kill("SIGTERM");
      removeDir(root);
    }
  }, 90_000);
});
