// The per-account limiters (--max-user-rate's shared bucket, the HASH budget) are held while a
// session of the account is logged in and let go with its last one: a server that has seen many
// accounts does not keep one for each for ever.
import { expect, test } from "bun:test";
import type { Session } from "../../server/session.ts";
import { waitFor } from "../helpers/peers.ts";
import { useServers } from "../helpers/server.ts";

const servers = useServers();

test("an account's shared limiters are shared by its sessions and let go when its last session ends", async () => {
  const s = await servers.start({
    users: [
      { name: "alice", password: "alice-pw", home: "home/alice" },
      { name: "bob", password: "bob-pw", home: "home/alice" },
    ],
    options: { maxUserRate: 1_000_000 },
  });
  const ctx = s.server.context;
  const sessionsOf = (name: string): Session[] => [...ctx.sessions].filter((x) => x.user?.name === name);
  const a1 = await servers.login();
  const a2 = await servers.login();
  const b = await servers.login("bob", "bob-pw");
  expect(ctx.userLimits.size).toBe(2);
  // alice's two sessions book into one bucket, bob's into another.
  const [s1, s2] = sessionsOf("alice");
  const shared = s1!.limiters.find((l) => s2!.limiters.includes(l));
  expect(shared).toBeDefined();
  expect(sessionsOf("bob")[0]!.limiters).not.toContain(shared);
  expect(ctx.hashLimiter("alice")).toBe(ctx.hashLimiter("alice"));

  a1.close();
  await waitFor(() => sessionsOf("alice").length === 1, 10_000, "alice's first session ended");
  // One of alice's sessions remains: her limiters stay, and a new session gets the same bucket.
  expect(ctx.userLimits.size).toBe(2);
  const a3 = await servers.login();
  await waitFor(() => sessionsOf("alice").length === 2, 10_000, "alice's third session logged in");
  const [r1, r2] = sessionsOf("alice");
  expect(r1!.limiters).toContain(shared!);
  expect(r2!.limiters).toContain(shared!);

  b.close();
  await waitFor(() => sessionsOf("bob").length === 0, 10_000, "bob's session ended");
  expect(ctx.userLimits.size).toBe(1);
  a2.close();
  a3.close();
  await waitFor(() => ctx.sessions.size === 0, 10_000, "every session ended");
  expect(ctx.userLimits.size).toBe(0);
}, 30_000);
