// Which arguments reached the program with bytes that are not UTF-8 (a Latin-1 name): process.argv
// holds U+FFFD in their place, as it does for a name with a real U+FFFD (valid UTF-8). Only the
// bytes tell them apart, and they must be read before anything rewrites them: hide-secrets.ts joins
// the argument memory into one line, and the tuned re-execution (tuning.ts) passes process.argv's
// strings on, U+FFFD's own bytes in place of the Latin-1 ones. So cli/ftpkit.ts imports this first.

/** The arguments whose bytes were not UTF-8 (as process.argv spells them); null where the bytes cannot be read. */
export const undecodableArgs: ReadonlySet<string> | null = readUndecodable();

function readUndecodable(): Set<string> | null {
  const out = new Set<string>();
  if (!process.argv.some((a) => a.includes("\uFFFD"))) return out; // the common case reads nothing
  let raw: Buffer;
  try {
    // Loaded only here: node:fs costs the tuning re-execution's first image ~1.5 ms (cli/ftpkit.ts).
    const { readFileSync } = require("node:fs") as typeof import("node:fs");
    raw = readFileSync("/proc/self/cmdline");
  } catch {
    return null;
  }
  const lossy = new TextDecoder();
  const strict = new TextDecoder("utf-8", { fatal: true });
  for (let start = 0, end = raw.indexOf(0); end >= 0; start = end + 1, end = raw.indexOf(0, start)) {
    const bytes = raw.subarray(start, end);
    try {
      strict.decode(bytes);
    } catch {
      out.add(lossy.decode(bytes));
    }
  }
  return out;
}

/** Whether `arg`'s U+FFFD stands for bytes that are not UTF-8; where that is unknown, any U+FFFD is taken so. */
export function mangledArgument(arg: string): boolean {
  return arg.includes("\uFFFD") && (undecodableArgs === null || undecodableArgs.has(arg));
}
