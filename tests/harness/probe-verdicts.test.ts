// `ftpkit test`'s verdicts on behaviours real servers show, each reproduced by a scripted server
// (tests/client/scripted-server.ts) and judged by the probe's own check, as the report would show it.
import { afterEach, expect, test } from "bun:test";
import { Probe } from "../../client/probe/runner.ts";
import { idle, longLine } from "../../client/probe/checks-edge.ts";
import { startScriptedServer, type Script, type ScriptedServer } from "../client/scripted-server.ts";

const servers: ScriptedServer[] = [];
const probes: Probe[] = [];
afterEach(() => {
  for (const p of probes.splice(0)) p.closeAll();
  for (const s of servers.splice(0)) s.stop();
});

function probeOf(script: Script): Probe {
  const server = startScriptedServer(script);
  servers.push(server);
  const p = new Probe({ host: "127.0.0.1", port: server.port, user: "me", password: "pw", timeoutMs: 3000 });
  probes.push(p);
  return p;
}

function item(p: Probe, id: string): string {
  const i = p.items.find((x) => x.id === id);
  return i ? `${i.status}: ${i.reason}` : "(not recorded)";
}

test("a 64 KiB command line answered 421 and the connection closed (Pure-FTPd) passes", async () => {
  const p = probeOf({
    on: {
      NOOP: (c, arg) => {
        if (arg.length < 1000) return c.reply(200, "ok");
        c.reply(421, "Line too long");
        c.drop();
      },
    },
  });
  await longLine(p);
  expect(item(p, "long-line")).toBe("pass: Line too long (421); connection closed");
}, 20_000);

test("an idle timeout stated in the greeting as minutes of inactivity (Pure-FTPd) passes", async () => {
  const p = probeOf({
    greet: (c) => c.write("220-Welcome to Pure-FTPd\r\n220-You are user number 1 of 50 allowed.\r\n220 You will be disconnected after 15 minutes of inactivity.\r\n"),
  });
  p.adoptMain(await p.open());
  const c = await p.session();
  p.greeting = c.greeting?.lines.join("\n") ?? "";
  await idle(p);
  expect(item(p, "idle")).toBe('pass: greeting: "You will be disconnected after 15 minutes of inactivity."');
}, 20_000);
