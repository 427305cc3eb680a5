import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalStorage } from "../../server/storage/local.ts";

// Big directories are stat'ed in rounds, half of each on the thread pool: the jail rules must hold
// on both halves, so links sit at the start and at the end of the sorted names.
describe("listing a large directory", () => {
  let dir: string;
  let home: string;
  const FILES = 5000;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "ftpkit-list-"));
    home = join(dir, "home");
    mkdirSync(join(home, "big", "sub"), { recursive: true });
    writeFileSync(join(dir, "secret.txt"), "outside");
    for (let i = 0; i < FILES; i++) writeFileSync(join(home, "big", `f${String(i).padStart(5, "0")}.txt`), "x".repeat(i % 7));
    utimesSync(join(home, "big", "f04999.txt"), new Date(Date.UTC(2020, 1, 2)), new Date(Date.UTC(2020, 1, 2)));
    for (const p of ["0", "z"]) {
      symlinkSync(join(dir, "secret.txt"), join(home, "big", `${p}-escape`));
      symlinkSync(join(home, "big", "nowhere"), join(home, "big", `${p}-dangling`));
      symlinkSync(join(home, "big", "f00001.txt"), join(home, "big", `${p}-inside`));
      symlinkSync(join(home, "big", "sub"), join(home, "big", `${p}-subdir`));
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("lists every file with its size and mtime, sorted", async () => {
    const entries = await new LocalStorage(home).list("big");
    const files = entries.filter((e) => e.name.startsWith("f"));
    expect(files).toHaveLength(FILES);
    expect(files[6]).toMatchObject({ name: "f00006.txt", type: "file", size: 6 });
    expect(files.at(-1)!.mtime.getTime()).toBe(Date.UTC(2020, 1, 2));
    const names = entries.map((e) => e.name);
    expect(names).toEqual([...names].sort());
    expect(entries.find((e) => e.name === "sub")).toMatchObject({ type: "dir", size: 0 });
  });

  test("hides escaping and dangling links on both halves and shows links that stay inside", async () => {
    const names = new Set((await new LocalStorage(home).list("big")).map((e) => e.name));
    for (const p of ["0", "z"]) {
      expect(names.has(`${p}-escape`)).toBe(false);
      expect(names.has(`${p}-dangling`)).toBe(false);
      expect(names.has(`${p}-inside`)).toBe(true);
      expect(names.has(`${p}-subdir`)).toBe(true);
    }
    const entries = await new LocalStorage(home).list("big");
    expect(entries.find((e) => e.name === "z-inside")).toMatchObject({ type: "file", size: 1 });
    expect(entries.find((e) => e.name === "z-subdir")).toMatchObject({ type: "dir" });
  });
});
