// The permission bits of what an upload creates (WriteMode's `perm`, SITE UMASK) on the local disk,
// on the path where an overwrite's target vanishes before it commits: its temp file becomes the file.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalStorage } from "../../server/storage/local.ts";
import { PROCESS_UMASK } from "../../server/session.ts";

let base: string | null = null;

afterEach(() => {
  if (base) rmSync(base, { recursive: true, force: true });
  base = null;
});

describe("local storage, an overwrite whose target is removed before it commits", () => {
  for (const perm of [0o400, 0o640]) {
    test(`the file it creates has the bits asked for (0${perm.toString(8)}), not the temp file's owner read and write`, async () => {
      base = mkdtempSync(join(tmpdir(), "ftpkit-perm-"));
      writeFileSync(join(base, "f"), "old");
      const storage = new LocalStorage(base);
      await using up = await storage.openWrite("f", { kind: "truncate", perm });
      await up.write(new TextEncoder().encode("new bytes"));
      await storage.remove("f"); // as another session's DELE
      await up.commit();
      expect(statSync(join(base, "f")).mode & 0o777).toBe(perm & ~PROCESS_UMASK);
    });
  }
});
