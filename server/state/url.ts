// Checked by the CLI without loading the server.
/** "redis://host:port[/db]" (or rediss://, valkey://); anything else is refused with a clear message. */
export function checkStateUrl(url: string): string {
  if (!/^(redis|rediss|valkey|valkeys):\/\/[^/\s]+(\/\d{1,2})?$/.test(url)) throw new Error(`--state must look like redis://HOST:PORT[/DB], got "${url}"`);
  return url;
}

