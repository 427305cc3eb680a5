// The `--json` report every transfer job prints on stdout: one entry per file (a tree's path, or a
// single file's local path and URL), then the counts. Single files and trees share the shape, so a
// script reads `get a.bin --json` and `get -r dir --json` alike.
import type { PlanItem } from "./tree-plan.ts";

export interface FileReport {
  /** A tree's path relative to its roots; a single file's local path. */
  path: string;
  /** A single file's remote URL (no password). */
  url?: string;
  action: PlanItem["action"];
  reason: string;
  bytes: number;
  /** "sha256:<hex>" when the file was hashed. */
  digest?: string;
  /** "verified by HASH", "size verified only", "failed: <why>"… */
  result: string;
}

export interface JobReport {
  files: FileReport[];
  copied: number;
  skipped: number;
  deleted: number;
  failed: number;
  bytesMoved: number;
}

export function summarize(files: FileReport[]): JobReport {
  files.sort((a, b) => a.path.localeCompare(b.path));
  const ok = (f: FileReport) => !f.result.startsWith("failed");
  return {
    files,
    copied: files.filter((f) => f.action === "copy" && ok(f)).length,
    skipped: files.filter((f) => f.action === "skip").length,
    deleted: files.filter((f) => f.action === "delete" && ok(f)).length,
    failed: files.filter((f) => !ok(f)).length,
    bytesMoved: files.reduce((n, f) => n + f.bytes, 0),
  };
}

export function printReport(report: JobReport): void {
  process.stdout.write(JSON.stringify(report, null, 2) + "\n");
}
