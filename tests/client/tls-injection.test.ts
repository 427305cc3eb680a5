// Replies sent in clear text right behind "234" (the STARTTLS response-injection class, client side):
// they must never be read as answers to the commands the client then sends inside TLS.
import { afterEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Socket, TCPSocketListener } from "bun";
import { removeDir, runFtpkit, tempDir } from "../helpers/peers.ts";

const FIXTURES = join(import.meta.dir, "../../fixtures/tls");
const cert = readFileSync(join(FIXTURES, "cert.pem"), "utf8");
const key = readFileSync(join(FIXTURES, "key.pem"), "utf8");

interface FakeState {
  tls: boolean;
  buf: string;
}

/** A server that answers AUTH TLS with `afterAuth` in clear (234 plus whatever it appends), then speaks TLS; `seen` records the commands it got inside TLS. */
function injectingServer(afterAuth: string): { server: TCPSocketListener<FakeState>; seen: string[] } {
  const seen: string[] = [];
  const answer = (line: string): string => {
    if (line.startsWith("USER")) return "331 password\r\n";
    if (line.startsWith("PASS")) return "230 in\r\n";
    if (line.startsWith("PWD")) return '257 "/"\r\n';
    return "200 ok\r\n";
  };
  const server = Bun.listen<FakeState>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(s) {
        s.data = { tls: false, buf: "" };
        s.write("220 fake\r\n");
      },
      data(s, chunk) {
        if (s.data.tls) return; // ciphertext seen by the plain handler after the upgrade
        if (!chunk.toString("latin1").startsWith("AUTH")) return void s.end();
        s.data.tls = true;
        s.write(afterAuth);
        const state = { buf: "" };
        (s as unknown as { upgradeTLS(o: unknown): unknown }).upgradeTLS({
          isServer: true,
          tls: { cert, key },
          data: state,
          socket: {
            data(t: Socket<{ buf: string }>, c: Buffer) {
              t.data.buf += c.toString("latin1");
              let nl: number;
              while ((nl = t.data.buf.indexOf("\r\n")) >= 0) {
                const line = t.data.buf.slice(0, nl);
                t.data.buf = t.data.buf.slice(nl + 2);
                seen.push(line);
                t.write(answer(line));
              }
            },
          },
        });
      },
    },
  });
  return { server, seen };
}

let stop: (() => void) | null = null;
afterEach(() => {
  stop?.();
  stop = null;
});

/** A working directory for the client run against `server`; both go after the test. */
function workFor(server: { stop(closeActive?: boolean): void }): string {
  const work = tempDir("inject-");
  stop = () => {
    server.stop(true);
    removeDir(work);
  };
  return work;
}

describe("--tls and replies sent in clear behind 234", () => {
  test("replies injected in clear after 234 are refused: the session ends before USER or the password goes out", async () => {
    const { server, seen } = injectingServer("234 go ahead\r\n200 PBSZ=0\r\n200 PROT P\r\n");
    const work = workFor(server);
    const r = await runFtpkit(["ls", "--tls", "--insecure", "--retries", "0", `ftp://u:secret@127.0.0.1:${server.port}/`], { cwd: work, timeoutMs: 20_000 });
    expect(r.code).toBe(5);
    const out = r.stderr.trim().split("\n");
    expect(out).toHaveLength(1);
    expect(out[0]).toMatch(/sent .* in clear text after its 234 reply to AUTH TLS/);
    expect(seen.some((l) => l.startsWith("USER") || l.startsWith("PASS"))).toBe(false);
  }, 25_000);

  test("a server that answers 234 and then talks clear text: one line that says so, not the ftps:// hint", async () => {
    const server = Bun.listen<{ said: boolean }>({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open(s) {
          s.data = { said: false };
          s.write("220 fake\r\n");
        },
        data(s) {
          if (s.data.said) return;
          s.data.said = true;
          s.write("234 go ahead\r\n");
          setTimeout(() => s.write("331 clear text after all\r\n"), 100);
        },
      },
    });
    const work = workFor(server);
    const r = await runFtpkit(["ls", "--tls", "--insecure", "--retries", "0", `ftp://u:secret@127.0.0.1:${server.port}/`], { cwd: work, timeoutMs: 20_000 });
    expect(r.code).toBe(5);
    const out = r.stderr.trim().split("\n");
    expect(out).toHaveLength(1);
    expect(out[0]).toMatch(/answered AUTH TLS with 234 but did not speak TLS after it$/);
    expect(out[0]).not.toContain("ftps://");
  }, 25_000);

  test("a plain 234 alone still works (the control check does not refuse honest servers)", async () => {
    const { server, seen } = injectingServer("234 go ahead\r\n");
    const work = workFor(server);
    const r = await runFtpkit(["ls", "--tls", "--insecure", "--retries", "0", `ftp://u:secret@127.0.0.1:${server.port}/`], { cwd: work, timeoutMs: 20_000 });
    // The fake has no data connections: what matters is that the login went through inside TLS.
    expect(seen.slice(0, 4)).toEqual(["PBSZ 0", "PROT P", "USER u", "PASS secret"]);
    expect(r.stderr).not.toMatch(/in clear text after its 234/);
  }, 25_000);
});
