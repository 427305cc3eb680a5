// `ftpkit … --help` and citty's usage errors as a pipe, a log file or a script sees them: no colour
// codes (citty adds them unless NO_COLOR=1), no lines padded with blanks, the full command name.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { cleanEnv, FTPKIT, REPO } from "../helpers/peers.ts";
import { EXIT_STATUS } from "../../client/errors.ts";
import { s3SettingsFromEnv } from "../../server/storage/s3-request.ts";

/** The CLI with stdout and stderr piped and the environment a shell gives it: no NO_COLOR. */
async function ftpkit(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = cleanEnv();
  delete env.NO_COLOR;
  delete env.FORCE_COLOR;
  const proc = Bun.spawn(["bun", FTPKIT, ...args], { cwd: REPO, env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

describe("--help into a pipe", () => {
  const commands = [["serve"], ["get"], ["user", "add"], []].map((words) => [words.join(" ") || "(no command)", words] as const);
  test.each(commands)("ftpkit %s --help: plain text, no trailing blanks", async (_label, words) => {
    const r = await ftpkit([...words, "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`USAGE ${["ftpkit", ...words].join(" ")}`);
    expect(r.stdout).not.toContain("\x1b[");
    expect(r.stdout.split("\n").filter((line) => / $/.test(line))).toEqual([]);
  });

  test("flags are not pushed past column 60 (every one is padded to the longest)", async () => {
    const r = await ftpkit(["serve", "--help"]);
    const users = r.stdout.split("\n").find((line) => line.includes("--users="))!;
    expect(users.indexOf("--users=")).toBeLessThan(60);
  });
});

/** The statuses an EXIT STATUS section lists, each at the start of its line ("130, 143" is two). */
function statusesIn(help: string): number[] {
  const section = help.slice(help.indexOf("\nEXIT STATUS\n"));
  return [...section.matchAll(/^\s+(\d+(?:, \d+)*)\s{2}/gm)].flatMap((m) => m[1]!.split(", ").map(Number));
}

describe("--help says what the exit status means", () => {
  // The README's "Exit status" table: the statuses a script may meet from a client command.
  const readme = readFileSync(join(REPO, "README.md"), "utf8");
  const table = readme.slice(readme.indexOf("### Exit status"), readme.indexOf("## In your tests"));
  const documented = [...table.matchAll(/^\| (\d+(?:, \d+)*) \|/gm)].flatMap((m) => m[1]!.split(", ").map(Number));

  test.each(["get", "put", "sync", "resume"])("ftpkit %s --help lists every status of the README's table", async (command) => {
    const r = await ftpkit([command, "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("\nEXIT STATUS\n");
    expect(documented).toEqual([0, 1, ...Object.values(EXIT_STATUS).sort((a, b) => a - b), 130, 143]);
    expect(statusesIn(r.stdout)).toEqual(documented);
  });

  test("ftpkit ls --help lists the table's statuses but 9 (ls verifies nothing), and says nothing of files verified or resumed", async () => {
    const r = await ftpkit(["ls", "--help"]);
    expect(r.code).toBe(0);
    expect(statusesIn(r.stdout)).toEqual(documented.filter((s) => s !== EXIT_STATUS.verify));
    const section = r.stdout.slice(r.stdout.indexOf("\nEXIT STATUS\n"));
    expect(section).not.toMatch(/verified|resume|tree job/);
  });

  test.each(["serve", "user add", "cert"])("ftpkit %s --help: 0 done, 1 any other error, 2 bad usage", async (words) => {
    const r = await ftpkit([...words.split(" "), "--help"]);
    expect(statusesIn(r.stdout)).toEqual([0, 1, 2]);
    expect(r.stdout).toContain("  2  bad usage: an unknown flag, a bad URL or value\n");
  });

  test("ftpkit test --help: 0, 1, 2 bad usage, and 130/143 when interrupted", async () => {
    const r = await ftpkit(["test", "--help"]);
    expect(statusesIn(r.stdout)).toEqual([0, 1, 2, 130, 143]);
    expect(r.stdout).toContain("  2  bad usage: an unknown flag, a bad URL or value\n");
  });
});

describe("--help names what a value may be", () => {
  // Each variable the server takes the S3 endpoint from, in its order, as the README's S3 section says.
  test("ftpkit serve --help: every variable --s3-endpoint defaults to", async () => {
    const names = ["S3_ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"];
    for (const name of names) expect(s3SettingsFromEnv({ [name]: "http://s3.test" }).endpoint).toBe("http://s3.test");
    const r = await ftpkit(["serve", "--help"]);
    const line = r.stdout.split("\n").find((l) => l.includes("--s3-endpoint="))!;
    expect(line).toContain(`(default: ${names.slice(0, -1).join(", ")} or ${names.at(-1)}, the first set)`);
  });

  // A row of the README's serve table that gives one flag a default: --help says it has one too.
  test("ftpkit serve --help: each flag the README's table gives a default to shows one", async () => {
    const readme = readFileSync(join(REPO, "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("## The server: `ftpkit serve`"), readme.indexOf("### One directory, no users file"));
    const flags = [...section.matchAll(/^\| `(--[a-z0-9-]+)[^`]*` \| ([^\n]*)$/gm)].filter((m) => /default/i.test(m[2]!)).map((m) => m[1]!);
    expect(flags).toContain("--log-format");
    const r = await ftpkit(["serve", "--help"]);
    const help = r.stdout.split("\n");
    const missing = flags.filter((flag) => !/default/i.test(help.find((l) => l.includes(`${flag}=`) || l.trimEnd().endsWith(flag)) ?? ""));
    expect(missing).toEqual([]);
  });


  // "unlimited" is taken (and the refusal of -1 suggests it), as the README's user quota line says.
  test.each(["add", "quota"])("ftpkit user %s --help: every spelling of no quota limit", async (command) => {
    const r = await ftpkit(["user", command, "--help"]);
    expect(r.stdout).toContain("0, none or unlimited = no limit");
  });
});

describe("colour on a terminal", () => {
  /** `ftpkit ARGS` under a pty (script(1)), with NO_COLOR as given: what the terminal gets. */
  async function onTerminal(noColor: string | undefined, args = "get --help"): Promise<string> {
    const env = cleanEnv();
    delete env.NO_COLOR;
    delete env.FORCE_COLOR;
    delete env.CI;
    delete env.TEST;
    env.TERM = "xterm";
    if (noColor !== undefined) env.NO_COLOR = noColor;
    const proc = Bun.spawn(["script", "-qfec", `bun ${FTPKIT} ${args}`, "/dev/null"], { cwd: REPO, env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    const timer = setTimeout(() => proc.kill(9), 20_000);
    const out = await new Response(proc.stdout).text();
    await proc.exited;
    clearTimeout(timer);
    return out;
  }
  /** A failure's line, written by consola (not citty). */
  const FAILURE = "nosuch";

  test("--help and a failure's line are coloured without NO_COLOR (the checks below see colours when they are there)", async () => {
    expect(await onTerminal(undefined)).toContain("\x1b[");
    expect(await onTerminal(undefined, FAILURE)).toContain("\x1b[");
  });

  // Before: consola took an empty NO_COLOR as set, so its lines lost their colour while --help kept it.
  test("NO_COLOR empty: coloured as without it, --help and a failure's line alike (no-color.org: an empty value is no request)", async () => {
    expect(await onTerminal("")).toContain("\x1b[");
    const failure = await onTerminal("", FAILURE);
    expect(failure).toContain("unknown command nosuch");
    expect(failure).toContain("\x1b[");
  });

  test.each(["1", "true", "yes", "false", "0"])("NO_COLOR=%s: no colour in --help nor in a failure's line (no-color.org: any value but empty)", async (value) => {
    const help = await onTerminal(value);
    expect(help).toContain("USAGE ftpkit get");
    expect(help).not.toContain("\x1b[");
    const failure = await onTerminal(value, FAILURE);
    expect(failure).toContain("unknown command nosuch");
    expect(failure).not.toContain("\x1b[");
  });
});

test("ftpkit alone prints its help and exits 2, as a usage error (it exited 1, with citty's 'No command specified.')", async () => {
  const r = await ftpkit([]);
  expect(r.code).toBe(2);
  expect(r.stdout).toContain("Use ftpkit <command> --help for more information about a command.");
  expect(r.stderr).toBe("");
});

describe("usage errors citty finds", () => {
  const cases: Array<[string, string[], number, RegExp]> = [
    ["an unknown command", ["nosuch"], 2, /^\[error\] unknown command nosuch \(see ftpkit --help\)$/],
    ["an unknown user subcommand", ["user", "nosuch"], 2, /^\[error\] unknown command nosuch \(see ftpkit user --help\)$/],
    ["a missing argument", ["user", "add"], 2, /^\[error\] missing required positional argument: NAME \(see ftpkit user add --help\)$/],
    ["a missing URL", ["get"], 2, /^\[error\] missing required positional argument: URL \(see ftpkit get --help\)$/],
    // No URL, but a flag that does not exist: that is named first, as it is when a URL is given.
    ["an unknown flag and no URL", ["get", "--version"], 2, /^\[error\] unknown option --version$/],
    ["an unknown flag and no NAME", ["user", "add", "--qouta=5GB"], 2, /^\[error\] unknown option --qouta$/],
    // The URL was typed: --retries took it. The URL (a password in it) is not repeated.
    ["a value flag that took the URL", ["get", "--retries", "ftp://u:SeCrEt@127.0.0.1:9/x"], 2, /^\[error\] missing required positional argument: URL \(--retries took it as its value: give --retries one first; see ftpkit get --help\)$/],
  ];
  test.each(cases)("%s: one plain line naming the command's help", async (_label, args, code, line) => {
    const r = await ftpkit(args);
    expect(r.code).toBe(code);
    expect(r.stdout).toBe("");
    expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(r.stderr.trimEnd()).toMatch(line);
    expect(r.stderr).not.toContain("SeCrEt");
  });
});

describe("a command that prints a JSON list (or test's checklist) prints one object {error} when it fails, never nothing", () => {
  // A script's `| jq length` read an empty stdout as no input at all: no output, no error of jq's.
  const cases: Array<[string, string[], number, string]> = [
    ["ls with no URL", ["ls", "--json"], 2, "missing required positional argument: URL (see ftpkit ls --help)"],
    ["resume --list with an unknown flag", ["resume", "--list", "--json", "--bogus"], 2, "unknown option --bogus"],
    ["user list of a users file that is not there", ["user", "list", "--json", "--users", "/nonexistent-ftpkit/users.ini"], 1, "users file /nonexistent-ftpkit/users.ini: not found (create it with `ftpkit user add NAME`)"],
    // test --json prints a checklist object; refused before it began, its {error} (it printed nothing).
    ["test with no TARGET", ["test", "--json"], 2, "missing required positional argument: TARGET (see ftpkit test --help)"],
  ];
  test.each(cases)("%s", async (_label, args, code, error) => {
    const r = await ftpkit(args);
    expect(r.code).toBe(code);
    expect(JSON.parse(r.stdout)).toEqual({ error });
    expect(r.stderr.trimEnd()).toBe(`[error] ${error}`);
  });
});

test("with --json the report's error is the line stderr shows", async () => {
  const r = await ftpkit(["ls", "--json"]);
  expect(r.code).toBe(2);
  expect(JSON.parse(r.stdout)).toEqual({ error: "missing required positional argument: URL (see ftpkit ls --help)" });
  expect(r.stderr.trimEnd()).toBe(`[error] ${JSON.parse(r.stdout).error}`);
});
