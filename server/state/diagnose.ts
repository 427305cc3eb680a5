// Why a state store could not be reached at start-up. Bun's RedisClient says "Connection closed"
// alike for a port where nothing listens, a missing password and a wrong one; one PING over a plain
// socket tells them apart, so the operator reads the cause instead of guessing.

/** A clearer reason for a failed start (or reconnect), or null to keep the client's own message. */
export async function diagnoseStore(url: string, timeoutMs: number): Promise<string | null> {
  let target: URL;
  try {
    target = new URL(url.replace(/^valkey/i, "redis"));
  } catch {
    return null;
  }
  if (target.protocol !== "redis:") return null; // TLS (rediss://): no plain PING to send
  const user = decodeURIComponent(target.username);
  const password = decodeURIComponent(target.password);
  const hasAuth = user !== "" || password !== "";
  const db = target.pathname.replace(/^\//, "");
  const host = target.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = Number(target.port || 6379);
  // As the client does: AUTH (if the URL has a password), SELECT (if it names a database), then PING.
  const commands = [...(hasAuth ? [user ? ["AUTH", user, password] : ["AUTH", password]] : []), ...(db ? [["SELECT", db]] : []), ["PING"]];
  const replies = await firstLines(host, port, commands, timeoutMs);
  if (replies === "refused") return "connection refused (is the store running, and is this its address and port?)";
  if (replies === "no-host") return `no such host: ${host} (is the host name right?)`;
  if (replies === null) return null;
  if (!Array.isArray(replies)) return `it is not a Redis server (it answered "${replies.other}"): is this the store's port?`;
  const [auth, select] = hasAuth ? [replies[0], db ? replies[1] : undefined] : [undefined, db ? replies[0] : undefined];
  const ping = replies[commands.length - 1];
  if (auth !== undefined && auth.startsWith("-")) {
    return /without any password configured|no password is set/i.test(auth) ? "it refused the user or password in the URL (it has no password set)" : "it refused the user or password in the URL";
  }
  if (select !== undefined && select.startsWith("-") && !select.startsWith("-NOAUTH")) return `it has no database ${db} (${select.slice(1)})`;
  if (ping?.startsWith("-NOAUTH")) return "it requires a password: redis://:PASSWORD@HOST:PORT";
  return null;
}

/** RESP for one command. */
function resp(args: string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`;
}

/** What the first bytes of a RESP reply may be (RESP2 and RESP3 types). */
const RESP_TYPES = "+-:$*_,#!=(%~>|";

type Answer = string[] | "refused" | "no-host" | { other: string } | null;

/**
 * The first reply line to each of `commands`; "refused"; "no-host" (the name does not resolve); the
 * first line of a peer that does not speak RESP (an FTP server's "220 …", an HTTP server's answer),
 * cut to 80 printable characters; or null (no answers in time, or something else failed).
 */
function firstLines(hostname: string, port: number, commands: string[][], timeoutMs: number): Promise<Answer> {
  return new Promise((resolve) => {
    let text = "";
    let done = false;
    const finish = (v: Answer, socket?: { end(): void }) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket?.end();
      resolve(v);
    };
    const timer = setTimeout(() => finish(null), timeoutMs);
    Bun.connect({
      hostname,
      port,
      socket: {
        open: (s) => void s.write(commands.map(resp).join("")),
        data: (s, chunk) => {
          text += chunk.toString("latin1");
          // Bun's client says only "Connection closed" of a server that is not Redis (its greeting
          // or error read as a broken reply): its first line says what it is.
          if (!RESP_TYPES.includes(text[0]!)) return finish({ other: text.split(/\r?\n/)[0]!.replace(/[^\x20-\x7e]/g, "?").slice(0, 80) }, s);
          if (text.length > 4096) return finish(null, s);
          const lines = text.split("\r\n");
          // Every reply here is one line (+OK, +PONG, -ERR …).
          if (lines.length > commands.length) finish(lines.slice(0, commands.length), s);
        },
        close: () => finish(null),
        error: () => finish(null),
      },
    }).catch((err: NodeJS.ErrnoException) => finish(err.code === "ECONNREFUSED" ? "refused" : err.code === "ENOTFOUND" ? "no-host" : null));
  });
}
