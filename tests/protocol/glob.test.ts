import { expect, test } from "bun:test";
import { compileGlob, globLiteral, GlobTooCostly, hasGlob, urlGlobSegment } from "../../protocol/glob.ts";

const CASES: [pattern: string, name: string, matches: boolean][] = [
  ["f*.bin", "f1.bin", true],
  ["f*.bin", "f.bin", true],
  ["f*.bin", "g1.bin", false],
  ["f*.bin", "f1.bin.part", false],
  ["?.txt", "a.txt", true],
  ["?.txt", "ab.txt", false],
  ["[ab]1", "a1", true],
  ["[ab]1", "c1", false],
  ["[a-c]x", "bx", true],
  ["[!a-c]x", "dx", true],
  ["[^a-c]x", "ax", false],
  ["[]]x", "]x", true],
  ["a[", "a[", true], // an unclosed class is a literal "["
  ["a\\*", "a*", true],
  ["a\\*", "ab", false],
  ["*", ".hidden", false], // as a shell: * does not match a leading dot
  [".*", ".hidden", true],
  ["*.txt", "café-ü.txt", true],
  ["caf?-ü.txt", "café-ü.txt", true], // ? is one character, not one byte
  ["a.b", "axb", false], // RegExp characters are literal
  ["(x)+", "(x)+", true],
  ["[z-a]", "b", false], // a reversed range matches nothing (and does not throw)
];

for (const [pattern, name, matches] of CASES) {
  test(`${JSON.stringify(pattern)} ${matches ? "matches" : "does not match"} ${JSON.stringify(name)}`, () => {
    expect(compileGlob(pattern)(name)).toBe(matches);
  });
}

test("hasGlob finds unescaped wildcards only", () => {
  expect(hasGlob("f*.bin")).toBe(true);
  expect(hasGlob("f?.bin")).toBe(true);
  expect(hasGlob("f[12].bin")).toBe(true);
  expect(hasGlob("plain.txt")).toBe(false);
  expect(hasGlob("a\\*b")).toBe(false);
  expect(hasGlob("a[b")).toBe(false);
});

test("with dotfiles (the client's --exclude and glob jobs), * also matches a leading dot, as in rsync", () => {
  expect(compileGlob("*", { dotfiles: true })(".hidden")).toBe(true);
  expect(compileGlob("*.tmp", { dotfiles: true })(".x.tmp")).toBe(true);
  expect(compileGlob("*.tmp", { dotfiles: true })("x.txt")).toBe(false);
});

test("globLiteral reads a pattern as the name it stands for", () => {
  expect(globLiteral("a[1].txt")).toBe("a[1].txt");
  expect(globLiteral("a\\*b")).toBe("a*b");
  expect(globLiteral("a\\\\b")).toBe("a\\b");
});

test("patterns with many stars are decided correctly, backtracking included", () => {
  // Small enough for any matcher to finish: the next test is the one about time.
  const stars = "*a".repeat(4) + "b";
  expect(compileGlob(stars)("a".repeat(20))).toBe(false);
  expect(compileGlob(stars)("a".repeat(20) + "b")).toBe(true);
  expect(compileGlob(stars)("a".repeat(3) + "b")).toBe(false); // one "a" short
  expect(compileGlob("*ab*ab*c")("xabyabzabc")).toBe(true);
  expect(compileGlob("*ab*ab*c")("xabyc")).toBe(false);
  expect(compileGlob("a*b?c*[de]")("aXbYcZZe")).toBe(true);
  expect(compileGlob("a*b?c*[de]")("aXbcZZe")).toBe(false);
});

