// The probe's checklist as text: one line per item, then a summary.
import type { ProbeItem, ProbeReport } from "./types.ts";
import { printableName } from "../../protocol/printable.ts";

const WIDTH = 40;

export function formatProbeItem(item: ProbeItem): string {
  const status = item.status === "n/a" ? "N/A " : item.status.toUpperCase();
  const title = `${item.title}${item.required ? " *" : ""}`;
  // A reason quotes the server's replies: an ESC sequence there could erase the line and print another verdict.
  return `  ${status}  ${title.padEnd(WIDTH)} ${printableName(item.reason)}`;
}

export function formatProbeHeader(target: string, user: string, tls: string): string {
  return `ftpkit test ${target} as ${user}${tls === "none" ? "" : ` over ${tls} TLS`}   (* = required)`;
}

/** The whole report as printed by `ftpkit test` (header, items, summary). */
export function formatProbeReport(r: ProbeReport): string {
  return [formatProbeHeader(r.target, r.user, r.tls), ...(r.server ? [`server: ${printableName(r.server)}`] : []), ...r.items.map(formatProbeItem), formatProbeSummary(r)].join("\n");
}

export function formatProbeSummary(r: ProbeReport): string {
  const req = r.items.filter((i) => i.required && i.status !== "n/a");
  const opt = r.items.filter((i) => !i.required);
  const count = (list: ProbeItem[], s: string) => list.filter((i) => i.status === s).length;
  // The path is the server's (its reply to MKD or PWD): escaped as its other words are.
  const path = r.scratch.path === null ? null : printableName(r.scratch.path);
  const scratch = path
    ? r.scratch.removed
      ? `scratch directory ${path} removed`
      : `scratch directory ${path} NOT removed${r.scratch.note ? ` (${printableName(r.scratch.note)})` : ""}: remove it by hand`
    : "nothing written (no scratch directory)";
  return [
    `required: ${count(req, "pass")} of ${req.length} passed · optional: ${count(opt, "pass")} passed, ${count(opt, "fail")} failed, ${count(opt, "n/a")} n/a · ${(r.durationMs / 1000).toFixed(1)} s`,
    scratch,
  ].join("\n");
}
