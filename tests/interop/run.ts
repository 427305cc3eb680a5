// Run a real client (curl, lftp, python3) to completion with a deadline; killed by PID.
export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

export async function run(
  cmd: string[],
  opts: { cwd?: string; timeoutMs?: number; stdin?: string; env?: Record<string, string | undefined> } = {},
): Promise<Ran> {
  const proc = Bun.spawn(cmd, {
    cwd: opts.cwd,
    stdin: opts.stdin === undefined ? "ignore" : new Blob([opts.stdin]),
    stdout: "pipe",
    stderr: "pipe",
    env: opts.env ?? { ...process.env, LC_ALL: "C.UTF-8", PYTHONIOENCODING: "utf-8" },
  });
  const timer = setTimeout(() => {
    try {
      process.kill(proc.pid, "SIGKILL");
    } catch {}
  }, opts.timeoutMs ?? 20_000);
  try {
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    return { code, stdout, stderr };
  } finally {
    clearTimeout(timer);
    try {
      process.kill(proc.pid, "SIGKILL");
    } catch {}
  }
}
