// Terminal questions on stderr (a password: on /dev/tty when stdin is a pipe): a password without
// echo, and a yes/no confirmation.
import { closeSync, openSync, writeSync } from "node:fs";
import type { ReadStream } from "node:tty";
import { stderrStream } from "./report.ts";

/**
 * What ends a read: a line, or null at Ctrl-C/Ctrl-D (raw mode sends them as bytes) or the end of input.
 * `ask` writes the question once raw mode is on: keys typed the moment it shows are neither echoed
 * (a password) nor taken by the terminal as a signal (Ctrl-C).
 */
function readKeys(ask: () => void, onKey: (text: string, finish: (v: string | null) => void) => void, stdin: NodeJS.ReadStream | ReadStream = process.stdin): Promise<string | null> {
  return new Promise((resolve) => {
    const wasRaw = stdin.isRaw;
    stdin.setRawMode?.(true);
    ask();
    stdin.resume();
    const finish = (v: string | null) => {
      stdin.off("data", handler);
      stdin.off("end", ended);
      stdin.off("error", ended);
      stdin.setRawMode?.(wasRaw ?? false);
      // Our own terminal stream ends here, in the handler: Bun reads a tty on a thread, and a
      // destroy() one tick later left a read pending that kept the process alive after the job.
      if (stdin === process.stdin) stdin.pause();
      else stdin.destroy();
      resolve(v);
    };
    const handler = (buf: Buffer) => onKey(buf.toString("utf8"), finish);
    const ended = () => finish(null);
    stdin.on("data", handler);
    stdin.once("end", ended);
    // A terminal that went away (EIO after a hang-up) is no answer, not a crash.
    stdin.once("error", ended);
  });
}

/**
 * The controlling terminal when stdin is not one (`pg_dump | ftpkit put - URL`, `< /dev/null`), as
 * ssh and curl ask there: stdin may carry the data. Null without one (cron, CI: ENXIO).
 */
function controllingTerminal(): { input: ReadStream; write(text: string): void; close(): void } | null {
  let fd: number;
  let out: number;
  try {
    fd = openSync("/dev/tty", "r");
  } catch {
    return null;
  }
  try {
    out = openSync("/dev/tty", "w");
  } catch {
    closeSync(fd);
    return null;
  }
  // node:tty (and the Node stream modules under it) is loaded only when a question is asked: every
  // get and put imports this module, and loading it cost each ~12 ms at start-up.
  const input = new (require("node:tty") as typeof import("node:tty")).ReadStream(fd);
  // The question is written on a descriptor of its own: readKeys destroys the input (closing its
  // descriptor) as soon as the answer is read, before the line break that follows it.
  const close = () => {
    input.destroy();
    closeSync(out);
  };
  return { input, write: (text) => void writeSync(out, text), close };
}

/**
 * Ask for a secret on the terminal (stdin, else the controlling terminal) without echoing it; null
 * without a terminal or on Ctrl-D. Ctrl-C throws NoAnswer("interrupted"): raw mode reads it as a byte, not as SIGINT.
 */
export async function promptHidden(question: string): Promise<string | null> {
  const tty = process.stdin.isTTY ? null : controllingTerminal();
  if (!process.stdin.isTTY && !tty) return null;
  try {
    return await askHidden(question, tty);
  } finally {
    tty?.close();
  }
}

async function askHidden(question: string, tty: ReturnType<typeof controllingTerminal>): Promise<string | null> {
  const write = tty ? tty.write : (text: string) => void stderrStream().write(text);
  let value = "";
  let interrupted = false;
  const result = await readKeys(() => write(question), (text, finish) => {
    for (const ch of text) {
      if (ch === "\r" || ch === "\n") return finish(value);
      if (ch === "\u0003") return (interrupted = true), finish(null);
      if (ch === "\u0004") return finish(null);
      if (ch === "\u007f" || ch === "\b") value = value.slice(0, -1);
      else if (ch >= " ") value += ch;
    }
  }, tty?.input);
  write("\n");
  if (interrupted) throw new NoAnswer("interrupted");
  return result;
}

/** How a question ended without an answer: Ctrl-C, Ctrl-D (or the end of input), or answers it could not read. */
export class NoAnswer extends Error {
  override name = "NoAnswer";
  constructor(
    readonly why: "interrupted" | "ended" | "not understood",
    readonly lastAnswer = "",
  ) {
    super(why === "interrupted" ? "interrupted" : why === "ended" ? "no answer (end of input)" : `no answer understood ("${lastAnswer}")`);
  }
}

/** Answers that are neither yes nor no before the question gives up (a cat on the keyboard, a paste). */
export const MAX_UNKNOWN_ANSWERS = 3;

/**
 * Ask a yes/no question with a default (Enter); returns the default when stdin is not a TTY. "y",
 * "yes", "n", "no" in any case; anything else asks again, up to MAX_UNKNOWN_ANSWERS times, since a
 * typo must not decide (the resume question discards a partial file on "no"). Throws NoAnswer on
 * Ctrl-C, on Ctrl-D or the end of input, and after that many unknown answers.
 */
export async function confirm(question: string, defaultYes = true): Promise<boolean> {
  if (!process.stdin.isTTY) return defaultYes;
  for (let unknown = 0; ; ) {
    let line = "";
    let why: "interrupted" | "ended" = "ended";
    const answer = await readKeys(() => void stderrStream().write(`${question} ${defaultYes ? "[Y/n]" : "[y/N]"} `), (text, finish) => {
      // Echo what the line becomes, not the raw keys: a terminal ignores an echoed DEL, so "x",
      // Backspace, "n" showed "xn" while the answer read was "n" (which discards a partial file).
      let echo = "";
      for (const ch of text) {
        if (ch === "\r" || ch === "\n") return finish(line);
        if (ch === "\u0003") return (why = "interrupted"), finish(null);
        if (ch === "\u0004") return finish(null);
        if (ch === "\u007f" || ch === "\b") {
          if (line === "") continue;
          line = [...line].slice(0, -1).join("");
          echo += "\b \b";
        } else if (ch >= " ") {
          line += ch;
          echo += ch;
        }
      }
      if (echo) stderrStream().write(echo);
    });
    stderrStream().write("\n");
    if (answer === null) throw new NoAnswer(why);
    const a = answer.trim().toLowerCase();
    if (a === "") return defaultYes;
    if (a === "y" || a === "yes") return true;
    if (a === "n" || a === "no") return false;
    if (++unknown >= MAX_UNKNOWN_ANSWERS) throw new NoAnswer("not understood", answer.trim());
    stderrStream().write(`please answer y (yes) or n (no)${defaultYes ? "; Enter means yes" : "; Enter means no"}\n`);
  }
}
