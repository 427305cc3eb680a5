// A server without passive mode (vsftpd's pasv_enable=NO: "550 Permission denied." to EPSV and
// PASV; pyftpdlib without them: 500) or without active mode (PORT refused): the client says which
// mode the server refuses and what to do, and a tree job does not call the directory missing.
import { expect, test } from "bun:test";
import { runFtpkit } from "../helpers/peers.ts";
import { get } from "../../cli/api.ts";
import { join } from "node:path";
import { type ScriptedServer, type Script, useScriptedServerWork } from "./scripted-server.ts";

const t = useScriptedServerWork();

/** /d is a directory (CWD enters it), /d/f.txt a file; data connections are refused as `refuse` says. */
function start(refuse: Record<string, [number, string]>): ScriptedServer {
  const on: Script["on"] = {
    CWD: (c, arg) => (arg === "/" || arg === "/d" ? c.reply(250, "ok") : c.reply(550, "No such directory")),
    SIZE: (c, arg) => (arg === "/d/f.txt" ? c.reply(213, "5") : c.reply(550, "Not a plain file")),
  };
  for (const [verb, [code, text]] of Object.entries(refuse)) on[verb] = (c) => c.reply(code, text);
  return t.start({ feat: ["SIZE", "UTF8"], on });
}

const NO_PASSIVE = { EPSV: [550, "Permission denied."], PASV: [550, "Permission denied."] } satisfies Record<string, [number, string]>;

test("EPSV and PASV both refused for good (vsftpd's pasv_enable=NO): get says the server refuses passive mode and to try --active, exit 8", async () => {
  const server = start(NO_PASSIVE);
  const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${server.port}/d/f.txt`, "f.txt", "--retries", "0"], { cwd: t.work, timeoutMs: 30_000 });
  expect(r.stderr).toContain("PASV: Permission denied. (550); the server refuses passive mode (EPSV and PASV): try --active");
  expect(r.code).toBe(8);
});

test("the package API's get from a server without passive mode names its own option (active: true), not the CLI's flag", async () => {
  const server = start(NO_PASSIVE);
  const err = await get(`ftp://u:p@127.0.0.1:${server.port}/d/f.txt`, join(t.work, "f.txt")).then(() => null, (e: unknown) => e as Error);
  expect(err?.message).toContain("the server refuses passive mode (EPSV and PASV): try active: true");
});

test("get -r from a server without passive mode says so, not that the directory is missing", async () => {
  const server = start({ EPSV: [500, "Unknown command"], PASV: [500, "Unknown command"] });
  const r = await runFtpkit(["get", "-r", `ftp://u:p@127.0.0.1:${server.port}/d`, "out", "--retries", "0"], { cwd: t.work, timeoutMs: 30_000 });
  expect(r.stderr).not.toContain("not found");
  expect(r.stderr).toContain("the server refuses passive mode (EPSV and PASV): try --active");
  expect(r.code).toBe(8);
});

test("a transient PASV refusal (425) gets no advice about modes", async () => {
  const server = start({ EPSV: [500, "Unknown command"], PASV: [425, "Cannot open passive connection"] });
  const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${server.port}/d/f.txt`, "f.txt", "--retries", "0"], { cwd: t.work, timeoutMs: 30_000 });
  expect(r.stderr).toContain("PASV: Cannot open passive connection (425)");
  expect(r.stderr).not.toContain("--active");
  expect(r.code).not.toBe(0);
});

test("EPSV refused for now (425) and PASV for good (500): no advice about modes, EPSV may work", async () => {
  const server = start({ EPSV: [425, "Cannot open passive connection"], PASV: [500, "Unknown command"] });
  const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${server.port}/d/f.txt`, "f.txt", "--retries", "0"], { cwd: t.work, timeoutMs: 30_000 });
  expect(r.stderr).toContain("PASV: Unknown command (500)");
  expect(r.stderr).not.toContain("--active");
  expect(r.code).not.toBe(0);
});

test("--active where EPRT and PORT are both refused for good: says the server refuses active mode and to leave out --active", async () => {
  const server = start({ EPRT: [500, "Unknown command"], PORT: [550, "Permission denied."] });
  const r = await runFtpkit(["get", "--active", `ftp://u:p@127.0.0.1:${server.port}/d/f.txt`, "f.txt", "--retries", "0"], { cwd: t.work, timeoutMs: 30_000 });
  expect(r.stderr).toContain("PORT: Permission denied. (550); the server refuses active mode (EPRT and PORT): leave out --active");
  expect(r.code).toBe(8);
});

test("get -r where EPSV has no port free (425) and PASV is refused (500): says both, not that the directory is missing, and no advice about modes", async () => {
  const server = start({ EPSV: [425, "Cannot open passive connection"], PASV: [500, "Unknown command"] });
  const r = await runFtpkit(["get", "-r", `ftp://u:p@127.0.0.1:${server.port}/d`, "out", "--retries", "0"], { cwd: t.work, timeoutMs: 30_000 });
  expect(r.stderr).not.toContain("not found");
  expect(r.stderr).toContain("EPSV: Cannot open passive connection (425); PASV: Unknown command (500)");
  expect(r.stderr).not.toContain("--active");
  expect(r.code).not.toBe(0);
});

test("get -r where PASV has no port free (425): the directory is not called missing", async () => {
  const server = start({ EPSV: [500, "Unknown command"], PASV: [425, "Cannot open passive connection"] });
  const r = await runFtpkit(["get", "-r", `ftp://u:p@127.0.0.1:${server.port}/d`, "out", "--retries", "0"], { cwd: t.work, timeoutMs: 30_000 });
  expect(r.stderr).not.toContain("not found");
  expect(r.stderr).toContain("PASV: Cannot open passive connection (425)");
  expect(r.code).not.toBe(0);
});

test("a RETR refused (550), then no port free for the listing that asks whether the name is a directory: the RETR's refusal is reported", async () => {
  let epsv = 0;
  const server = t.start({
    feat: ["SIZE", "UTF8"],
    on: {
      EPSV: (c) => (++epsv === 1 ? c.epsv() : c.reply(425, "Cannot open passive connection")),
      PASV: (c) => c.reply(425, "Cannot open passive connection"),
      LIST: (c) => c.reply(425, "Use PORT or PASV first"),
      SIZE: (c) => c.reply(213, "5"),
      RETR: (c) => c.reply(550, "Permission denied"),
      CWD: (c, arg) => (arg === "/" || arg === "/d" ? c.reply(250, "ok") : c.reply(550, "No such directory")),
    },
  });
  const r = await runFtpkit(["get", `ftp://u:p@127.0.0.1:${server.port}/d/f.txt`, "f.txt", "--retries", "0"], { cwd: t.work, timeoutMs: 30_000 });
  expect(r.stderr).toContain("Permission denied (550)");
  expect(r.stderr).not.toContain("425");
  expect(r.code).toBe(8);
});
