// LIST lines as servers in the field send them (no MLSD): what a name, size, type and date read as,
// and which lines stay errors rather than a guess.
import { describe, expect, test } from "bun:test";
import { ParseError } from "../../protocol/errors.ts";
import { parseListLine, type FileInfo } from "../../protocol/listing.ts";

const NOW = new Date(Date.UTC(2026, 5, 15, 12, 0, 0));
const at = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0) => new Date(Date.UTC(y, mo - 1, d, h, mi, s));
const MINUTE = 60_000;
const DAY = 86_400_000;

function table(cases: Array<[string, string, Partial<FileInfo> | null]>) {
  for (const [what, line, want] of cases) {
    test(what, () => {
      const got = parseListLine(line, NOW);
      if (want === null) expect(got).toBeNull();
      else expect(got).toMatchObject(want);
    });
  }
}

function refused(cases: Array<[string, string]>) {
  for (const [what, line] of cases) {
    test(`an error, not a guess: ${what}`, () => {
      expect(() => parseListLine(line, NOW)).toThrow(ParseError);
      expect(() => parseListLine(line, NOW)).toThrow(line.slice(0, 40));
    });
  }
}

describe("Unix lines without the group, with numeric or spaced owners", () => {
  table([
    ["no group column (ftpparse's sample)", "dr-xr-xr-x   2 root                  512 Apr  8  1994 03-unix-nogroup dir", { name: "03-unix-nogroup dir", type: "dir", mtime: at(1994, 4, 8), mode: 0o555 }],
    ["no group column, a file", "-rw-r--r--   1 owner   1234 Jan  1  2020 name", { name: "name", type: "file", size: 1234, mtime: at(2020, 1, 1), mode: 0o644 }],
    ["numeric owner and group", "-rw-r--r--    1 1000     1000         4096 Mar  4 09:15 report 2026.pdf", { name: "report 2026.pdf", size: 4096, mtime: at(2026, 3, 4, 9, 15) }],
    ["a numeric owner and no group", "-rw-r--r--   1 1000         77 Mar  4 09:15 n", { name: "n", size: 77 }],
    ["owner and group names with spaces (a Windows-backed server)", "-rwxrwxrwx   1 Domain Admins Domain Users    1024 Feb 10  2025 notes.txt", { name: "notes.txt", size: 1024, mtime: at(2025, 2, 10) }],
    ["a month in capitals", "-rw-r--r-- 1 ftp ftp 9 JAN 01  2020 caps", { name: "caps", mtime: at(2020, 1, 1) }],
  ]);
});

describe("Unix lines with ISO dates", () => {
  table([
    ["ls --time-style=long-iso", "-rw-r--r-- 1 root root 1234 2024-01-31 10:30 name with  spaces.txt", { name: "name with  spaces.txt", size: 1234, mtime: at(2024, 1, 31, 10, 30), mtimePrecisionMs: MINUTE }],
    ["a long-iso directory", "drwxr-xr-x 2 root root 4096 2025-12-24 23:59 backups", { name: "backups", type: "dir", mtime: at(2025, 12, 24, 23, 59) }],
    ["busybox --full-time, its zone applied", "-rw-r--r--    1 root     root          1234 2024-01-31 10:30:45 +0100 file", { name: "file", mtime: at(2024, 1, 31, 9, 30, 45), mtimePrecisionMs: 1000 }],
    ["GNU --full-time (nanoseconds)", "-rw-r--r-- 1 u g 5 2024-01-31 10:30:45.123456789 -0230 f", { name: "f", mtime: at(2024, 1, 31, 13, 0, 45) }],
    ["long-iso gives no zone: a name that looks like one is the name", "-rw-r--r-- 1 u g 5 2024-01-31 10:30 +0100 notes", { name: "+0100 notes" }],
  ]);
});

describe("Unix devices, pipes, sockets: listed, with no size", () => {
  table([
    ["a character device (major, minor)", "crw-rw-rw-   1 root     root       5,   1 Jan  1  2020 console", { name: "console", type: "file", special: "c", size: 0, sizeUnknown: true, mtime: at(2020, 1, 1) }],
    ["a block device, recent", "brw-rw----  1 root disk    8,   0 Nov 24 10:13 sda", { name: "sda", special: "b", size: 0, sizeUnknown: true, mtime: at(2025, 11, 24, 10, 13) }],
    ["a device's numbers without a space", "crw-rw-rw- 1 root root 1,3 Jan  1  2020 null", { name: "null", special: "c", sizeUnknown: true }],
    ["a named pipe", "prw-r--r-- 1 u g 0 Jan  1  2020 fifo", { name: "fifo", special: "p", size: 0 }],
    ["a socket", "srwxrwxrwx 1 u g 0 Jun  1 08:00 app.sock", { name: "app.sock", special: "s" }],
  ]);
  test("regular files, directories and links are not special", () => {
    for (const line of ["-rw-r--r-- 1 u g 1 Jan  1  2020 f", "drwxr-xr-x 2 u g 1 Jan  1  2020 d", "lrwxrwxrwx 1 u g 1 Jan  1  2020 l -> f"]) {
      expect(parseListLine(line, NOW)!.special).toBeUndefined();
    }
  });
});

