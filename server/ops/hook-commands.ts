// What a `--hook EVENT=COMMAND` is: its command line split into words like a shell would (but no
// shell runs it), or a URL whose secrets the logs never show.
import type { HookEvent, HookSpec } from "./options.ts";

/**
 * Split a command line into words the way a POSIX shell splits them — 'single' and "double" quotes,
 * backslash escapes — with no expansion of any kind ($VAR, $(…), globs stay literal). Throws on an
 * unterminated quote.
 */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  let cur = "";
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new Error("unterminated ' quote");
      cur += line.slice(i + 1, end);
      i = end;
      inWord = true;
    } else if (c === '"') {
      i++;
      for (; i < line.length && line[i] !== '"'; i++) {
        if (line[i] === "\\" && i + 1 < line.length && '"\\$`'.includes(line[i + 1]!)) i++;
        cur += line[i];
      }
      if (i >= line.length) throw new Error('unterminated " quote');
      inWord = true;
    } else if (c === "\\" && i + 1 < line.length) {
      cur += line[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = "";
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

export interface Hook {
  event: HookEvent;
  url?: string;
  argv?: string[];
  /** For logs: the program without its arguments; a URL without its secrets (see urlForLogs). */
  text: string;
}

/**
 * A webhook URL as logs show it: webhooks carry their secret in the password, the query or the
 * path (Slack's /services/T…/B…/secret), so only the scheme, host and first path segment remain.
 */
export function urlForLogs(url: URL | string): string {
  if (typeof url === "string") return url.replace(/^(https?:\/\/)[^/?#]*@/i, "$1…@").replace(/([?#]).*$/, "$1…");
  const first = url.pathname.split("/")[1] ?? "";
  const more = url.pathname.split("/").length > 2 || url.search !== "" || url.hash !== "";
  return `${url.protocol}//${url.username || url.password ? "…@" : ""}${url.host}/${first}${more ? "/…" : ""}`;
}

/** Parse `--hook` values; throws an Error with a clear message for a bad one. */
export function compileHooks(specs: readonly HookSpec[]): Hook[] {
  return specs.map((s) => {
    if (/^https?:\/\//i.test(s.command)) {
      let url: URL;
      try {
        url = new URL(s.command);
      } catch {
        throw new Error(`--hook ${s.event}: "${urlForLogs(s.command)}" is not a valid URL`);
      }
      return { event: s.event, url: s.command, text: urlForLogs(url) };
    }
    let argv: string[];
    try {
      argv = splitWords(s.command);
    } catch (err) {
      throw new Error(`--hook ${s.event}: ${(err as Error).message}`);
    }
    // `upload='' x`: an empty program word is no command either (Bun.which("") finds none).
    if (argv.length === 0 || argv[0] === "") throw new Error(`--hook ${s.event}: the command is empty`);
    if (!Bun.which(argv[0]!)) throw new Error(`--hook ${s.event}: command not found or not executable: ${argv[0]}`);
    // Logs name the program only: its arguments may carry a token (no shell runs it, so no $VAR could hide one).
    return { event: s.event, argv, text: argv.length > 1 ? `${argv[0]} …` : argv[0]! };
  });
}
