// ftpkit ls URL: a long listing (MLSD, falling back to LIST), or JSON with --json.
import { defineCommand } from "citty";
import { listUrl } from "../../client/list-url.ts";
import { consola } from "../../client/messages.ts";
import { parseUrlArg } from "../../client/options.ts";
import { refuseClosedStdout } from "../stdout-job.ts";
import { claimJsonOutput } from "../../client/report.ts";
import { CliError, retryArgs, retryOptions, tlsArgs, tlsOptions, traceOption, verboseArgs } from "../args.ts";
import { checkArgs } from "../args-check.ts";
import { modeColumns, type FileInfo } from "../../protocol/listing.ts";
import { printableJson, printableName } from "../../protocol/printable.ts";

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** One `ls -l`-like line: type and permissions (the file's own mode when the listing shows it, else what the perm fact allows us), size, date (UTC), name. */
export function formatEntry(e: FileInfo, now: Date = new Date()): string {
  // A link's own columns say nothing of its target: shown as ls shows links, never as a short column.
  const mode = e.link ? "lrwxrwxrwx" : `${e.special ?? (e.type === "dir" ? "d" : "-")}${e.mode !== undefined ? modeColumns(e.mode) : permColumn(e)}`;
  // No time the listing gave that can be read (MLSD): a blank column, not 1970.
  if (e.mtimeUnknown) return `${mode.padEnd(10)} ${String(e.size).padStart(12)} ${" ".repeat(12)} ${printableName(e.name)}${linkTarget(e)}`;
  const t = e.mtime;
  // As GNU ls: the time of day for the last six months; the year for older dates and future ones.
  const age = now.getTime() - t.getTime();
  const recent = age >= -3600 * 1000 && age < 182 * 24 * 3600 * 1000;
  const p2 = (n: number) => String(n).padStart(2, "0");
  const when = recent ? `${p2(t.getUTCHours())}:${p2(t.getUTCMinutes())}` : ` ${t.getUTCFullYear()}`;
  const date = `${MONTHS[t.getUTCMonth()]} ${String(t.getUTCDate()).padStart(2)} ${when}`;
  // Only the perm fact's three columns when the mode is unknown: padded, so the sizes still line up.
  return `${mode.padEnd(10)} ${String(e.size).padStart(12)} ${date} ${printableName(e.name)}${linkTarget(e)}`;
}

/** " -> TARGET" for a link whose listing names its target, as `ls -l` shows it. */
function linkTarget(e: FileInfo): string {
  return e.link && e.target !== undefined ? ` -> ${printableName(e.target)}` : "";
}

/** RFC 3659 perm facts shown as rwx: r/l → read, w/a/c/m/d/f → write, e → enter. */
function permColumn(e: FileInfo): string {
  if (e.perm === undefined) return e.type === "dir" ? "rwx" : "rw-";
  const p = e.perm;
  const r = /[rl]/.test(p) ? "r" : "-";
  const w = /[wacmdfp]/.test(p) ? "w" : "-";
  const x = e.type === "dir" && p.includes("e") ? "x" : "-";
  return r + w + x;
}

export default defineCommand({
  meta: { name: "ls", description: "List a remote directory (or one file) like ls -l" },
  args: {
    url: { type: "positional", required: true, description: "ftp://[user[:password]@]host[:port]/path, or ftps:// (implicit TLS)", valueHint: "URL" },
    long: { type: "boolean", alias: "l", description: "The long format, one `ls -l` line per entry: the default (-l is accepted as typed by habit)" },
    names: { type: "boolean", description: "Print only the names, one per line (directories end in /), for shell scripts" },
    json: { type: "boolean", description: "Print a JSON array of {name, type, size, mtime, mtimePrecision} (mtime null when the listing gives none; mtimePrecision second, minute or day, as the listing gives it; type file, dir, link: a link the listing does not resolve (with its target when the listing names it), or special: a device, pipe or socket); on failure an object {error}" },
    active: { type: "boolean", description: "Active mode: the server connects to us (EPRT/PORT); under TLS we stay the TLS client" },
    ...retryArgs,
    ...tlsArgs,
    ...verboseArgs,
  },
  async run({ args, rawArgs, cmd }) {
    checkArgs(rawArgs, cmd.args, args._);
    if ([args.long, args.names, args.json].filter(Boolean).length > 1) throw new CliError("choose one of -l, --names and --json");
    refuseClosedStdout(["ls", ...rawArgs], () => parseUrlArg(args.url));
    // With --json, stderr carries only the error, as for get (no "reconnecting" lines), and what the
    // listing held that is not listed: the array has no place to say it.
    const leftOut = (name: string, why: string) => consola().warn(`${JSON.stringify(name)}: ${why}`);
    // As a tree walk: the lines ftpkit cannot read are left out with one warning, the rest listed.
    const unreadable = (count: number, why: string) => consola().warn(`${count} line(s) of the listing could not be read (${why}): left out`);
    const entries = await listUrl(args.url, { active: args.active === true, quiet: args.json === true, leftOut, unreadable, ...retryOptions(args), ...tlsOptions(args), ...traceOption(args) });
    entries.sort((a, b) => a.name.localeCompare(b.name));
    const undated = entries.filter((e) => e.unreadableTime !== undefined);
    if (undated.length > 0 && !args.json) consola().warn(`${undated.length} ${undated.length === 1 ? "entry is" : "entries are"} listed with a time that cannot be read (the first: ${JSON.stringify(undated[0]!.name)}, modify=${JSON.stringify(undated[0]!.unreadableTime)}): shown without a time`);
    if (args.json) {
      // A link as LIST shows it (vsftpd) carries its own size and time, and not whether it leads to
      // a file, a directory or nothing: "link", as -l shows it, never "file" with the link's length.
      // LIST gives a time to the minute ("Mon DD HH:MM") or the day ("Mon DD YYYY"): said, so a script
      // does not take 00:00:00 for the time a file changed.
      const precision = (e: FileInfo) => ((e.mtimePrecisionMs ?? 1000) >= 86_400_000 ? "day" : (e.mtimePrecisionMs ?? 1000) >= 60_000 ? "minute" : "second");
      const item = (e: FileInfo) => ({
        name: e.name,
        type: e.link ? "link" : e.special ? "special" : e.type,
        ...(e.link && e.target !== undefined ? { target: e.target } : {}),
        size: e.size,
        mtime: e.mtimeUnknown ? null : e.mtime.toISOString(),
        ...(e.mtimeUnknown ? {} : { mtimePrecision: precision(e) }),
      });
      // Not after a signal's document (its exit may wait for stderr while this listing ends).
      if (!claimJsonOutput()) return;
      // printableJson(array), an item at a time: its items are its lines indented by two.
      if (entries.length === 0) return void process.stdout.write("[]\n");
      await writeBatched(entries.length, (i) => `${i === 0 ? "[\n" : ",\n"}  ${printableJson(item(entries[i]!)).replaceAll("\n", "\n  ")}${i === entries.length - 1 ? "\n]\n" : ""}`);
      return;
    }
    // Names as printableName shows them: a name holding control characters cannot drive the terminal.
    const line = args.names ? (e: FileInfo) => printableName(e.name) + (e.type === "dir" ? "/" : "") : (e: FileInfo) => formatEntry(e);
    await writeBatched(entries.length, (i) => line(entries[i]!) + "\n");
  },
});

/** Characters of output written at once. */
const OUTPUT_BATCH = 64 * 1024;

/**
 * The text of `count` items on stdout, a batch at a time, waiting while the reader is behind: the
 * listing of 2,000,000 entries made as one string (and its lines, and its bytes) took ~1 GB more.
 */
async function writeBatched(count: number, text: (i: number) => string): Promise<void> {
  let batch = "";
  for (let i = 0; i < count; i++) {
    batch += text(i);
    if (batch.length < OUTPUT_BATCH && i < count - 1) continue;
    const more = process.stdout.write(batch);
    batch = "";
    if (!more) await new Promise((resolve) => process.stdout.once("drain", resolve));
  }
}
