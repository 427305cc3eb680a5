// Passwords on the command line are starred in what `ps` shows (/proc/PID/cmdline) once ftpkit has
// started, client and server alike, while the password itself still works.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import type { Socket } from "bun";
import { argsWithoutSecrets, psLine } from "../../cli/hide-secrets.ts";
import { FTPKIT, spawnFtpkit } from "../helpers/peers.ts";
import { serveEnv, spawnServe, type ServeProcess } from "../helpers/serve-proc.ts";
import { useCleanups } from "../helpers/cleanups.ts";

const owned = useCleanups("ftpkit-ps-secrets-");

/**
 * What `ps` shows of a process's arguments, split into words: NUL-separated arguments as they were,
 * or the one line a process that masked a secret wrote (cli/hide-secrets.ts).
 */
function shownArgs(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, "utf8").split(/[\0 ]/).filter((w) => w !== "");
}

/**
 * A server that asks for a password, calls `atPass` with it as it arrives (the client still waiting
 * for the answer), then refuses the login (530: the client exits 6). Stopped with the test.
 */
function refusingAtPass(atPass: (password: string) => void) {
  const server = Bun.listen<{ buffer: string }>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(s) {
        s.data = { buffer: "" };
        s.write("220 ready\r\n");
      },
      data(s: Socket<{ buffer: string }>, chunk) {
        s.data.buffer += chunk.toString();
        let nl: number;
        while ((nl = s.data.buffer.indexOf("\r\n")) >= 0) {
          const line = s.data.buffer.slice(0, nl);
          s.data.buffer = s.data.buffer.slice(nl + 2);
          if (line.startsWith("USER ")) s.write("331 password please\r\n");
          else if (line.startsWith("PASS ")) {
            atPass(line.slice(5));
            s.write("530 not today\r\n");
          } else s.write("500 no\r\n");
        }
      },
    },
  });
  owned.later(() => server.stop(true));
  return server;
}

/**
 * For each password: ftpkit run with `args(port, password)` against a server that reads the client's
 * /proc/PID/cmdline (and `ps -o args`) when the password arrives, then refuses the login (exit 6).
 */
async function cmdlinesAtPass(args: (port: number, password: string) => string[], passwords: string[]): Promise<{ raw: Buffer; line: string; ps: string; port: number }[]> {
  let clientPid = 0;
  const seen: { raw: Buffer; line: string; ps: string; port: number }[] = [];
  let heard!: () => void;
  let passArrived = new Promise<void>((resolve) => (heard = resolve));
  const server = refusingAtPass(() => {
    const raw = readFileSync(`/proc/${clientPid}/cmdline`);
    const ps = Bun.spawnSync(["ps", "-o", "args=", "-p", String(clientPid)]).stdout.toString().trimEnd();
    seen.push({ raw, line: raw.toString("latin1").split("\0")[0]!, ps, port: server.port });
    heard();
  });
  for (const password of passwords) {
    const proc = spawnFtpkit(args(server.port, password), { cwd: owned.workDir() });
    clientPid = proc.pid;
    owned.later(() => void proc.kill(9));
    await passArrived;
    expect(await proc.exited).toBe(6);
    passArrived = new Promise<void>((resolve) => (heard = resolve));
  }
  return seen;
}

describe("argsWithoutSecrets", () => {
  test("masks a URL's password, --user NAME:PASS and --password with the same three stars, whatever their length", () => {
    const args = [
      "get",
      "ftp://alice:s3cret@host:21/dir/f",
      "ftps://bob:p@ss@host/",
      "--state=redis://:redis-pw@127.0.0.1:6379/0",
      "--s3-endpoint",
      "http://key:secret-key@127.0.0.1:7480",
      "--user",
      "carol:pw:with:colons",
      "--user=dave:pw2",
      "--password",
      "hunter2",
      "--password=hunter3",
    ];
    expect(argsWithoutSecrets(args)).toEqual([
      "get",
      "ftp://alice:***@host:21/dir/f",
      "ftps://bob:***@host/",
      "--state=redis://:***@127.0.0.1:6379/0",
      "--s3-endpoint",
      "http://key:***@127.0.0.1:7480",
      "--user",
      "carol:***",
      "--user=dave:***",
      "--password",
      "***",
      "--password=***",
    ]);
  });

  test("leaves arguments without a secret as they are", () => {
    const args = ["put", "-r", "./a:b@c", "ftp://alice@host/dir", "ftp://host/d", "--user", "anonymous", "--parallel", "4"];
    expect(argsWithoutSecrets(args)).toEqual(args);
  });

  test("a URL inside an argument (a --hook's EVENT=URL) has its password starred too", () => {
    expect(argsWithoutSecrets(["--hook", "upload=https://hooks:h00k-pw@127.0.0.1:9/x", "--hook=delete=http://u:pw2@h/"])).toEqual([
      "--hook",
      "upload=https://hooks:***@127.0.0.1:9/x",
      "--hook=delete=http://u:***@h/",
    ]);
  });

  test("a --hook's webhook URL has what follows its first path segment starred too (the rest of the path, the query), as the logs show it", () => {
    expect(
      argsWithoutSecrets(["--hook", "login=http://u:T0K1@127.0.0.1:44556/okpath/SECRET2?token=SECRET3", "--hook=upload=https://h/services/T0/B1/S3CR", "--hook", "delete=https://h/?key=S4", "--hook", "mkdir=/usr/bin/scan --key=abc"]),
    ).toEqual(["--hook", "login=http://u:***@127.0.0.1:44556/okpath/***", "--hook=upload=https://h/services/***", "--hook", "delete=https://h/?***", "--hook", "mkdir=/usr/bin/scan --key=abc"]);
  });

  test("a malformed URL is starred up to its last '@', as the URL parser reads a password", () => {
    // Too much starred costs nothing; too little would show the password.
    expect(argsWithoutSecrets(["ftp://u:p/w@d@host/x"])).toEqual(["ftp://u:***@host/x"]);
  });
});

