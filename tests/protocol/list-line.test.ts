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
    ["a link's target is no part of its name (it is kept as its target)", "lrwxrwxrwx   1 root     other          7 Jan 25 00:17 bin -> usr/bin", { name: "bin", link: true, size: 7, target: "usr/bin" }],
    ["a link whose name and target have spaces", "lrwxrwxrwx 1 u g 9 Jan  1  2020 my link -> my target", { name: "my link", link: true, target: "my target" }],
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

describe("MS-DOS lines (IIS)", () => {
  table([
    ["a directory whose name has spaces", "12-05-26  11:19AM       <DIR>          name with spaces", { name: "name with spaces", type: "dir", size: 0, mtime: at(2026, 12, 5, 11, 19), mtimePrecisionMs: MINUTE }],
    ["a file, four-digit year, PM", "01-31-2024  03:04PM            123456 file.txt", { name: "file.txt", type: "file", size: 123456, mtime: at(2024, 1, 31, 15, 4) }],
    ["IIS's own columns, four-digit year", "09-09-2008  03:50AM                 1506 naxp11e.zip", { name: "naxp11e.zip", size: 1506, mtime: at(2008, 9, 9, 3, 50) }],
    ["a two-digit year before 70 is 20xx", "05-02-05  10:03AM               961590 naxp11e.zip", { size: 961590, mtime: at(2005, 5, 2, 10, 3) }],
    ["a two-digit year from 70 is 19xx (lftp's sample)", "07-13-98  09:06PM       <DIR>          aix", { name: "aix", type: "dir", mtime: at(1998, 7, 13, 21, 6) }],
    ["a 24-hour time", "05-27-11  14:05       <DIR>          3", { name: "3", type: "dir", mtime: at(2011, 5, 27, 14, 5) }],
    ["an ISO date, 24-hour time, a directory", "2024-01-31  14:05       <DIR>          backups", { name: "backups", type: "dir", mtime: at(2024, 1, 31, 14, 5) }],
    ["an ISO date, a file", "2024-01-31  09:07               4096 data.bin", { name: "data.bin", size: 4096, mtime: at(2024, 1, 31, 9, 7) }],
    ["12 AM is midnight", "01-01-26  12:00AM                    0 midnight.txt", { name: "midnight.txt", size: 0, mtime: at(2026, 1, 1, 0, 0) }],
    ["12 PM is noon", "01-01-26  12:30PM                    1 noon.txt", { mtime: at(2026, 1, 1, 12, 30) }],
    ["a space before AM/PM", "01-01-26  03:04 PM                   1 spaced.txt", { name: "spaced.txt", mtime: at(2026, 1, 1, 15, 4) }],
  ]);
});

describe("MS-DOS names: what follows the one separator, as given", () => {
  table([
    ["inner runs of spaces", "01-31-24  03:04PM                  123 a  b   c.txt", { name: "a  b   c.txt", size: 123 }],
    ["trailing spaces", "01-31-24  03:04PM                  123 trail  ", { name: "trail  " }],
    ["a file name's leading space (the size is right-aligned: one separator)", "01-31-24  03:04PM                  123  lead.txt", { name: " lead.txt", size: 123 }],
    ["a directory name's leading space in IIS's columns", "12-05-26  11:19AM       <DIR>           lead dir", { name: " lead dir", type: "dir" }],
    ["a directory padded less than IIS pads it", "12-05-26  11:19AM <DIR> short", { name: "short", type: "dir" }],
    ["a name that starts with digits is no size", "01-31-24  03:04PM                  123 456 789.txt", { name: "456 789.txt", size: 123 }],
    ["a file named <DIR>", "01-31-24  03:04PM                    5 <DIR>", { name: "<DIR>", type: "file", size: 5 }],
    ["a name with a dash and a date in it", "01-31-24  03:04PM                    5 01-31-24 backup.zip", { name: "01-31-24 backup.zip" }],
    ["a size past 2^53 is no size", "01-31-24  03:04PM    9999999999999999999999999 huge.bin", { name: "huge.bin", size: 0, sizeUnknown: true }],
  ]);
});

describe("MS-DOS lines that stay errors", () => {
  refused([
    ["month 13", "13-01-26  11:19AM       <DIR>          x"],
    ["Feb 30", "02-30-26  11:19AM                    5 x"],
    ["13 PM", "01-31-24  13:04PM                    5 x"],
    ["0 AM", "01-31-24  00:04AM                    5 x"],
    ["25 o'clock", "01-31-24  25:04                    5 x"],
    ["a directory without a name", "01-31-24  03:04PM       <DIR>          "],
    ["a file without a name", "01-31-24  03:04PM                  123"],
    ["a size with letters", "01-31-24  03:04PM                 12ab x"],
    ["neither size nor <DIR>", "01-31-24  03:04PM       <LINK>         x"],
    ["an OS/2 line", "                 0          DIR  06-27-96  11:57  PROTOCOL"],
    ["a line of digits", "1234"],
  ]);
});

test("a line of a million spaces after a mode or a date is refused at once (no backtracking)", () => {
  for (const line of [`-rw-r--r--${" ".repeat(1e6)}x`, `01-31-24${" ".repeat(1e6)}x`, `-rw-r--r-- 1 u g 5 Jan  1  2020${" ".repeat(1e6)}`]) {
    const started = performance.now();
    try {
      parseListLine(line, NOW);
    } catch {
      // an error, or a name of spaces: either way, quickly
    }
    expect(performance.now() - started).toBeLessThan(500);
  }
});
