// The README's test examples, run verbatim in a temp project where `ftpkit` resolves to this checkout.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO, cleanEnv, removeDir, tempDir } from "../helpers/peers.ts";

/** The ```ts block that follows `<!-- example: NAME -->` in README.md. */
function example(name: string): string {
  const readme = readFileSync(join(REPO, "README.md"), "utf8");
  const m = new RegExp(`<!-- example: ${name} -->\\s*\`\`\`ts\\n([\\s\\S]*?)\`\`\``).exec(readme);
  if (!m) throw new Error(`README has no example "${name}"`);
  return m[1]!;
}

let project = "";
beforeAll(() => {
  project = tempDir("ftpkit-readme-");
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "readme-example", type: "module", private: true }));
  mkdirSync(join(project, "node_modules"));
  symlinkSync(REPO, join(project, "node_modules", "ftpkit"), "dir");
});
afterAll(() => removeDir(project));

async function runBunTest(file: string): Promise<{ code: number; out: string }> {
  const proc = Bun.spawn(["bun", "test", `./${file}`], { cwd: project, env: cleanEnv(), stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill(9), 60_000);
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, out: out + err };
}

test.each(["bun-test", "node-test"])("the README's %s example passes as written", async (name) => {
  const file = `${name}.test.ts`;
  writeFileSync(join(project, file), example(name));
  const r = await runBunTest(file);
  expect(r.out).toContain(" 1 pass");
  expect(r.out).toContain(" 0 fail");
  expect(r.code).toBe(0);
}, 90_000);