describe("psLine", () => {
  /** The line for `program` then `args`, in an argument area as large as they are, and that area's room (its size less 2). */
  const shown = (program: string[], args: string[]) => {
    const area = [...program, ...args].join("\0").length + 1;
    return { line: psLine([...program, ...args], args.length, area - 2), room: area - 2 };
  };
  const secrets = ["a", "ab", "abc", "abcd", "x".repeat(40)];

  test.each([
    ["bun and the script by their paths", ["/usr/local/bin/bun", "/opt/ftpkit/cli/ftpkit.ts"], "bun /opt/ftpkit/cli/ftpkit.ts"],
    ["bun as typed and the script by its path", ["bun", "/opt/ftpkit/cli/ftpkit.ts"], "bun ftpkit.ts"],
    ["a compiled ftpkit by its path", ["/usr/local/bin/ftpkit"], "ftpkit"],
  ])("%s: whatever a password's length, the same line, which fits and keeps every argument", (_how, program, shownProgram) => {
    const lines = secrets.map((pw) => shown(program, ["get", `ftp://alice:${pw}@host/f`, "out", "-q"]));
    for (const { line, room } of lines) expect(line.length).toBeLessThanOrEqual(room);
    expect(new Set(lines.map((l) => l.line))).toEqual(new Set([`${shownProgram} get ftp://alice:***@host/f out -q`]));
  });

  test("a secret that is \"***\" itself shortens the program's words as any other does (the line does not tell it)", () => {
    const lines = ["***", "x", "yyyyy"].map((pw) => shown(["bun", "/o/ftpkit.ts"], ["serve", "--user", `a:${pw}`, "--password", "pw"]).line);
    expect(new Set(lines)).toEqual(new Set(["ftpkit.ts serve --user a:*** --password ***"]));
  });

  test("two 1-character secrets after a compiled ftpkit typed by its name: the name is left out, every argument kept", () => {
    const { line, room } = shown(["ftpkit"], ["serve", "--user", "a:b", "--password", "c"]);
    expect(line).toBe("serve --user a:*** --password ***");
    expect(line.length).toBeLessThanOrEqual(room);
  });
});

