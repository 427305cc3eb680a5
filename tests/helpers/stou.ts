// Six (or N) STOUs that meet in the server: every session has its data connection up before any
// STOU is sent, and no upload ends before every 150 is in. Shared by the disk and the S3 tests.
import { expect } from "bun:test";
import { parseEpsvReply } from "../../protocol/address.ts";
import type { Wire } from "./wire.ts";

/**
 * STOU on each of `sessions` at once, upload i sending "body i"; asserts every 150 and every 226,
 * and returns the names the 150s gave, in session order. `own` takes each data socket's clean-up.
 */
export async function concurrentStous(sessions: Wire[], own: (end: () => void) => void, replyMs = 10_000): Promise<string[]> {
  const data = await Promise.all(
    sessions.map(async (w) => {
      const port = parseEpsvReply((await w.cmd("EPSV")).lines[0]!);
      let closed!: () => void;
      const gone = new Promise<void>((r) => (closed = r));
      const socket = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {}, close: () => closed(), error: () => closed() } });
      own(() => void socket.end());
      return { socket, gone };
    }),
  );
  const firsts = await Promise.all(sessions.map((w) => w.cmd("STOU")));
  expect(firsts.map((r) => r.code)).toEqual(sessions.map(() => 150));
  data.forEach((d, i) => {
    d.socket.write(`body ${i}`);
    d.socket.end();
  });
  await Promise.all(data.map((d) => d.gone));
  expect(await Promise.all(sessions.map(async (w) => (await w.read(replyMs))?.code))).toEqual(sessions.map(() => 226));
  return firsts.map((r) => /^FILE: (.+)$/.exec(r.lines[0]!)?.[1] ?? "");
}
