// Where interrupted jobs wait: one small file per journal directory holding records, in the state
// directory (`pending/`), so that `ftpkit resume` run anywhere else (after a kill -9, from another
// shell) can say where to run it instead of only "nothing to resume". An entry is written before a
// journal gets its first record and removed when its last one goes; stale ones are dropped on read.
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { privateDir, stateDir } from "./state.ts";

export interface JournalPlace {
  /** Where to run `ftpkit resume` (the working directory of the interrupted command). */
  cwd: string;
  /** The journal directory itself. */
  journal: string;
  /** How many records it holds. */
  records: number;
}

const indexed = new Set<string>();

function entryName(journal: string): string {
  return `${new Bun.CryptoHasher("sha256").update(journal).digest("hex").slice(0, 24)}.json`;
}

function recordCount(journal: string): number {
  try {
    return readdirSync(journal).filter((n) => n.endsWith(".json") && !n.endsWith(".plan.json") && !n.startsWith(".")).length;
  } catch {
    return 0;
  }
}

/** Note that `journal` holds a record of a job started in `cwd` (once per process and journal). */
export function indexJournal(journal: string, cwd: string = process.cwd()): void {
  if (indexed.has(journal)) return;
  try {
    writeFileSync(join(privateDir("pending"), entryName(journal)), JSON.stringify({ cwd, journal }) + "\n", { mode: 0o600 });
    indexed.add(journal);
  } catch {
    // Only a pointer for later: a state directory that cannot be written costs the hint, not the job.
  }
}

/** Drop the entry of `journal` once it holds no record. */
export function unindexIfEmpty(journal: string): void {
  if (recordCount(journal) > 0) return;
  indexed.delete(journal);
  rmSync(join(stateDir(), "pending", entryName(journal)), { force: true });
}

/** How long an entry without records is taken for a job about to write its first one. */
const YOUNG_ENTRY_MS = 60_000;

function entryAgeMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/** Journals other than `here` that hold records; entries whose journal has had none for a minute are removed. */
export function journalsElsewhere(here: string): JournalPlace[] {
  const dir = join(stateDir(), "pending");
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const places: JournalPlace[] = [];
  for (const name of names) {
    let entry: { cwd?: unknown; journal?: unknown };
    try {
      entry = JSON.parse(readFileSync(join(dir, name), "utf8"));
    } catch {
      continue;
    }
    if (typeof entry.cwd !== "string" || typeof entry.journal !== "string") continue;
    const records = recordCount(entry.journal);
    // An entry is written before its first record: a young one without records is a job starting.
    if (records === 0) {
      if (entryAgeMs(join(dir, name)) > YOUNG_ENTRY_MS) rmSync(join(dir, name), { force: true });
    } else if (entry.journal !== here) places.push({ cwd: entry.cwd, journal: entry.journal, records });
  }
  return places.sort((a, b) => a.cwd.localeCompare(b.cwd));
}

/** "interrupted transfers are recorded in /a (2), /b (1): run `ftpkit resume` there". */
export function whereElse(places: JournalPlace[]): string {
  const list = places.map((p) => `${p.cwd} (${p.records})`).join(", ");
  return `interrupted transfers are recorded in ${list}: run \`ftpkit resume\` there`;
}