test("a pattern built to make a backtracking matcher explode is decided within 10 s (in a child process, killed after that)", async () => {
  // With the RegExp this replaced, 8 "*a" against 60 a's took 2 s and each more "*a" multiplied it:
  // one NLST froze the server for everyone. Run in a child: a stuck match cannot be interrupted.
  const code = `const { compileGlob } = await import(${JSON.stringify(new URL("../../protocol/glob.ts", import.meta.url).pathname)});
    console.log(compileGlob("*a".repeat(14) + "b")("a".repeat(60)));`;
  const child = Bun.spawn([process.execPath, "-e", code], { stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => child.kill(9), 10_000);
  const out = await new Response(child.stdout).text();
  clearTimeout(timer);
  expect(await child.exited).toBe(0);
  expect(out.trim()).toBe("false");
}, 20_000);

test("a pattern of 40,000 unclosed '[' is read as literal in well under a second (each '[' searched to the end for its ']')", () => {
  const pattern = "[".repeat(40_000);
  const started = performance.now();
  expect(hasGlob(pattern)).toBe(false);
  expect(compileGlob(pattern)(pattern)).toBe(true);
  expect(compileGlob(`${pattern}]`)("[")).toBe(true); // closed: one class of "[" (its first "[" opens it)
  expect(performance.now() - started).toBeLessThan(100);
});

test("a URL with a 50,000-character segment before its last one is read in well under a second, and only its last segment's %2A is escaped", () => {
  const url = `ftp://h/${"a%2A".repeat(12_500)}/b%2A`;
  const started = performance.now();
  expect(urlGlobSegment(url)).toBe(`ftp://h/${"a%2A".repeat(12_500)}/b\\*`);
  expect(urlGlobSegment("ftp://h/d%2Air/")).toBe("ftp://h/d\\*ir/");
  // No path segment: the user, password and host are no pattern.
  for (const url of ["ftp://u:p%3Fw%2A@h/", "ftp://u:p%3Fw%2A@h", "ftp://u:p%5Bx%5D@h:21//"]) expect(urlGlobSegment(url)).toBe(url);
  expect(performance.now() - started).toBeLessThan(100);
});

test("a class of 800 ranges (what one 4 KiB NLST argument holds) tests a character in a few steps: 2,000 names of 255 characters in well under a second", () => {
  const ranges = Array.from({ length: 800 }, (_, i) => String.fromCodePoint(0x100 + 2 * i)).map((c) => `${c}-${c}`);
  const pattern = `*[${ranges.join("")}]`;
  expect(Buffer.byteLength(pattern)).toBeLessThan(4096);
  const match = compileGlob(pattern);
  const name = "a".repeat(254);
  const started = performance.now();
  let matched = 0;
  for (let i = 0; i < 2000; i++) if (match(name + (i % 2 ? String.fromCodePoint(0x100 + 2 * (i % 800)) : "b"))) matched++;
  expect(matched).toBe(1000);
  expect(performance.now() - started).toBeLessThan(200);
  expect(compileGlob("[a-cx-zd-f]")("e")).toBe(true); // overlapping and adjacent ranges merged
  expect(compileGlob("[a-cx-zd-f]")("g")).toBe(false);
  expect(compileGlob("[!a-cx-z]")("y")).toBe(false);
});

/** Reference: the plain recursive definition, for short inputs only. */
function reference(tokens: string[], name: string[]): boolean {
  if (tokens.length === 0) return name.length === 0;
  const [t, ...rest] = tokens;
  if (t === "*") return reference(rest, name) || (name.length > 0 && reference(tokens, name.slice(1)));
  if (name.length === 0) return false;
  const c = name[0]!;
  const one = t === "?" || t === c || (t === "[ab]" && (c === "a" || c === "b")) || (t === "[!a]" && c !== "a");
  return one && reference(rest, name.slice(1));
}

test("20,000 random patterns of * ? [ab] [!a] and characters (é and 😀 too) decide as the recursive definition does", () => {
  let seed = 7;
  const random = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  const pieces = ["a", "b", "*", "?", "[ab]", "[!a]", "é", "😀"];
  const letters = ["a", "b", "é", "😀"];
  for (let i = 0; i < 20_000; i++) {
    const tokens = Array.from({ length: random(7) }, () => pieces[random(pieces.length)]!);
    const name = Array.from({ length: random(9) }, () => letters[random(letters.length)]!);
    const [pattern, word] = [tokens.join(""), name.join("")];
    expect({ pattern, word, matches: compileGlob(pattern)(word) }).toEqual({ pattern, word, matches: reference(tokens, name) });
  }
});

test("a pattern's two ends are compared in place: 2,000 names of 255 characters against 4,000 a's, or 127 a's then b, in well under a second", () => {
  const names = Array.from({ length: 2000 }, (_, i) => "a".repeat(249) + String(i).padStart(6, "0"));
  const started = performance.now();
  for (const pattern of [`*${"a".repeat(4000)}b`, `*${"a".repeat(127)}b`, `${"a".repeat(127)}b*`]) {
    const match = compileGlob(pattern);
    expect(names.filter((n) => match(n)).length).toBe(0);
  }
  expect(names.filter((n) => compileGlob(`*${"a".repeat(127)}?*9`)(n)).length).toBe(200);
  expect(performance.now() - started).toBeLessThan(100); // each pattern alone took ~400 ms before
});

test("a budget bounds what a part between stars may take: it ends the matches with GlobTooCostly once spent", () => {
  const match = compileGlob(`*${"a".repeat(127)}b*`);
  const name = "a".repeat(249) + "000001"; // ~120 places tried, up to 128 steps each
  const budget = { left: 100_000 };
  expect(match(name, budget)).toBe(false);
  expect(budget.left).toBeLessThan(100_000 - 10_000);
  expect(() => {
    for (let i = 0; i < 100; i++) match(name, budget);
  }).toThrow(GlobTooCostly);
  const cheap = { left: 10 };
  expect(compileGlob("*.log")(name, cheap)).toBe(false); // its end compared in place: nothing spent
  expect(cheap.left).toBe(10);
});
