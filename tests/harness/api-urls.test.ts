// RunningServer.urlFor (cli/api.ts): the URLs a test hands to the code it tests.
import { describe, expect, test } from "bun:test";
import { list } from "../../cli/api.ts";
import { CERT, KEY, useApiServers } from "./api-fixture.ts";

const me = [{ name: "me", password: "pw" }];

const { start } = useApiServers();

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

  test('urlFor(user, path, { tls: "implicit" }) is an ftps:// URL to the implicit TLS port that a client can list', async () => {
    const server = await start({ users: me, tls: { cert: CERT, key: KEY, implicitPort: 0 } });
    const url = server.urlFor("me", "/", { tls: "implicit" });
    expect(url).toBe(`ftps://me:pw@127.0.0.1:${server.implicitTlsPort}/`);
    expect(await list(url, { ca: [CERT] })).toEqual([]);
  }, 15_000);

  test('{ tls: "implicit" } throws, naming the implicitPort option, when the server has no implicit TLS port', async () => {
    const server = await start({ users: me, tls: { cert: CERT, key: KEY } });
    expect(() => server.urlFor("me", "/", { tls: "implicit" })).toThrow(`startServer: urlFor(…, { tls: "implicit" }): this server has no implicit TLS port (start it with tls: { cert, key, implicitPort: 0 })`);
  }, 15_000);
});
