// A load balancer's health checks (connect, read the 220, close: one per node per second behind
// HAProxy) are counted in a summary line, not logged as a session start and end each; real
// sessions, failed logins and refusals keep their lines, and the metrics still count every connection.
import { afterEach, expect, test } from "bun:test";
import { createLogger } from "../../server/log.ts";
import { scrape } from "../ops/helpers.ts";
import { waitFor } from "../helpers/peers.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { Wire } from "../helpers/wire.ts";

let ts: TestServer | null = null;

afterEach(async () => {
  await ts?.stop();
  ts = null;
});

/** A logger that keeps its JSON lines. */
function capture() {
  const out = { text: "" };
  const logger = createLogger("json", false, { write: (s: string) => (out.text += s) });
  return { logger, lines: () => out.text.split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

/** Connect, read the greeting, hang up without a byte: what HAProxy's `tcp-check expect rstring ^220` does. */
async function probe(port: number): Promise<void> {
  const w = await Wire.connect(port);
  expect((await w.read())?.code).toBe(220);
  w.close();
}

test("connections that close without a byte write no session lines; a count says how many, and real sessions keep theirs", async () => {
  const log = capture();
  ts = await startTestServer({ options: { logger: log.logger, ops: { metrics: { host: "127.0.0.1", port: 0 } } } });
  const sessions = ts.server.context.sessions;
  for (let i = 0; i < 5; i++) {
    await probe(ts.port);
    await waitFor(() => sessions.size === 0, 5000, "probe's session end");
  }
  // A real client that fails its login, and one that logs in.
  const bad = await Wire.connect(ts.port);
  expect((await bad.login("alice", "wrong")).code).toBe(530);
  bad.close();
  const good = await Wire.connect(ts.port);
  expect((await good.login("alice", "alice-pw")).code).toBe(230);
  await good.cmd("QUIT");
  good.close();
  await waitFor(() => sessions.size === 0, 5000, "sessions' end");
  const metrics = await scrape(ts.server.ops.metricsPort!);
  expect(metrics.get("ftpkit_sessions_total")).toBe(7);
  await ts.server.close(0);
  const lines = log.lines();
  const of = (event: string) => lines.filter((l) => l.event === event);
  expect(of("session start").length).toBe(2);
  expect(of("session end").length).toBe(2);
  expect(of("login failed").length).toBe(1);
  expect(of("login").length).toBe(1);
  // The first probe at once, the other four within the minute: written at the latest at shutdown.
  const counts = of("connections closed without a command");
  expect(counts.map((l) => l.count)).toEqual([1, 4]);
  expect(counts[0]).toMatchObject({ addresses: 1, address: "127.0.0.1" });
}, 20_000);

test("a silent connection that a line names (its login timeout) is logged as a session", async () => {
  const log = capture();
  ts = await startTestServer({ options: { logger: log.logger, loginTimeoutSec: 1 } });
  const w = await Wire.connect(ts.port);
  expect((await w.read())?.code).toBe(220);
  expect((await w.read(5000))?.code).toBe(421);
  w.close();
  await waitFor(() => log.lines().some((l) => l.event === "session end"), 5000, "session end");
  const events = log.lines().map((l) => l.event);
  expect(events.filter((e) => e === "session start").length).toBe(1);
  expect(events.indexOf("session start")).toBeLessThan(events.indexOf("login timeout"));
  expect(events).not.toContain("connections closed without a command");
}, 20_000);
