// Directory trees for the client's tree-job tests: build one, snapshot one for comparison, and read
// which files a tree job's journal logged as finished.
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { digest } from "./peers.ts";

/** rel path → "dir" or the sha256 of the file. */
export function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const visit = (rel: string) => {
    for (const name of readdirSync(join(root, rel))) {
      if (name === ".ftpkit") continue;
      const r = rel ? `${rel}/${name}` : name;
      const st = statSync(join(root, r));
      if (st.isDirectory()) {
        out[r] = "dir";
        visit(r);
      } else out[r] = digest(readFileSync(join(root, r)));
    }
  };
  visit("");
  return out;
}

/** A tree with nested and empty directories, UTF-8 and space names, and one bigger file. */
export function makeTree(root: string): void {
  mkdirSync(join(root, "a/b/c"), { recursive: true });
  mkdirSync(join(root, "empty"), { recursive: true });
  mkdirSync(join(root, "sp ace/κόσμε"), { recursive: true });
  writeFileSync(join(root, "a/one.txt"), "one\n");
  writeFileSync(join(root, "a/b/c/deep.csv"), "x,y\n1,2\n");
  writeFileSync(join(root, "sp ace/ü ñ.txt"), "ünïcødé\n");
  writeFileSync(join(root, "sp ace/κόσμε/日本.csv"), "日本\n");
  writeFileSync(join(root, "top.bin"), Buffer.from(crypto.getRandomValues(new Uint8Array(60_000))));
  writeFileSync(join(root, "zero.txt"), "");
}

/** The files a tree job running in `work` has logged as finished (its .done log; a torn line is left out). */
export function finishedFiles(work: string): string[] {
  const journal = join(work, ".ftpkit", "transfers");
  const log = existsSync(journal) ? readdirSync(journal).find((n) => n.endsWith(".done")) : undefined;
  if (!log) return [];
  return readFileSync(join(journal, log), "utf8").split("\n").flatMap((line) => {
    try {
      const e = JSON.parse(line) as { rel?: string; started?: boolean };
      return e.rel && !e.started ? [e.rel] : [];
    } catch {
      return [];
    }
  });
}
