// Checked by the CLI without loading the server.
/** "redis://host:port[/db]" (or rediss://, valkey://); anything else is refused with a clear message. */
export function checkStateUrl(url: string): string {
  const usage = `--state must look like redis://HOST:PORT[/DB], got "${stateUrlForLogs(url)}"`;
  if (!/^(redis|rediss|valkey|valkeys):\/\/[^/\s]+(\/\d{1,2})?$/.test(url)) throw new Error(usage);
  // A port out of range reached Bun's RedisClient, whose "Invalid URL format" came with a stack trace.
  const port = /:(\d+)(\/\d{1,2})?$/.exec(url)?.[1];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) throw new Error(`--state: port ${port} is out of range (1-65535), in "${stateUrlForLogs(url)}"`);
  try {
    new URL(url.replace(/^valkey/i, "redis"));
  } catch {
    throw new Error(usage);
  }
  return url;
}

/**
 * A --state URL as logs and errors show it: the user and password (redis://:SECRET@host) become
 * "…", since log lines are read, kept and shipped far more widely than the server's arguments.
 */
export function stateUrlForLogs(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, "$1…@");
}
