// Connection floods (issue 9, items 3 and 4): silent implicit-TLS sockets and a slowloris crowd
// hold no slot for long, and a legitimate client from another address is served meanwhile.
import { afterEach, describe, expect, test } from "bun:test";
import * as net from "node:net";
import { useServers } from "../helpers/server.ts";
import { Wire } from "../helpers/wire.ts";
import { run, tlsOptions } from "../tls/helpers.ts";

const servers = useServers();
const sockets: net.Socket[] = [];
let stopped = false;
afterEach(() => {
  stopped = true;
  for (const s of sockets.splice(0)) s.destroy();
});

/** A raw TCP connection from a chosen loopback address; resolves when connected. */
function rawConnect(port: number, localAddress: string, onClose: () => void): Promise<net.Socket> {
  return new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port, localAddress });
    sockets.push(s);
    s.on("error", () => {});
    s.on("close", () => {
      onClose();
      resolve(s);
    });
    s.on("data", () => {});
    s.on("connect", () => resolve(s));
  });
}

async function waitUntil(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(50);
  }
}

describe("implicit TLS flood", () => {
  test("1,200 sockets that never send a ClientHello are all closed, and curl from another address is served meanwhile", async () => {
    stopped = false;
    const srv = await servers.start({
      options: { tls: tlsOptions({ implicitPort: 0 }), maxConnections: 20, maxPerIp: 10, tlsHandshakeTimeoutMs: 1000 },
    });
    const port = srv.server.implicitTlsPort!;
    let closed = 0;
    const opened: Array<Promise<net.Socket>> = [];
    // In bursts of 200: a burst larger than the listen backlog leaves some connections in the
    // kernel's accept queue (the client sees them connected; the server never got them).
    for (let i = 0; i < 1200; i++) {
      opened.push(rawConnect(port, `127.0.0.${10 + (i % 4)}`, () => closed++));
      if (opened.length % 200 === 0) await Promise.all(opened);
    }
    await Promise.all(opened);
    // While the crowd is connected: a real client from an address of its own logs in and lists.
    const curl = await run(["curl", "-sS", "-k", "--max-time", "15", "--interface", "127.0.0.2", `ftps://alice:alice-pw@127.0.0.1:${port}/`]);
    expect(curl.stderr).toBe("");
    expect(curl.code).toBe(0);
    expect(curl.stdout).toContain("hello.txt");
    // Every silent socket is closed by the server: refused at once, or at the handshake deadline.
    await waitUntil(() => closed === 1200, 15_000, "the server to close every silent socket");
    expect(srv.server.gate.count).toBe(0);
  }, 40_000);
});

describe("slowloris", () => {
  test("a trickling crowd from two addresses is closed by the login deadline and a user from a third logs in at once", async () => {
    stopped = false;
    const srv = await servers.start({ options: { maxConnections: 20, maxPerIp: 10, loginTimeoutSec: 2, idleTimeoutSec: 2 } });
    let closedByServer = 0;
    // 50 from one address, 10 from another: each sends "USER x" one byte every 300 ms and never
    // the end of the line, and reconnects when closed.
    const trickle = async (address: string) => {
      while (!stopped) {
        let open = true;
        const s = await rawConnect(srv.port, address, () => {
          open = false;
          if (!stopped) closedByServer++;
        });
        for (let i = 0; open && !stopped; i++) {
          s.write("USER x"[i % 6]!);
          await Bun.sleep(300);
        }
        await Bun.sleep(50);
      }
    };
    const crowd = [...Array(50).fill("127.0.0.30"), ...Array(10).fill("127.0.0.31")].map((a) => trickle(a));
    await Bun.sleep(1000); // every slot is taken by now
    for (let i = 0; i < 3; i++) {
      const w = await Wire.connect(srv.port, "127.0.0.1");
      try {
        expect((await w.login("alice", "alice-pw")).code).toBe(230);
        expect((await w.cmd("NOOP")).code).toBe(200);
      } finally {
        w.close();
      }
      await Bun.sleep(500);
    }
    // Tricklers that got in were closed by the login deadline (or made room for the user).
    await waitUntil(() => closedByServer >= 10, 10_000, "tricklers to be closed");
    stopped = true;
    for (const s of sockets) s.destroy();
    await Promise.all(crowd);
  }, 30_000);

  test("after login, bytes trickled without a complete command do not keep the session alive", async () => {
    await servers.start({ options: { idleTimeoutSec: 1 } });
    const w = await servers.login();
    const started = Date.now();
    let reply: Awaited<ReturnType<Wire["read"]>> | undefined;
    const reading = w.read(10_000).then((r) => (reply = r));
    for (let i = 0; !w.closed && reply === undefined && Date.now() - started < 8000; i++) {
      w.raw("N");
      await Bun.sleep(250);
    }
    await reading;
    expect(reply?.code).toBe(421);
  }, 15_000);
});

describe("PASS and hang up", () => {
  // A client that sends USER and PASS and closes at once leaves the connection limits at once, but
  // its password check waited in the queue of checks (one or a few at a time, ~30 ms each): 3,000
  // such connections in 3 s kept a real user's PASS waiting until its 30 s login timeout, and the
  // queue grew with every connection for as long as they came. A gone client's check is skipped.
  test("1,000 clients that send USER and PASS and hang up delay a real login by no more than a few checks", async () => {
    const ts = await servers.start({ options: { maxConnections: 2000, maxPerIp: 2000 } });
    const port = ts.port;
    let closed = 0;
    const all: Promise<unknown>[] = [];
    for (let i = 0; i < 1000; i++) {
      all.push(
        new Promise<void>((resolve) => {
          const s = net.connect({ host: "127.0.0.1", port, localAddress: `127.0.${2 + (i % 4)}.${1 + (i % 250)}` });
          sockets.push(s);
          s.on("error", () => {});
          s.on("close", () => {
            closed++;
            resolve();
          });
          // Closed without reading the greeting: the kernel resets the connection, as a hit-and-run client's does.
          s.on("connect", () => s.write(`USER alice\r\nPASS guess-${i}\r\n`, () => s.destroy()));
        }),
      );
      if (i % 100 === 99) await Bun.sleep(10);
    }
    await Promise.all(all);
    expect(closed).toBe(1000);
    // Every session of theirs has ended: what is left of them is only their queued checks.
    await waitUntil(() => ts.server.context.sessions.size === 0, 10_000, "the hung-up sessions to end");
    const w = await Wire.connect(port);
    const started = Date.now();
    expect((await w.login("alice", "alice-pw")).code).toBe(230);
    expect(Date.now() - started).toBeLessThan(3000);
    w.close();
  }, 30_000);
});
