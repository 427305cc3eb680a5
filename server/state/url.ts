// Checked by the CLI without loading the server.
/** "redis://host:port[/db]" (or rediss://, valkey://); anything else is refused with a clear message. */
export function checkStateUrl(url: string): string {
  if (!/^(redis|rediss|valkey|valkeys):\/\/[^/\s]+(\/\d{1,2})?$/.test(url)) throw new Error(`--state must look like redis://HOST:PORT[/DB], got "${stateUrlForLogs(url)}"`);
  return url;
}

/**
 * A --state URL as logs and errors show it: the user and password (redis://:SECRET@host) become
 * "…", since log lines are read, kept and shipped far more widely than the server's arguments.
 */
export function stateUrlForLogs(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, "$1…@");
}
