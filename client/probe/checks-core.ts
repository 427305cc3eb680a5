// The everyday items: login, directories, data connections, transfers and the RFC 3659 extensions
// (the digests: checks-hash.ts). They share one session, which works inside the scratch directory.
import { parseListLine, parseTimeVal } from "../../protocol/listing.ts";
import { parseSizeReply } from "../../protocol/size.ts";
import { isIPv4 } from "../../protocol/address.ts";
import type { FtpClient } from "../client.ts";
import { ClientError } from "../errors.ts";
import { judgePasvAddress } from "./pasv-address.ts";
import { line, parse257, sameBytes, sampleBytes, type Probe, type Verdict } from "./runner.ts";

const SAMPLE = "probe.bin";
/** Listed files a read-only account tries, smallest first, before RETR is N/A. */
const MAX_RETR_TRIES = 5;

/** PWD, then the scratch directory (MKD decides whether the account may write). */
export async function directories(p: Probe, c: FtpClient): Promise<void> {
  await p.check("pwd", async () => {
    const r = await c.command("PWD");
    const path = r.code === 257 ? parse257(r.lines[0]!) : null;
    if (path === null) return ["fail", `expected 257 "path": ${line(r)}`];
    p.home = path;
    p.loginDir = path;
    if (!p.opts.dir) return ["pass", `257 "${path}"`];
    // The directory the URL names is where the probe was asked to work: one it cannot enter (a typo)
    // is a failure, not a read-only account whose writing items are N/A with exit 0.
    const cd = await c.command("CWD", p.opts.dir);
    if (cd.code !== 250) return ["fail", `257 "${path}", but the directory to work in, ${p.opts.dir}, cannot be entered: ${line(cd)}`];
    const pwd = await c.command("PWD");
    p.home = parse257(pwd.lines[0] ?? "") ?? p.opts.dir;
    return ["pass", `257 "${path}"; working in ${p.home}`];
  });
  if (p.opts.dir && p.items.find((i) => i.id === "pwd")?.status !== "pass") throw new Error(`cannot work in ${p.opts.dir}`);
  // A session lost before MKD (PWD's connection closed, or timed out and dropped) never asked for
  // the directory: there is nothing to remove, and the report must not say one was left behind.
  if (c.control.isClosed) throw new Error("the control connection was lost before MKD");
  const name = `ftpkit-probe-${crypto.randomUUID().slice(0, 8)}`;
  // Named before MKD goes out: the server makes the directory before its 257 arrives, and a Ctrl-C
  // in between must still remove it (removeScratch copes with one that was never made).
  p.scratch = `${p.home.replace(/\/+$/, "")}/${name}`;
  const mkd = await c.command("MKD", name);
  if (mkd.code !== 257) {
    p.scratch = null;
    p.writable = false;
    // Not "read-only": an account may upload and not make directories (a drop box). The probe
    // writes only inside a directory of its own, so it says what it knows: none could be made.
    p.readOnlyReason = `no scratch directory (MKD refused: ${line(mkd)}), and the probe writes only inside one: nothing uploaded`;
    return;
  }
  const cwd = await c.command("CWD", name);
  if (cwd.code !== 250) throw new Error(`CWD into the scratch directory: ${line(cwd)}`);
  p.writable = true;
}

