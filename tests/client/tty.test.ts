// Questions on a terminal: the password prompt does not echo; a pending transfer asks "Resume? [Y/n]".
import { describe, expect, test, setDefaultTimeout } from "bun:test";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FTPKIT, cleanEnv, digest, runFtpkit, waitFor } from "../helpers/peers.ts";
import { useFakeServerWork } from "./fake-server.ts";

setDefaultTimeout(60_000); // real servers and CLI processes; see BUN-NOTES on the preload

const t = useFakeServerWork();

/** Run `cmd` under a pty; when the output matches a key of `answers`, type its value (once). */
async function converse(cmd: string, answers: [RegExp, string][]): Promise<{ code: number; out: string }> {
  const proc = Bun.spawn(["script", "-qfec", cmd, "/dev/null"], { cwd: t.work, env: { ...cleanEnv(), NO_COLOR: "1" }, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  let out = "";
  const reading = (async () => {
    const dec = new TextDecoder();
    for await (const chunk of proc.stdout) out += dec.decode(chunk, { stream: true });
  })();
  const timer = setTimeout(() => proc.kill(9), 20_000);
  try {
    for (const [re, text] of answers) {
      // Typed the moment the prompt shows: raw mode is on before the question is written.
      await waitFor(() => re.test(out), 10_000, `prompt ${re}`);
      proc.stdin.write(text);
      await proc.stdin.flush();
    }
    const code = await proc.exited;
    await reading;
    return { code, out };
  } finally {
    clearTimeout(timer);
    proc.kill(9);
  }
}

const data = Buffer.from(crypto.getRandomValues(new Uint8Array(100_000)));

describe("put - typed at the terminal", () => {
  test("after the password prompt, what is typed until Ctrl-D is uploaded, and the job ends", async () => {
    const fake = t.start({ files: new Map(), feat: ["SIZE"], password: "hunter2" });
    const r = await converse(`bun ${FTPKIT} put - ftp://user@127.0.0.1:${fake.port}/typed.txt --no-verify`, [
      [/Password for user@127\.0\.0\.1: /, "hunter2\r"],
      // The prompt's line ended: the password was read and raw mode is off (keys typed before went to it).
      [/Password for user@127\.0\.0\.1: \r?\n/, "typed line\n\u0004"],
    ]);
    expect(r.code).toBe(0);
    expect(fake.files.get("/typed.txt")?.toString()).toBe("typed line\n");
  });

  test("data piped in (pg_dump | ftpkit put -): the password is asked on the terminal, and the piped bytes are uploaded", async () => {
    const fake = t.start({ files: new Map(), feat: ["SIZE"], password: "hunter2" });
    const r = await converse(`printf 'piped line\\n' | bun ${FTPKIT} put - ftp://user@127.0.0.1:${fake.port}/piped.txt --no-verify`, [
      [/Password for user@127\.0\.0\.1: /, "hunter2\r"],
    ]);
    expect(r.out).not.toContain("no password for");
    expect(r.out).not.toContain("hunter2");
    expect(r.code).toBe(0);
    expect(fake.files.get("/piped.txt")?.toString()).toBe("piped line\n");
  });

  test("with the password in the URL (no prompt), Ctrl-D ends the upload too", async () => {
    const fake = t.start({ files: new Map(), feat: ["SIZE"], password: "hunter2" });
    const r = await converse(`bun ${FTPKIT} put - ftp://user:hunter2@127.0.0.1:${fake.port}/typed.txt --no-verify`, [[/$/, "no prompt\n\u0004"]]);
    expect(r.code).toBe(0);
    expect(fake.files.get("/typed.txt")?.toString()).toBe("no prompt\n");
  });
});

describe("get URL - onto the terminal", () => {
  test("the file is written without a progress bar drawn between its lines (curl shows none either)", async () => {
    const text = "first line of the file\nsecond line\n";
    const fake = t.start({ files: new Map([["/f.txt", Buffer.from(text)]]), feat: ["SIZE"] });
    const { code, out } = await converse(`${process.execPath} ${FTPKIT} get ftp://u:p@127.0.0.1:${fake.port}/f.txt -`, []);
    expect(code).toBe(0);
    expect(out.replace(/\r\n/g, "\n")).toContain(text);
    // What a bar draws: its ETA, and the carriage return or erase sequence that redraws it.
    expect(out).not.toContain("ETA");
    expect(out).not.toMatch(/\r(?!\n)|\x1b\[/);
  });
});

describe("terminal questions", () => {
  test("Ctrl-C at the password prompt exits 130 as an interruption, not 6 as a missing password", async () => {
    const fake = t.start({ files: new Map([["/f.bin", data]]), feat: ["SIZE"], password: "hunter2" });
    const r = await converse(`bun ${FTPKIT} get ftp://user@127.0.0.1:${fake.port}/f.bin`, [[/Password for user@127\.0\.0\.1: /, "hun\u0003"]]);
    expect(r.code).toBe(130);
    expect(r.out).not.toContain("no password for");
    expect(existsSync(join(t.work, "f.bin"))).toBe(false);
  });

  test("asks for the password without echoing it", async () => {
    const fake = t.start({ files: new Map([["/f.bin", data]]), feat: ["SIZE"], password: "hunter2" });
    const r = await converse(`bun ${FTPKIT} get ftp://user@127.0.0.1:${fake.port}/f.bin`, [[/Password for user@127\.0\.0\.1: /, "hunter2\r"]]);
    expect(r.code).toBe(0);
    expect(r.out).not.toContain("hunter2");
    expect(digest(readFileSync(join(t.work, "f.bin")))).toBe(digest(data));
  });

  test("a pending transfer asks Resume? [Y/n]: yes continues, no starts over", async () => {
    const fake = t.start({ files: new Map([["/f.bin", data]]), feat: ["SIZE", "MDTM"], dropRetrAfter: 30_000 });
    const url = `ftp://u:p@127.0.0.1:${fake.port}/f.bin`;
    const first = await runFtpkit(["get", url, "--retries", "0"], { cwd: t.work });
    expect(first.code).toBe(4);
    expect(readFileSync(join(t.work, "f.bin.ftpkit-part")).length).toBe(30_000);

    const yes = await converse(`bun ${FTPKIT} get '${url}'`, [[/Resume\? \[Y\/n\]/, "\r"]]);
    expect(yes.code).toBe(0);
    expect(fake.commands).toContain("REST 30000");
    expect(digest(readFileSync(join(t.work, "f.bin")))).toBe(digest(data));
    expect(existsSync(join(t.work, ".ftpkit"))).toBe(false);
  });

  test("answering no discards the partial file and downloads from zero", async () => {
    const fake = t.start({ files: new Map([["/f.bin", data]]), feat: ["SIZE", "MDTM"], dropRetrAfter: 30_000 });
    const url = `ftp://u:p@127.0.0.1:${fake.port}/f.bin`;
    expect((await runFtpkit(["get", url, "--retries", "0"], { cwd: t.work })).code).toBe(4);
    const no = await converse(`bun ${FTPKIT} get '${url}'`, [[/Resume\? \[Y\/n\]/, "n\r"]]);
    expect(no.code).toBe(0);
    expect(fake.commands.filter((c) => c.startsWith("REST"))).toEqual([]);
    expect(fake.retrBytes.at(-1)).toBe(data.length);
    expect(existsSync(join(t.work, "f.bin.ftpkit-part"))).toBe(false);
    expect(digest(readFileSync(join(t.work, "f.bin")))).toBe(digest(data));
  });
});

test("the package API's get() never asks the resume question on a terminal: a second call continues", async () => {
  const fake = t.start({ files: new Map([["/f.bin", data]]), feat: ["SIZE", "MDTM"], dropRetrAfter: 30_000 });
  const url = `ftp://u:p@127.0.0.1:${fake.port}/f.bin`;
  const script = join(t.work, "api-get.ts");
  const api = join(import.meta.dir, "../../cli/api.ts");
  writeFileSync(script, `import { get } from ${JSON.stringify(api)};\nconst r = await get(${JSON.stringify(url)}, "api.bin").then(() => "done", (e) => "failed: " + e.message);\nconsole.log("RESULT " + r);\n`);
  const first = await converse(`bun ${script}`, []);
  expect(first.out).toContain("RESULT failed");
  const second = await converse(`bun ${script}`, []);
  expect(second.out).not.toContain("Resume?");
  expect(second.out).toContain("RESULT done");
  expect(fake.commands).toContain("REST 30000");
  expect(digest(readFileSync(join(t.work, "api.bin")))).toBe(digest(data));
});

describe("the resume question, answered badly", () => {
  /** A download cut off after 30,000 bytes: its part file and record wait in the work directory. */
  async function pendingDownload(): Promise<{ fake: ReturnType<typeof t.start>; url: string }> {
    const fake = t.start({ files: new Map([["/f.bin", data]]), feat: ["SIZE", "MDTM"], dropRetrAfter: 30_000 });
    const url = `ftp://u:p@127.0.0.1:${fake.port}/f.bin`;
    expect((await runFtpkit(["get", url, "--retries", "0"], { cwd: t.work })).code).toBe(4);
    return { fake, url };
  }
  const asked = (times: number) => new RegExp(`(Resume\\? \\[Y/n\\][^]*){${times}}`);
  const partKept = () => expect(readFileSync(join(t.work, "f.bin.ftpkit-part")).length).toBe(30_000);

  test("an unknown answer asks again; yes then resumes", async () => {
    const { fake, url } = await pendingDownload();
    const r = await converse(`bun ${FTPKIT} get '${url}'`, [[asked(1), "yse\r"], [asked(2), "y\r"]]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("please answer y (yes) or n (no); Enter means yes");
    expect(fake.commands).toContain("REST 30000");
    expect(digest(readFileSync(join(t.work, "f.bin")))).toBe(digest(data));
  });

  test("three unknown answers: exit 2 with one line, the partial download kept", async () => {
    const { url } = await pendingDownload();
    const r = await converse(`bun ${FTPKIT} get '${url}'`, [[asked(1), "x\r"], [asked(2), "nein\r"], [asked(3), "q\r"]]);
    expect(r.code).toBe(2);
    expect(r.out).toContain(`no answer understood after 3 tries (the last: "q"): the interrupted transfer of ${join(t.work, "f.bin")} stays pending`);
    partKept();
    expect(existsSync(join(t.work, ".ftpkit"))).toBe(true);
  });

  test("no says the partial download was discarded, and downloads from the start", async () => {
    const { fake, url } = await pendingDownload();
    const r = await converse(`bun ${FTPKIT} get '${url}'`, [[asked(1), "no\r"]]);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`the partial download of ${join(t.work, "f.bin")} was discarded: downloading it from the start`);
    expect(fake.commands.filter((c) => c.startsWith("REST"))).toEqual([]);
    expect(digest(readFileSync(join(t.work, "f.bin")))).toBe(digest(data));
  });

  test("no to a pending upload says it was discarded, and the server gets the whole file", async () => {
    const fake = t.start({ feat: ["SIZE", "MDTM", "REST STREAM"], dropStorAfter: 30_000 });
    const url = `ftp://u:p@127.0.0.1:${fake.port}/up.bin`;
    writeFileSync(join(t.work, "up.bin"), data);
    expect((await runFtpkit(["put", "up.bin", url, "--retries", "0"], { cwd: t.work })).code).toBe(4);
    const r = await converse(`bun ${FTPKIT} put up.bin '${url}'`, [[asked(1), "n\r"]]);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`the interrupted upload of ${join(t.work, "up.bin")} was discarded: uploading it from the start`);
    expect(digest(fake.files.get("/up.bin")!)).toBe(digest(data));
  });

  test("Backspace erases the typed character on the screen too, so what is shown is the answer read", async () => {
    const { url } = await pendingDownload();
    // "x", Backspace: the answer is now empty, and the screen must show that (not "x", then "xn").
    const r = await converse(`bun ${FTPKIT} get '${url}'`, [[asked(1), "x"], [/Resume\? \[Y\/n\] x/, "\u007f"], [/x\x08 \x08/, "n\r"]]);
    expect(r.code).toBe(0);
    expect(r.out).not.toContain("\u007f");
    expect(r.out).toContain(`the partial download of ${join(t.work, "f.bin")} was discarded`);
  });

  test("Ctrl-C exits 130 with one line; the partial download is kept", async () => {
    const { url } = await pendingDownload();
    const r = await converse(`bun ${FTPKIT} get '${url}'`, [[asked(1), "\u0003"]]);
    expect(r.code).toBe(130);
    expect(r.out).toContain(`cancelled: the interrupted transfer of ${join(t.work, "f.bin")} stays pending; \`ftpkit resume\` continues it`);
    partKept();
  });

  test("Ctrl-D (end of input) exits 1 with one line; the partial download is kept", async () => {
    const { url } = await pendingDownload();
    const r = await converse(`bun ${FTPKIT} get '${url}'`, [[asked(1), "\u0004"]]);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`no answer (end of input): the interrupted transfer of ${join(t.work, "f.bin")} stays pending`);
    partKept();
  });
});

describe("Ctrl-C at a password prompt of `ftpkit resume`", () => {
  test("after a job that stayed pending: exit 130, and the line saying how to continue", async () => {
    const a = t.start({ files: new Map([["/a.bin", data]]), feat: ["SIZE", "MDTM"], dropRetrAfter: 30_000, oopsOnTransfer: 2 });
    expect((await runFtpkit(["get", `ftp://u:p@127.0.0.1:${a.port}/a.bin`, "--retries", "0"], { cwd: t.work })).code).toBe(4);
    const bOpts = { files: new Map([["/b.bin", data]]), feat: ["SIZE", "MDTM"], dropRetrAfter: 30_000, password: "old" };
    const b = t.start(bOpts);
    expect((await runFtpkit(["get", `ftp://u:old@127.0.0.1:${b.port}/b.bin`, "--retries", "0"], { cwd: t.work })).code).toBe(4);
    // b's password changes: its job, run after a's (which fails again and stays pending), asks for the new one.
    bOpts.password = "new";
    const r = await converse(`bun ${FTPKIT} resume --retries 0`, [[/Password for u@127\.0\.0\.1: /, "ne\u0003"]]);
    expect(r.code).toBe(130);
    // Before: no such line (the handler's exit had not written it yet when the prompt's own exit came).
    expect(r.out).toContain("interrupted: run `ftpkit resume` here to continue");
  });
});
