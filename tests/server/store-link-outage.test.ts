// The outage log of the link to a --state store: "reachable again" means the link is up, not that a
// command sent before the outage was answered after it.
import { expect, test } from "bun:test";
import { StoreLink, type StoreClient } from "../../server/state/redis-link.ts";

test("a reply that comes after its outage was logged does not log 'reachable again' while the link is down", async () => {
  const answers: Array<(v: unknown) => void> = [];
  const client = (): StoreClient => ({
    connect: async () => {},
    // Answered only when the test says so: the store stalls (a fork, SIGSTOP), then goes on.
    send: () => new Promise((resolve) => answers.push(resolve)),
    close() {},
    onclose: null,
  });
  const events: string[] = [];
  const late = Promise.withResolvers<void>();
  const link = new StoreLink({
    url: "redis://store",
    client,
    timeoutMs: 100,
    onDown: () => {},
    log: (event) => {
      events.push(event);
      // The store answers the second command just after the first one's deadline made an outage.
      if (event === "state store unreachable") answers[1]?.("OK"), late.resolve();
    },
  });
  link.markStarted();
  const first = link.send("GET", ["a"]).catch((e: Error) => e.message);
  const second = link.send("GET", ["b"]).catch((e: Error) => e.message);
  expect(await first).toBe("no answer within 100 ms");
  await late.promise;
  expect(await second).toBe("OK");
  expect(link.reachable()).toBe(false);
  expect(events).toEqual(["state store unreachable"]);
  // The heartbeat reconnects; the first command answered then is the store back.
  expect(await link.up()).toBe(true);
  const third = link.send("PING", []);
  answers.at(-1)!("PONG");
  expect(await third).toBe("PONG");
  expect(events).toEqual(["state store unreachable", "state store reachable again"]);
}, 5_000);