describe("Unix links, marks after the mode, total, odd names", () => {
  table([
    ["a link's target is no part of its name", "lrwxrwxrwx   1 root     other          7 Jan 25 00:17 bin -> usr/bin", { name: "bin", link: true, size: 7 }],
    ["a link whose name and target have spaces", "lrwxrwxrwx 1 u g 9 Jan  1  2020 my link -> my target", { name: "my link", link: true }],
    ["an ACL mark (+)", "-rw-r--r--+  1 u g 5 Jan  1  2020 acl.txt", { name: "acl.txt", mode: 0o644 }],
    ["a macOS extended-attribute mark (@)", "drwxr-xr-x@ 3 u staff 96 Jan  1  2020 mac dir", { name: "mac dir", type: "dir", mode: 0o755 }],
    ["an SELinux mark (.)", "-rw-r--r--. 1 root root 5 Jan  1  2020 selinux", { name: "selinux", mode: 0o644 }],
    ["total N", "total 1234", null],
    ["a leading space of the name is kept (one separator)", "-rw-r--r-- 1 u g 5 Jan  1  2020  lead", { name: " lead" }],
    ["trailing spaces of the name are kept", "-rw-r--r-- 1 u g 5 Jan  1  2020 trail  ", { name: "trail  " }],
    ["an ls that pads the year on its right (as lftp reads it)", "-rw-r--r-- 1 u g 5 Jan  1 2020  name", { name: "name", mtime: at(2020, 1, 1) }],
    ["a name that looks like a size and a date", "-rw-r--r-- 1 u g 7 Jan  1  2020 12 Feb  3  2021 x", { name: "12 Feb  3  2021 x", size: 7, mtime: at(2020, 1, 1) }],
    ["an owner named like a month", "-rw-r--r-- 1 jan may 8 Jan  1  2020 x", { name: "x", size: 8 }],
  ]);
  test("a year-less date in the future is last year's; a Feb 29 is found in a leap year", () => {
    expect(parseListLine("-rw-r--r-- 1 ftp ftp 5 Dec 24 10:00 x", NOW)!.mtime).toEqual(at(2025, 12, 24, 10));
    expect(parseListLine("-rw-r--r-- 1 u g 5 Feb 29 10:00 leap", new Date(Date.UTC(2025, 2, 1)))!.mtime).toEqual(at(2024, 2, 29, 10));
    expect(parseListLine("-rw-r--r-- 1 u g 5 Jan  1 10:00 x", NOW)!.mtimePrecisionMs).toBe(MINUTE);
    expect(parseListLine("-rw-r--r-- 1 u g 5 Jan  1  2020 x", NOW)!.mtimePrecisionMs).toBe(DAY);
  });
});

describe("Unix lines that stay errors", () => {
  refused([
    ["a device's numbers on a regular file", "-rw-r--r-- 1 root root 5,   1 Jan  1  2020 x"],
    ["a size with letters", "-rw-r--r-- 1 ftp ftp 12x Jan  1  2020 x"],
    ["an unknown month", "-rw-r--r-- 1 ftp ftp 5 Foo  1  2020 x"],
    ["no such day", "-rw-r--r-- 1 ftp ftp 5 Feb 30  2020 x"],
    ["no such time", "-rw-r--r-- 1 ftp ftp 5 2024-01-31 24:30 x"],
    ["no name", "-rw-r--r-- 1 ftp ftp 5 Jan  1  2020"],
    ["a mode of eight columns", "-rw-r--r- 1 ftp ftp 5 Jan  1  2020 x"],
    ["an unknown type letter", "?rw-r--r-- 1 ftp ftp 5 Jan  1  2020 x"],
    ["no date at all", "-rw-r--r-- 1 ftp ftp 5 x"],
    ["a year-less Feb 29 neither this year nor last has", "-rw-r--r-- 1 u g 5 Feb 29 10:00 leap"],
  ]);
});

test("a line of a million spaces after a mode or a date is refused at once (no backtracking)", () => {
  for (const line of [`-rw-r--r--${" ".repeat(1e6)}x`, `-rw-r--r-- 1 u g 5 Jan  1  2020${" ".repeat(1e6)}`]) {
    const started = performance.now();
    try {
      parseListLine(line, NOW);
    } catch {
      // an error, or a name of spaces: either way, quickly
    }
    expect(performance.now() - started).toBeLessThan(500);
  }
});
