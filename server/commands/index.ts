// THE command table: every verb the server understands, one row each (FEAT and HELP are generated from it).
import type { CommandSpec } from "./types.ts";
import type { Session } from "../session.ts";
import { abor } from "./abor.ts";
import { allo } from "./allo.ts";
import { appe } from "./appe.ts";
import { avbl } from "./avbl.ts";
import { cdup } from "./cdup.ts";
import { cwd } from "./cwd.ts";
import { dele } from "./dele.ts";
import { eprt } from "./eprt.ts";
import { epsv } from "./epsv.ts";
import { feat } from "./feat.ts";
import { hash } from "./hash.ts";
import { help } from "./help.ts";
import { list } from "./list.ts";
import { mdtm } from "./mdtm.ts";
import { mfmt } from "./mfmt.ts";
import { mkd } from "./mkd.ts";
import { mlsd } from "./mlsd.ts";
import { mlst } from "./mlst.ts";
import { mode } from "./mode.ts";
import { nlst } from "./nlst.ts";
import { noop } from "./noop.ts";
import { notImplemented } from "./not-implemented.ts";
import { opts } from "./opts.ts";
import { pass } from "./pass.ts";
import { pasv } from "./pasv.ts";
import { port } from "./port.ts";
import { pwd } from "./pwd.ts";
import { quit } from "./quit.ts";
import { rang } from "./rang.ts";
import { rest } from "./rest.ts";
import { retr } from "./retr.ts";
import { rmd } from "./rmd.ts";
import { rnfr } from "./rnfr.ts";
import { rnto } from "./rnto.ts";
import { site } from "./site.ts";
import { size } from "./size.ts";
import { stat } from "./stat.ts";
import { stor } from "./stor.ts";
import { stou } from "./stou.ts";
import { stru } from "./stru.ts";
import { syst } from "./syst.ts";
import { type } from "./type.ts";
import { user } from "./user.ts";
import { xhash } from "./xhash.ts";

export const COMMANDS: readonly CommandSpec[] = [
  user, pass, quit, noop, syst, type, mode, stru, feat, opts, help, stat, allo,
  pwd, cwd, cdup, mkd, rmd, dele, rnfr, rnto,
  list, nlst, mlsd, mlst, size, mdtm, mfmt,
  retr, stor, stou, appe, rest, rang, abor,
  pasv, epsv, port, eprt,
  avbl, site, hash, xhash,
  notImplemented,
];

/** Build the verb → row map; extra rows (e.g. FTPS's AUTH, PBSZ, PROT) are appended by the server. */
export function buildCommandTable(extra: readonly CommandSpec[] = []): Map<string, CommandSpec> {
  const table = new Map<string, CommandSpec>();
  for (const spec of [...COMMANDS, ...extra]) for (const verb of spec.verbs) table.set(verb, spec);
  return table;
}

/** FEAT lines from the rows that declare one. */
export function featureLines(table: ReadonlyMap<string, CommandSpec>, session: Session): string[] {
  const lines = new Set<string>();
  for (const spec of new Set(table.values())) {
    if (!spec.feat) continue;
    const f = typeof spec.feat === "function" ? spec.feat(session) : spec.feat;
    for (const line of typeof f === "string" ? [f] : f) lines.add(line);
  }
  return [...lines].sort();
}
