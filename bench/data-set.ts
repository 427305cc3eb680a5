// The data set every server serves from the account's home: one big file, many small ones, a folder
// of many names and an empty upload folder; files of the right size are reused between runs.
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { fillPattern } from "./pattern.ts";
import { MiB, type Profile } from "./settings.ts";

/** A file of real (non-sparse, non-zero) bytes, reused when it already has the right size. */
function ensureFile(path: string, size: number, seed: number): void {
  if (existsSync(path) && statSync(path).size === size) return;
  const pattern = fillPattern(seed);
  const fd = openSync(path, "w");
  try {
    for (let pos = 0, chunk = 0; pos < size; pos += MiB, chunk++) {
      pattern.writeUInt32LE(chunk, 0); // no two MiB of the file are equal
      writeSync(fd, pattern, 0, Math.min(MiB, size - pos), pos);
    }
  } finally {
    closeSync(fd);
  }
}

export interface DataSet {
  big: string; // virtual paths, as the client sends them
  many: string[];
  dir: string;
  upDir: string; // real path of the upload folder
}

export function prepareData(home: string, p: Profile): DataSet {
  mkdirSync(home, { recursive: true });
  const bigName = `big-${p.bigSize}.bin`;
  ensureFile(join(home, bigName), p.bigSize, 1);
  const manyDir = `many-${p.manySize}`;
  mkdirSync(join(home, manyDir), { recursive: true });
  const many: string[] = [];
  for (let i = 0; i < p.manyClients; i++) {
    const name = `f${String(i).padStart(3, "0")}.bin`;
    ensureFile(join(home, manyDir, name), p.manySize, 1000 + i);
    many.push(`/${manyDir}/${name}`);
  }
  const dirName = `dir-${p.listFiles}`;
  const dir = join(home, dirName);
  mkdirSync(dir, { recursive: true });
  if (readdirSync(dir).length !== p.listFiles) {
    for (let i = 0; i < p.listFiles; i++) writeFileSync(join(dir, `file-${String(i).padStart(5, "0")}.txt`), "x".repeat(i % 100));
  }
  const upDir = join(home, "up");
  rmSync(upDir, { recursive: true, force: true });
  mkdirSync(upDir, { recursive: true });
  return { big: `/${bigName}`, many, dir: `/${dirName}`, upDir };
}

export function clearUploads(upDir: string): void {
  for (const f of readdirSync(upDir)) rmSync(join(upDir, f), { force: true });
  Bun.spawnSync(["sync"]); // and whatever writeback is still running ends before the next run starts
}
