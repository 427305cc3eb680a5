// One test file's clean-ups, run after each test, last registered first: servers started, temp
// directories made. `owned.later(fn)` registers one; `owned.workDir(prefix)` makes a directory that
// goes with the test.
import { afterEach } from "bun:test";
import { removeDir, tempDir } from "./peers.ts";

export function useCleanups(prefix: string): { later(fn: () => Promise<void> | void): void; workDir(): string } {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  return {
    later: (fn) => void cleanups.push(fn),
    workDir() {
      const d = tempDir(prefix);
      cleanups.push(() => removeDir(d));
      return d;
    },
  };
}