/** EPSV, PASV (one of them is required) and EPRT, each with a LIST. */
export async function dataConnections(p: Probe): Promise<void> {
  const listVia = async (mode: "epsv" | "pasv" | "eprt"): Promise<Verdict> => {
    const c = await p.session();
    // PASV can only name an IPv4 address (RFC 2428 §1): over IPv6, refusing it is right.
    const v6Pasv = mode === "pasv" && !isIPv4(c.control.remoteAddress);
    const notOver6 = (what: string): Verdict => ["n/a", `the control connection is IPv6 (PASV is IPv4 only; EPSV is its IPv6 form): ${what}`];
    const list = (dir?: string) =>
      p.fetch(c, "LIST", dir, { mode }).then(
        (r) => r.reply,
        (err: Error) => {
          if (err instanceof ClientError && err.code !== undefined) return err;
          throw err; // the check records it, and drops a session that timed out
        },
      );
    let reply = await list();
    let where = "";
    // A directory whose listing is refused (550: an upload-only drop box given as the URL's path)
    // says nothing about data connections: judge them on the login directory's listing instead.
    if (reply.code === 550 && p.home !== p.loginDir) {
      const again = await list(p.loginDir);
      if (again.code === 226 || again.code === 250) {
        where = ` (of the login directory ${p.loginDir}; here ${reply instanceof ClientError ? reply.message : `LIST: ${line(reply)}`})`;
        reply = again;
      }
    }
    if (reply instanceof ClientError) {
      if (v6Pasv) return notOver6(reply.message);
      throw reply;
    }
    if (reply.code !== 226 && reply.code !== 250) return v6Pasv ? notOver6(`LIST: ${line(reply)}`) : ["fail", `LIST: ${line(reply)}`];
    const said = `LIST over ${mode.toUpperCase()}: ${line(reply)}${where}`;
    const addr = mode === "pasv" ? judgePasvAddress(c.control.remoteAddress, c.pasvHost) : null;
    return addr ? [addr.status, `${said}; ${addr.note}`] : ["pass", said];
  };
  const epsv = await p.check("epsv", () => listVia("epsv"));
  const pasv = await p.check("pasv", () => listVia("pasv"));
  p.mode = epsv === "pass" ? "epsv" : pasv === "pass" ? "pasv" : undefined;
  const ok = [epsv === "pass" && "EPSV", pasv === "pass" && "PASV"].filter(Boolean).join(" and ");
  p.record("passive", ok ? "pass" : "fail", ok ? `${ok} data connections work` : "neither EPSV nor PASV gave a working data connection");
  await p.check("eprt", () => listVia("eprt"));
}

/** STOR, LIST and RETR: the required transfers. */
export async function transfers(p: Probe): Promise<void> {
  const sample = sampleBytes();
  if (p.writable) {
    await p.check("stor", async () => {
      const c = await p.session();
      const r = await p.send(c, "STOR", SAMPLE, sample);
      if (r.code !== 226 && r.code !== 250) return ["fail", line(r)];
      return ["pass", `${sample.length} bytes: ${line(r)}`];
    });
  } else p.record("stor", "n/a", p.readOnlyReason);
  if (p.writable && p.items.find((i) => i.id === "stor")?.status !== "pass") {
    // Nothing was uploaded (STOR refused, over quota, no passive connection): LIST and RETR are
    // judged as for a read-only account, in the login directory, and the items that need an
    // upload of their own are N/A, not failures of what they check.
    p.writable = false;
    p.readOnlyReason = "nothing uploaded (STOR failed)";
    const c = await p.session().catch(() => null);
    await c?.command("CWD", p.home).catch(() => null);
  }

  let candidates: { name: string; size: number }[] = [];
  await p.check("list", async () => {
    const c = await p.session();
    const { data, reply } = await p.fetch(c, "LIST");
    if (reply.code !== 226 && reply.code !== 250) return ["fail", line(reply)];
    const lines = data.toString("utf8").split(/\r?\n/).filter((l) => l.trim() !== "");
    const entries = lines.map((l) => parseListLine(l)).filter((e) => e !== null);
    candidates = entries.filter((e) => e.type === "file" && e.size > 0).map((e) => ({ name: e.name, size: e.size }));
    if (p.writable && !entries.some((e) => e.name === SAMPLE)) return ["fail", `${lines.length} lines, but the uploaded ${SAMPLE} is not among them`];
    return ["pass", `${lines.length} line${lines.length === 1 ? "" : "s"}${entries.length < lines.length ? ` (${lines.length - entries.length} not in a format we parse)` : ""}`];
  });

  await p.check("retr", async () => {
    const c = await p.session();
    if (p.writable) {
      const got = await p.get(c, SAMPLE);
      if (!sameBytes(got, sample)) return ["fail", `received ${got.length} bytes that differ from the ${sample.length} uploaded`];
      p.file = { name: SAMPLE, data: sample };
      return ["pass", `${got.length} bytes, identical to the upload`];
    }
    const picks = candidates.sort((a, b) => a.size - b.size).filter((f) => f.size <= 16 * 1024 * 1024);
    if (!picks.length) return ["n/a", `${p.readOnlyReason || "read-only account"} and no file of at most 16 MiB in the directory`];
    // A listed file the account may not read is refused with 550, as it should be: try the next.
    const refused: string[] = [];
    for (const pick of picks.slice(0, MAX_RETR_TRIES)) {
      const got = await p.get(c, pick.name).catch((err: ClientError) => err);
      if (got instanceof ClientError && got.code === 550) {
        refused.push(got.message);
        continue;
      }
      if (got instanceof Error) throw got;
      if (got.length !== pick.size) return ["fail", `${pick.name}: received ${got.length} bytes, LIST said ${pick.size}`];
      p.file = { name: pick.name, data: got };
      return ["pass", `${pick.name}: ${got.length} bytes, as listed${refused.length ? ` (refused before it: ${refused.join("; ")})` : ""}`];
    }
    return ["n/a", `${p.readOnlyReason || "read-only account"} and no listed file it may read: ${refused.join("; ")}`];
  });
}

