// The raw command line, checked before and around citty's parser, which ignores unknown flags and
// extra words, takes any value for a switch, and reads a negative number as an option. Apart from
// args.ts (the shared flags and their values): these look at the words as typed, for every command.
import type { ArgsDef } from "citty";
import { UsageError } from "./args.ts";

/**
 * citty ignores unknown flags and extra positionals; a typo like `--qouta 5GB` must not silently
 * succeed, nor `get -r --dry-run` silently transfer: refuse both. Short aliases count, alone (`-r`)
 * or grouped (`-rq`).
 */
export function checkArgs(rawArgs: string[], cmdArgs: unknown, positionals: string[]): void {
  // A command's `cmd.args`: citty types it as possibly lazy, ours are always plain objects.
  const def = (cmdArgs ?? {}) as ArgsDef;
  const known = new Map<string, string>();
  const short = new Map<string, string>();
  let maxPositionals = 0;
  for (const [name, arg] of Object.entries(def)) {
    if (arg.type === "positional") {
      maxPositionals++;
      continue;
    }
    const type = arg.type ?? "string";
    known.set(name, type);
    known.set(name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`), type);
    for (const alias of ([] as string[]).concat((arg as { alias?: string | string[] }).alias ?? [])) (alias.length === 1 ? short : known).set(alias, type);
  }
  /** The value flag (as typed) whose value is the next word, if any. */
  let valueOf: string | null = null;
  for (const tok of rawArgs) {
    if (tok === "--") break;
    // The value of a string flag may start with "-" (`--idle-timeout -1`, `-` for standard input);
    // one that looks like an option was a value left out (`--exclude --quiet` took --quiet as the
    // pattern and ran unquiet): refused for every value flag, as a bad --hash value always was.
    if (valueOf !== null) {
      if (/^--?[A-Za-z]/.test(tok)) throw new UsageError(`${valueOf} needs a value, and ${tok} looks like an option; for a value that starts with "-", write ${valueOf}=${tok}`);
      valueOf = null;
      continue;
    }
    if (!tok.startsWith("-") || tok === "-") continue;
    if (!tok.startsWith("--")) {
      // -r, -rq, -n: every letter a known short alias; a string one takes the next word.
      const letters = tok.slice(1).split("=")[0]!;
      for (const c of letters) if (!short.has(c)) throw new UsageError(`unknown option -${c}`);
      // citty reads `-q=true` as the letters q, =, t, r, u, e (so -r too): no value is taken here.
      if (tok.includes("=") && short.get(letters.at(-1)!) === "boolean") refuseBooleanValue(`-${letters.at(-1)!}`, tok, false);
      valueOf = short.get(letters.at(-1)!) === "string" && !tok.includes("=") ? `-${letters.at(-1)!}` : null;
      continue;
    }
    const flag = tok.slice(2).split("=")[0]!;
    const negated = flag.startsWith("no-") ? flag.slice(3) : undefined;
    if (known.has(flag)) {
      if (known.get(flag) === "boolean") refuseBooleanValue(`--${flag}`, tok);
      valueOf = known.get(flag) === "string" && !tok.includes("=") ? `--${flag}` : null;
      continue;
    }
    if (negated !== undefined && known.get(negated) === "boolean") {
      // citty files `--no-delete=true` under a key of its own and leaves --delete as it was.
      refuseBooleanValue(`--${flag}`, tok, false);
      continue;
    }
    throw new UsageError(`unknown option ${tok.split("=")[0]}`);
  }
  if (positionals.length > maxPositionals) {
    throw new UsageError(`unexpected argument ${JSON.stringify(positionals[maxPositionals])}`);
  }
}

/**
 * A switch given a value (`--delete=no`): citty took any value but the word "false" as on, so
 * `sync --delete=no` deleted and `--insecure=no` trusted any certificate. Only true and false are
 * values a long switch may take (as rclone's flags; `trueOrFalse` false: none, for the forms citty
 * misreads); anything else is refused, as GNU getopt refuses a value given to a flag without one.
 */
function refuseBooleanValue(flag: string, tok: string, trueOrFalse = true): void {
  const eq = tok.indexOf("=");
  if (eq < 0) return;
  const value = tok.slice(eq + 1);
  if (trueOrFalse && (value === "true" || value === "false")) return;
  const off = flag.startsWith("--no-") ? `--${flag.slice(5)}` : flag.startsWith("--") ? `--no-${flag.slice(2)}` : null;
  throw new UsageError(`${flag} is a switch and takes no value (got ${JSON.stringify(value)})${off ? `; to say the opposite, write ${off}` : ""}`);
}

/** A word that is a negative number (`-1`, `-5GB`, `-0.5`): never one of our options, which are letters. */
const NEGATIVE_NUMBER = /^-\d/;

/**
 * citty's parser (node:util parseArgs) reads a positional `-1` as the short option "1", and
 * `ftpkit user quota alice -1` then said "Missing required positional argument: SIZE". When a
 * positional is a negative number (not the value of a string flag, which takes any next word), the
 * positionals are moved behind "--", in order, so each arrives where it was typed and the command
 * judges the value (a quota of -1 is refused naming 0/none/unlimited). Other words are unchanged.
 */
export function negativeNumbersAsPositionals(rawArgs: readonly string[], cmdArgs: unknown): string[] {
  if (!rawArgs.some((t) => NEGATIVE_NUMBER.test(t))) return [...rawArgs];
  const def = (cmdArgs ?? {}) as ArgsDef;
  const takesValue = new Set<string>();
  for (const [name, arg] of Object.entries(def)) {
    if (arg.type !== "string" && arg.type !== "enum") continue;
    takesValue.add(`--${name}`);
    takesValue.add(`--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
    for (const alias of ([] as string[]).concat((arg as { alias?: string | string[] }).alias ?? [])) takesValue.add(alias.length === 1 ? `-${alias}` : `--${alias}`);
  }
  const flags: string[] = [];
  const positionals: string[] = [];
  let negative = false;
  for (let i = 0; i < rawArgs.length; i++) {
    const tok = rawArgs[i]!;
    if (tok === "--") {
      positionals.push(...rawArgs.slice(i + 1));
      break;
    }
    if (NEGATIVE_NUMBER.test(tok)) {
      positionals.push(tok);
      negative = true;
    } else if (tok.startsWith("-") && tok !== "-") {
      flags.push(tok);
      // `--quota -1`, `-x VALUE` (a group's last letter): the next word is this flag's value.
      const short = /^-[A-Za-z]+$/.test(tok) ? `-${tok.at(-1)}` : tok;
      if (!tok.includes("=") && takesValue.has(short) && i + 1 < rawArgs.length) flags.push(rawArgs[++i]!);
    } else positionals.push(tok);
  }
  return negative ? [...flags, "--", ...positionals] : [...rawArgs];
}