describe("ps shows stars", () => {
  test("ftpkit get ftp://user:PASSWORD@…: the command line shows stars, the server still gets the password", async () => {
    // A server that reads the client's command line when the password arrives, then refuses the login.
    let clientPid = 0;
    let seen: { pass: string; shown: string[] } | null = null;
    let heard!: () => void;
    const passArrived = new Promise<void>((resolve) => (heard = resolve));
    const server = refusingAtPass((pass) => {
      seen = { pass, shown: shownArgs(clientPid) };
      heard();
    });
    const url = `ftp://alice:s3cret-pw@127.0.0.1:${server.port}/file.bin`;
    const proc = spawnFtpkit(["get", url, "out.bin", "-q"], { cwd: owned.workDir() });
    clientPid = proc.pid;
    owned.later(() => void proc.kill(9));
    await passArrived;
    expect(await proc.exited).toBe(6); // the refused login
    expect(seen!.pass).toBe("s3cret-pw");
    expect(seen!.shown.join(" ")).not.toContain("s3cret-pw");
    expect(seen!.shown).toContain(`ftp://alice:***@127.0.0.1:${server.port}/file.bin`);
  }, 30_000);

  // `get` re-executes itself (cli/tuning.ts: its first word then bun's absolute path); `ls` does not
  // (`bun` as spawned, then the script's absolute path).
  for (const [command, tail] of [["get", "out.bin -q"], ["ls", "--names"]] as const) {
    test(`${command}: a password of 1, 2, 3, 4 or 40 characters shows the same command line, byte for byte, and all of it`, async () => {
      const passwords = ["p", "pw", "pw1", "pw12", "p".repeat(40)];
      const seen = await cmdlinesAtPass((port, password) => (command === "get" ? ["get", `ftp://alice:${password}@127.0.0.1:${port}/f`, "out.bin", "-q"] : ["ls", `ftp://alice:${password}@127.0.0.1:${port}/f`, "--names"]), passwords);
      const shown = seen[0]!.line;
      expect(shown).toEndWith(`ftp://alice:***@127.0.0.1:${seen[0]!.port}/f ${tail}`);
      // What `ps` prints is that line.
      expect(seen[0]!.ps).toBe(shown);
      for (const s of seen) expect(s.raw.equals(seen[0]!.raw)).toBe(true);
    }, 30_000);
  }
  test("serve --root DIR --user NAME:PASS, with --workers 2: no process shows the password (the workers not even its flag), which logs in", async () => {
    const dir = owned.workDir();
    let serve: ServeProcess | null = await spawnServe(["--root", dir, "--user", "bob:pw-xyz-123", "--workers", "2"], { cwd: dir });
    owned.later(async () => void (await serve?.kill("SIGTERM")));
    const workers = /pids (\d+) (\d+)/.exec(serve.stdout() + serve.stderr());
    expect(workers).not.toBeNull();
    expect(shownArgs(serve.proc.pid)).toContain("bob:***");
    for (const pid of [Number(workers![1]), Number(workers![2])]) {
      // Not even starred: a worker's command line, shown from its start until it starred the
      // password (5–8 ms measured, at every restart), no longer holds --user at all.
      const shown = shownArgs(pid);
      expect(shown.join(" ")).not.toContain("pw-xyz-123");
      expect(shown.some((a) => a.startsWith("--user") || a.startsWith("bob:"))).toBe(false);
    }
    // The workers still have the account (SO_REUSEPORT spreads these logins over both).
    for (let i = 0; i < 4; i++) {
      const login = Bun.spawn(["curl", "-sS", "--max-time", "10", "--user", "bob:pw-xyz-123", `ftp://127.0.0.1:${serve.port}/`], { stdout: "pipe", stderr: "pipe" });
      expect(await login.exited).toBe(0);
    }
    await serve.kill("SIGTERM");
    serve = null;
  }, 30_000);

  test("an argument that is not UTF-8 (a Latin-1 name) leaves the masking on", async () => {
    const dir = owned.workDir();
    // No re-execution (its tuning is set already), so the first image's arguments are the ones shown;
    // the Latin-1 "é" (0xE9) comes last, as the shell passes it, byte for byte.
    const proc = Bun.spawn(
      ["sh", "-c", 'exec "$@" "$(printf \'caf\\351\')"', "sh", "bun", FTPKIT, "serve", "--root", dir, "--user", "bob:pw-latin-1-41", "--host", "127.0.0.1", "--port", "0", "--welcome"],
      { cwd: dir, env: { ...serveEnv(), MIMALLOC_PURGE_DELAY: "-1" }, stdin: "ignore", stdout: "pipe", stderr: "pipe" },
    );
    owned.later(async () => {
      proc.kill(9);
      await proc.exited;
    });
    const reader = proc.stdout.getReader();
    let out = "";
    while (!out.includes("listening")) {
      const next = await reader.read();
      if (next.done) throw new Error(`serve exited: ${await new Response(proc.stderr).text()}`);
      out += new TextDecoder().decode(next.value);
    }
    const raw = readFileSync(`/proc/${proc.pid}/cmdline`);
    expect(raw.includes(Buffer.from([0x63, 0x61, 0x66, 0xe9, 0]))).toBe(true); // the name, byte for byte
    expect(raw.toString("latin1")).not.toContain("pw-latin-1-41");
    expect(raw.toString("latin1")).toContain("bob:***");
  }, 30_000);

  test("serve --hook EVENT=https://user:PASSWORD@…: the command line shows stars", async () => {
    const dir = owned.workDir();
    const serve = await spawnServe(["--root", dir, "--anonymous", "--hook", "upload=https://hooks:h00k-pw-77@127.0.0.1:9/x"], { cwd: dir });
    owned.later(async () => void (await serve.kill("SIGTERM")));
    const shown = shownArgs(serve.proc.pid);
    expect(shown.join(" ")).not.toContain("h00k-pw-77");
    expect(shown).toContain("upload=https://hooks:***@127.0.0.1:9/x");
  }, 30_000);
});
