// Why a state store could not be reached at start-up. Bun's RedisClient says "Connection closed"
// alike for a port where nothing listens, a missing password and a wrong one; one PING over a plain
// socket tells them apart, so the operator reads the cause instead of guessing.

/** A clearer reason for a failed start, or null to keep the client's own message. */
export async function diagnoseStore(url: string, timeoutMs: number): Promise<string | null> {
  let target: URL;
  try {
    target = new URL(url.replace(/^valkey/i, "redis"));
  } catch {
    return null;
  }
  if (target.protocol !== "redis:") return null; // TLS (rediss://): no plain PING to send
  const hasAuth = target.username !== "" || target.password !== "";
  const host = target.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = Number(target.port || 6379);
  const reply = await firstLine(host, port, timeoutMs);
  if (reply === "refused") return "connection refused (is the store running, and is this its address and port?)";
  if (reply === null) return null;
  if (reply.startsWith("-NOAUTH")) return hasAuth ? "it refused the user or password in the URL" : "it requires a password: redis://:PASSWORD@HOST:PORT";
  if (reply.startsWith("+PONG") && hasAuth) return "it refused the user or password in the URL (it has no password set)";
  return null;
}

/** The first reply line to a PING, "refused", or null (no answer in time, or something else failed). */
function firstLine(hostname: string, port: number, timeoutMs: number): Promise<string | "refused" | null> {
  return new Promise((resolve) => {
    let text = "";
    let done = false;
    const finish = (v: string | "refused" | null, socket?: { end(): void }) => {
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
        open: (s) => void s.write("PING\r\n"),
        data: (s, chunk) => {
          text += chunk.toString("latin1");
          const end = text.indexOf("\r\n");
          if (end >= 0 || text.length > 512) finish(text.slice(0, end >= 0 ? end : 512), s);
        },
        close: () => finish(null),
        error: () => finish(null),
      },
    }).catch((err: NodeJS.ErrnoException) => finish(err.code === "ECONNREFUSED" ? "refused" : null));
  });
}