/** OPTS UTF8 ON, and (when writable) a non-ASCII name that comes back intact in NLST. */
export async function utf8(p: Probe): Promise<void> {
  await p.check("utf8", async () => {
    const c = await p.session();
    const listed = p.features.has("UTF8");
    const r = await c.command("OPTS", "UTF8 ON");
    const opts = r.code === 200 || r.code === 202 ? `OPTS UTF8 ON: ${r.code}` : `OPTS UTF8 ON refused (${r.code})`;
    if (!p.writable) return [listed ? "pass" : "fail", `${listed ? "FEAT lists UTF8" : "FEAT does not list UTF8"}; ${opts}`];
    const name = "probe-ünïcødé-名前.txt";
    await p.put(c, name, "utf8\n");
    const { data } = await p.fetch(c, "NLST");
    const names = data.toString("utf8").split(/\r?\n/).map((n) => n.replace(/^.*\//, ""));
    const back = names.includes(name);
    const verdict = listed && back ? "pass" : "fail";
    return [verdict, `${listed ? "FEAT lists UTF8" : "FEAT does not list UTF8"}; ${opts}; a UTF-8 file name ${back ? "round-trips" : "does not come back intact in NLST"}`];
  });
}

export async function sizeAndMdtm(p: Probe): Promise<void> {
  const file = p.file;
  if (!file) return p.record("size-mdtm", "n/a", "no file to ask about");
  await p.check("size-mdtm", async () => {
    const c = await p.session();
    const s = await c.command("SIZE", file.name);
    const m = await c.command("MDTM", file.name);
    const problems: string[] = [];
    let size: number | null = null;
    if (s.code !== 213) problems.push(`SIZE: ${line(s)}`);
    else {
      try {
        size = parseSizeReply(s.lines[0]!);
        if (size !== file.data.length) problems.push(`SIZE says ${size}, the file has ${file.data.length} bytes`);
      } catch (err) {
        problems.push(`SIZE: ${(err as Error).message}`);
      }
    }
    const stamp = m.code === 213 ? m.lines[0]!.trim() : null;
    if (stamp === null) problems.push(`MDTM: ${line(m)}`);
    else {
      try {
        parseTimeVal(stamp);
      } catch {
        problems.push(`MDTM "${stamp}" is not YYYYMMDDHHMMSS[.sss]`);
      }
    }
    if (problems.length) return ["fail", problems.join("; ")];
    return ["pass", `SIZE ${size}, MDTM ${stamp}`];
  });
}

/** MLST's facts for the file, and MLSD's entry for it (RFC 3659 §7). */
export async function mlsx(p: Probe): Promise<void> {
  const file = p.file;
  if (!file) return p.record("mlsx", "n/a", "no file to ask about");
  await p.check("mlsx", async () => {
    const c = await p.session();
    const st = await c.command("MLST", file.name);
    if (st.code !== 250) return ["fail", `MLST: ${line(st)}`];
    const factLine = st.lines.slice(1, -1).find((l) => l.includes(";")) ?? st.lines.find((l) => l.includes("=")) ?? "";
    const facts = parseFacts(factLine);
    const missing = ["type", "size", "modify"].filter((f) => !(f in facts));
    const { data, reply } = await p.fetch(c, "MLSD");
    if (reply.code !== 226 && reply.code !== 250) return ["fail", `MLST facts ${Object.keys(facts).join(" ")}; MLSD: ${line(reply)}`];
    const entry = data
      .toString("utf8")
      .split(/\r?\n/)
      .map((l) => ({ facts: parseFacts(l), name: l.slice(l.indexOf(" ") + 1) }))
      .find((e) => e.name === file.name);
    const problems: string[] = [];
    if (missing.length) problems.push(`MLST lacks ${missing.join(", ")}`);
    if (facts.size !== undefined && Number(facts.size) !== file.data.length) problems.push(`MLST size=${facts.size}, expected ${file.data.length}`);
    if (!entry) problems.push(`MLSD does not list ${file.name}`);
    else if (Number(entry.facts.size) !== file.data.length) problems.push(`MLSD size=${entry.facts.size}`);
    const summary = `facts: ${Object.keys(facts).join(" ")}`;
    return problems.length ? ["fail", `${problems.join("; ")} (${summary})`] : ["pass", `${summary}; MLSD agrees`];
  });
}

/** "type=file;size=3;modify=…; name" → { type: "file", size: "3", … } (names lower-cased). */
function parseFacts(text: string): Record<string, string> {
  const t = text.replace(/^ /, "");
  const sp = t.indexOf(" ");
  const out: Record<string, string> = {};
  if (sp < 0) return out;
  for (const part of t.slice(0, sp).split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0) out[part.slice(0, eq).toLowerCase()] = part.slice(eq + 1);
  }
  return out;
}

/** REST before RETR (download) and before STOR (upload) continue at the offset. */
export async function restStream(p: Probe): Promise<void> {
  const file = p.file;
  if (!file) return p.record("rest", "n/a", "no file to ask about");
  await p.check("rest", async () => {
    const c = await p.session();
    const offset = Math.min(1000, Math.floor(file.data.length / 2));
    // REST 0 is where every download starts: it would pass a server that ignores REST.
    if (offset === 0) return ["n/a", `${file.name} has ${file.data.length} byte, too small to resume from an offset; upload not tried (${p.readOnlyReason})`];
    const notes: string[] = [];
    let ok = true;
    const { data, reply } = await p.fetch(c, "RETR", file.name, { rest: offset }).catch((err: Error) => ({ data: Buffer.alloc(0), reply: { code: 0, lines: [err.message] } }));
    if (reply.code === 226 || reply.code === 250) {
      const good = sameBytes(data, file.data.subarray(offset));
      ok &&= good;
      notes.push(good ? `download from ${offset} ok` : `download from ${offset} returned ${data.length} wrong bytes`);
    } else {
      ok = false;
      notes.push(`REST ${offset} + RETR: ${reply.code ? line(reply) : reply.lines[0]}`);
    }
    if (!p.writable) return [ok ? "pass" : "fail", `${notes.join("; ")}; upload not tried (${p.readOnlyReason})`];
    await p.put(c, "rest.bin", file.data.subarray(0, offset));
    const r = await p.send(c, "STOR", "rest.bin", file.data.subarray(offset), { rest: offset }).catch((err: Error) => ({ code: 0, lines: [err.message] }));
    if (r.code === 226 || r.code === 250) {
      const back = await p.get(c, "rest.bin");
      const good = sameBytes(back, file.data);
      ok &&= good;
      notes.push(good ? "upload continued at the offset" : `upload: the file is ${back.length} bytes and differs`);
    } else {
      ok = false;
      notes.push(`REST ${offset} + STOR: ${r.code ? line(r) : r.lines[0]}`);
    }
    return [ok ? "pass" : "fail", notes.join("; ")];
  });
}

export async function appendAndRename(p: Probe): Promise<void> {
  if (!p.writable) {
    p.record("appe", "n/a", p.readOnlyReason);
    p.record("rename", "n/a", p.readOnlyReason);
    return;
  }
  await p.check("appe", async () => {
    const c = await p.session();
    await p.put(c, "appe.txt", "hello ");
    const r = await p.send(c, "APPE", "appe.txt", Buffer.from("world\n"));
    if (r.code !== 226 && r.code !== 250) return ["fail", line(r)];
    const back = (await p.get(c, "appe.txt")).toString("utf8");
    return back === "hello world\n" ? ["pass", "appended to the existing file"] : ["fail", `after APPE the file holds ${JSON.stringify(back.slice(0, 40))}`];
  });
  await p.check("rename", async () => {
    const c = await p.session();
    if (!p.created.has("appe.txt")) await p.put(c, "appe.txt", "hello world\n");
    const fr = await c.command("RNFR", "appe.txt");
    if (fr.code !== 350) return ["fail", `RNFR: ${line(fr)}`];
    const to = await c.command("RNTO", "renamed.txt");
    if (to.code !== 250) return ["fail", `RNTO: ${line(to)}`];
    p.created.add("renamed.txt");
    const gone = await c.command("SIZE", "appe.txt");
    const there = await c.command("SIZE", "renamed.txt");
    if (there.code !== 213) return ["fail", `after RNTO the new name is missing (SIZE: ${line(there)})`];
    if (gone.code === 213) return ["fail", "after RNTO the old name still exists"];
    return ["pass", "350, 250; the file moved"];
  });
}

/** TYPE A: LF stored on a UNIX server goes out as CRLF, CRLF sent in comes back as LF in TYPE I. */
export async function typeA(p: Probe): Promise<void> {
  if (!p.writable) return p.record("type-a", "n/a", p.readOnlyReason);
  await p.check("type-a", async () => {
    const c = await p.session();
    const unix = /unix/i.test(p.syst);
    try {
      await p.put(c, "lf.txt", "one\ntwo\n");
      const a = await c.command("TYPE", "A");
      if (a.code !== 200) return ["fail", `TYPE A: ${line(a)}`];
      const down = (await p.get(c, "lf.txt")).toString("latin1");
      await p.put(c, "crlf.txt", "three\r\nfour\r\n");
      await c.command("TYPE", "I");
      const stored = (await p.get(c, "crlf.txt")).toString("latin1");
      const notes: string[] = [];
      const downOk = down === "one\r\ntwo\r\n";
      notes.push(downOk ? "download converts LF to CRLF" : `download sent ${JSON.stringify(down)} (expected "one\\r\\ntwo\\r\\n")`);
      const upOk = unix ? stored === "three\nfour\n" : stored === "three\nfour\n" || stored === "three\r\nfour\r\n";
      notes.push(upOk ? "upload stores CRLF as the server's line ending" : `upload stored ${JSON.stringify(stored)} (expected "three\\nfour\\n")`);
      return [downOk && upOk ? "pass" : "fail", notes.join("; ")];
    } finally {
      await c.command("TYPE", "I").catch(() => {});
    }
  });
}
