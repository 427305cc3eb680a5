// RunningServer.urlFor (cli/api.ts): the URLs a test hands to the code it tests.
import { afterEach, describe, expect, test } from "bun:test";
import { startServer, type RunningServer } from "../../cli/api.ts";

const me = [{ name: "me", password: "pw" }];

let servers: RunningServer[] = [];

afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

async function start(opts: Parameters<typeof startServer>[0]): Promise<RunningServer> {
  const s = await startServer(opts);
  servers.push(s);
  return s;
}

describe("urlFor", () => {
  test('urlFor("anonymous") throws, naming anonymous: true, when the server has no anonymous login', async () => {
    const server = await start({ users: me });
    expect(() => server.urlFor("anonymous")).toThrow(`startServer: urlFor("anonymous"): this server has no anonymous login (start it with anonymous: true)`);
    expect(server.urlFor("me", "/a.txt")).toBe(`ftp://me:pw@127.0.0.1:${server.port}/a.txt`);
  }, 15_000);

  test('urlFor("anonymous") gives a URL without credentials when anonymous: true', async () => {
    const server = await start({ users: me, anonymous: true });
    expect(server.urlFor("anonymous", "/pub")).toBe(`ftp://127.0.0.1:${server.port}/pub`);
  }, 15_000);
});
