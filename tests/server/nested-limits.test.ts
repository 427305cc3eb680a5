// Which homes and mounts hold a limited directory below them (found once per users-file load).
import { afterEach, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { containingLedgers, nestedLimits } from "../../server/auth/nested-limits.ts";
import { userLedgerKey } from "../../server/auth/user-ledger.ts";

let root = "";
afterEach(() => {
  if (root) rmSync(root, { recursive: true, force: true });
  root = "";
});

test("a home holds a box below it, by real path: also through a symlink, and not a sibling whose name starts alike", () => {
  root = mkdtempSync(join(tmpdir(), "ftpkit-nested-"));
  const home = join(root, "alice");
  const box = join(home, "in", "box");
  mkdirSync(box, { recursive: true });
  mkdirSync(join(root, "alice2"));
  symlinkSync(home, join(root, "link"));
  const users = [
    { home, mounts: [] },
    { home: join(root, "link"), mounts: [{ dir: box }] },
    { home: join(root, "alice2"), mounts: [] },
  ];
  const found = nestedLimits(users, new Set([box]));
  expect(found.get(home)).toEqual([{ prefix: "in/box", dir: box }]);
  expect(found.get(join(root, "link"))).toEqual([{ prefix: "in/box", dir: box }]);
  // The box itself holds nothing below it; nor does a sibling.
  expect(found.has(box)).toBe(false);
  expect(found.has(join(root, "alice2"))).toBe(false);
});

test("object-store prefixes by their text; a users file without limited directories finds nothing", () => {
  const users = [{ home: "s3://b", mounts: [{ dir: "s3://b/p/box" }, { dir: "s3://c" }] }];
  const found = nestedLimits(users, new Set(["s3://b/p/box"]));
  expect(found.get("s3://b")).toEqual([{ prefix: "p/box", dir: "s3://b/p/box" }]);
  expect(found.has("s3://c")).toBe(false);
  expect(nestedLimits(users, new Set()).size).toBe(0);
});

test("the ledgers at or above a place: its home's user (through a symlink too), a limited directory's, its own (left out by its mounts); not a read-only mount's, not a sibling's", () => {
  root = mkdtempSync(join(tmpdir(), "ftpkit-nested-"));
  const home = join(root, "alice");
  const box = join(home, "drop");
  const sub = join(home, "sub");
  mkdirSync(box, { recursive: true });
  mkdirSync(sub);
  mkdirSync(join(root, "alice2"));
  symlinkSync(home, join(root, "link"));
  const rw = ["read", "write"];
  const users = [
    { name: "alice", home: join(root, "link"), mounts: [{ dir: sub, quota: 100, perms: rw }] },
    { name: "anonymous", home: join(root, "alice2"), mounts: [{ dir: box, quota: 50, perms: ["write"] }] },
    { name: "carol", home: join(root, "carol"), mounts: [{ dir: home, quota: 0, perms: ["read"] }] },
  ];
  const found = containingLedgers(users, new Set([sub, box]));
  const aliceLedger = { key: userLedgerKey(users[0]!), places: [join(root, "link")] };
  expect(found.get(sub)).toEqual([{ key: `dir:${sub}`, places: [sub] }, aliceLedger]);
  expect(found.get(box)).toEqual([{ key: `dir:${box}`, places: [box] }, aliceLedger]);
  // A home has only its own ledger here; carol's read-only mount of alice's home charges no one.
  expect(found.get(join(root, "link"))).toEqual([aliceLedger]);
  expect(found.get(home)).toEqual([aliceLedger]);
  expect(found.get(join(root, "alice2"))).toEqual([{ key: userLedgerKey(users[1]!), places: [join(root, "alice2")] }]);
  expect(found.has(join(root, "carol"))).toBe(true);
});

test("one directory mounted twice: each mount's place has the other's ledger (a limited drop box, and a moderator's unlimited mount charged to him)", () => {
  root = mkdtempSync(join(tmpdir(), "ftpkit-nested-"));
  const inbox = join(root, "inbox");
  mkdirSync(inbox);
  const users = [
    { name: "anonymous", home: join(root, "pub"), mounts: [{ dir: inbox, quota: 500, perms: ["write"] }] },
    { name: "mod", home: join(root, "mod"), mounts: [{ dir: inbox, quota: 0, perms: ["read", "write", "modify"] }] },
  ];
  const found = containingLedgers(users, new Set([inbox]));
  expect(found.get(inbox)!.map((l) => l.key)).toEqual([`dir:${inbox}`, userLedgerKey(users[1]!)]);
});
