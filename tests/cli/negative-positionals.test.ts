// citty (node:util parseArgs) reads a positional "-1" as the option "-1": main.ts moves such
// positionals behind "--" with the command's own flags in mind (cli/args.ts).
import { describe, expect, test } from "bun:test";
import { negativeNumbersAsPositionals } from "../../cli/args-check.ts";

const def = {
  name: { type: "positional" },
  size: { type: "positional" },
  users: { type: "string" },
  quota: { type: "string" },
  exclude: { type: "string", alias: "e" },
  quiet: { type: "boolean", alias: "q" },
} as const;

describe("negative numbers as positionals", () => {
  const cases: Array<[string[], string[]]> = [
    [["alice", "-1"], ["--", "alice", "-1"]],
    [["alice", "-1", "--users", "u.ini"], ["--users", "u.ini", "--", "alice", "-1"]],
    [["-q", "alice", "-5GB", "tail"], ["-q", "--", "alice", "-5GB", "tail"]],
    [["alice", "-1", "--", "-x"], ["--", "alice", "-1", "-x"]],
    // The value of a string flag is not a positional, and nothing moves without a negative positional.
    [["alice", "--quota", "-1"], ["alice", "--quota", "-1"]],
    [["-qe", "-1", "alice"], ["-qe", "-1", "alice"]],
    [["alice", "--users=x", "-"], ["alice", "--users=x", "-"]],
    [["--quota", "-1", "alice", "-2"], ["--quota", "-1", "--", "alice", "-2"]],
  ];
  test.each(cases)("%j", (words, expected) => {
    expect(negativeNumbersAsPositionals(words, def)).toEqual(expected);
  });
});
