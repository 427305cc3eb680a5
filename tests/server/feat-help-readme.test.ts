// FEAT, HELP and the README's command list describe the same server (issue 10).
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { useServers } from "../helpers/server.ts";
import { tlsOptions } from "../tls/helpers.ts";

const servers = useServers();
const README = readFileSync(join(import.meta.dir, "../../README.md"), "utf8");

/** The verbs of one README paragraph: "(…)" asides dropped, "A/B" split, "and with TLS:" kept apart. */
function readmeVerbs(paragraph: string): { plain: Set<string>; tls: Set<string> } {
  const [plain = "", tls = ""] = paragraph.replace(/\([^)]*\)/g, " ").split("and with TLS:");
  const verbs = (text: string) => new Set(text.match(/\b[A-Z][A-Z0-9]{2,7}\b/g) ?? []);
  return { plain: verbs(plain), tls: verbs(tls) };
}

const section = README.slice(README.indexOf("### Commands the server understands"));
const paragraphs = section.split(/\n\s*\n/).slice(1, 3);
const commandsPara = paragraphs[0]!;
const featPara = paragraphs[1]!.replace(/^FEAT lists:/, "");
const [listed, notImplementedLine] = commandsPara.split(/\n(?=ACCT)/);

async function helpAndFeat(tls: boolean) {
  await servers.start(tls ? { options: { tls: tlsOptions() } } : {});
  const w = await servers.connect();
  await w.read();
  const help = await w.cmd("HELP");
  const rows = help.lines.slice(1, -1);
  const absent = rows.find((l) => l.startsWith("Not implemented"))!;
  const verbs = new Set(rows.filter((l) => l !== absent).flatMap((l) => l.trim().split(/\s+/)));
  const feat = new Set((await w.cmd("FEAT")).lines.slice(1, -1).map((l) => l.trim().split(" ")[0]!));
  return { verbs, absent: new Set(absent.replace(/^.*:/, "").trim().split(/\s+/)), feat };
}

describe("the README's command list", () => {
  test("names exactly the verbs HELP lists, with and without TLS, and the ones answered 502", async () => {
    const readme = readmeVerbs(listed!);
    const plain = await helpAndFeat(false);
    expect([...plain.verbs].sort()).toEqual([...readme.plain].sort());
    expect([...plain.absent].sort()).toEqual([...readmeVerbs(notImplementedLine!).plain].sort());
  });

  test("with TLS the extra verbs are the README's TLS ones", async () => {
    const readme = readmeVerbs(listed!);
    const withTls = await helpAndFeat(true);
    expect([...withTls.verbs].sort()).toEqual([...readme.plain, ...readme.tls].sort());
  });

  test("the README's FEAT line is what FEAT lists, with and without TLS", async () => {
    const readme = readmeVerbs(featPara);
    const plain = await helpAndFeat(false);
    expect([...plain.feat].sort()).toEqual([...readme.plain].sort());
  });

  test("with TLS, FEAT adds the README's TLS features", async () => {
    const readme = readmeVerbs(featPara);
    const withTls = await helpAndFeat(true);
    expect([...withTls.feat].sort()).toEqual([...readme.plain, ...readme.tls].sort());
  });

  test("every FEAT extension that names a command (all but UTF8 and TVFS) is one HELP lists", async () => {
    const { verbs, feat } = await helpAndFeat(true);
    // UTF8 and TVFS name properties of the server (names' encoding, the path syntax), not commands.
    for (const f of feat) if (f !== "UTF8" && f !== "TVFS") expect({ f, listed: verbs.has(f) }).toEqual({ f, listed: true });
  });

  test("HELP of every verb it lists answers 214 in printable ASCII (RFC 959 replies are NVT-ASCII)", async () => {
    await servers.start({ options: { tls: tlsOptions() } });
    const w = await servers.connect();
    await w.read();
    const verbs = (await w.cmd("HELP")).lines.slice(1, -1).filter((l) => !l.startsWith("Not implemented")).flatMap((l) => l.trim().split(/\s+/));
    expect(verbs.length).toBeGreaterThan(40);
    for (const verb of verbs) {
      const r = await w.cmd(`HELP ${verb}`);
      expect({ verb, code: r.code, ascii: r.lines.every((l) => /^[\x20-\x7e]*$/.test(l)) }).toEqual({ verb, code: 214, ascii: true });
    }
  });
});
