// Terminal questions on stderr: a password without echo, and a yes/no confirmation.

function readKeys(onKey: (text: string, finish: (v: string | null) => void) => void): Promise<string | null> {
  const stdin = process.stdin;
  return new Promise((resolve) => {
    const wasRaw = stdin.isRaw;
    stdin.setRawMode?.(true);
    stdin.resume();
    const finish = (v: string | null) => {
      stdin.off("data", handler);
      stdin.setRawMode?.(wasRaw ?? false);
      stdin.pause();
      resolve(v);
    };
    const handler = (buf: Buffer) => onKey(buf.toString("utf8"), finish);
    stdin.on("data", handler);
  });
}

/** Ask for a secret on the terminal without echoing it; null when stdin is not a TTY or on Ctrl-C/D. */
export async function promptHidden(question: string): Promise<string | null> {
  if (!process.stdin.isTTY) return null;
  process.stderr.write(question);
  let value = "";
  const result = await readKeys((text, finish) => {
    for (const ch of text) {
      if (ch === "\r" || ch === "\n") return finish(value);
      if (ch === "\u0003" || ch === "\u0004") return finish(null);
      if (ch === "\u007f" || ch === "\b") value = value.slice(0, -1);
      else if (ch >= " ") value += ch;
    }
  });
  process.stderr.write("\n");
  return result;
}

/** Ask a yes/no question with a default; returns the default when stdin is not a TTY. */
export async function confirm(question: string, defaultYes = true): Promise<boolean> {
  if (!process.stdin.isTTY) return defaultYes;
  process.stderr.write(`${question} ${defaultYes ? "[Y/n]" : "[y/N]"} `);
  let line = "";
  const answer = await readKeys((text, finish) => {
    for (const ch of text) {
      if (ch === "\r" || ch === "\n") return finish(line);
      if (ch === "\u0003" || ch === "\u0004") return finish(null);
      if (ch === "\u007f" || ch === "\b") line = line.slice(0, -1);
      else if (ch >= " ") line += ch;
    }
    process.stderr.write(text.replace(/[\r\n]/g, ""));
  });
  process.stderr.write("\n");
  if (answer === null) throw Object.assign(new Error("cancelled"), { name: "ClientError" });
  const a = answer.trim().toLowerCase();
  return a === "" ? defaultYes : a === "y" || a === "yes";
}
