import { describe, expect, test } from "bun:test";
import { ParseError } from "../../protocol/errors.ts";
import {
  formatListLine,
  formatMlsxLine,
  formatTimeVal,
  parseListLine,
  parseMlsxLine,
  parseTimeVal,
  modeFromColumns,
  type FileInfo,
} from "../../protocol/listing.ts";

const NOW = new Date(Date.UTC(2026, 5, 15, 12, 0, 0));

describe("LIST lines", () => {
  const cases: Array<[string, FileInfo]> = [
    ["a recent file (HH:MM)", { name: "hello.txt", type: "file", size: 18, mtime: new Date(Date.UTC(2026, 4, 3, 9, 41)) }],
    ["an old file (year)", { name: "old.tar", type: "file", size: 123456789, mtime: new Date(Date.UTC(2019, 11, 31)) }],
    ["a directory", { name: "docs", type: "dir", size: 0, mtime: new Date(Date.UTC(2026, 5, 1, 23, 59)) }],
    ["a name with spaces", { name: "my  file .txt", type: "file", size: 1, mtime: new Date(Date.UTC(2026, 5, 14)) }],
    ["a name with quotes and UTF-8", { name: '"hi" café-ü.txt', type: "file", size: 7, mtime: new Date(Date.UTC(2026, 0, 1)) }],
    ["a file from late last year (recent)", { name: "dec", type: "file", size: 2, mtime: new Date(Date.UTC(2025, 11, 31, 22, 5)) }],
    ["an executable whose mode is known", { name: "run.sh", type: "file", size: 3, mtime: new Date(Date.UTC(2026, 5, 2)), mode: 0o750 }],
    ["a private directory whose mode is known", { name: "keys", type: "dir", size: 0, mtime: new Date(Date.UTC(2026, 5, 2)), mode: 0o700 }],
  ];
  for (const [name, info] of cases) {
    test(`parse(format(x)) equals x: ${name}`, () => {
      const line = formatListLine(info, NOW);
      // Without a known mode ftpkit's LIST shows fixed columns (rw-r--r--, rwxr-xr-x for directories).
      const recent = / \d\d:\d\d /.test(line);
      expect(parseListLine(line, NOW)).toEqual({ ...info, mode: info.mode ?? (info.type === "dir" ? 0o755 : 0o644), mtimePrecisionMs: recent ? 60_000 : 86_400_000 });
    });
  }

  test("a time of day shown as 00:00 is still known to the minute; a year column only to the day", () => {
    expect(parseListLine("-rw-r--r--   1 u g 5 Jun  3 00:00 midnight", NOW)!.mtimePrecisionMs).toBe(60_000);
    expect(parseListLine("-rw-r--r--   1 u g 5 Jun  3  2020 old", NOW)!.mtimePrecisionMs).toBe(86_400_000);
  });

  test("the permission columns become mode bits; s and t mean an execute bit set, S and T one not set", () => {
    expect(parseListLine("-rwxr-x---   1 u g 5 Jan  1  2020 run.sh", NOW)!.mode).toBe(0o750);
    expect(parseListLine("-rwsr-S--T   1 u g 5 Jan  1  2020 odd", NOW)!.mode).toBe(0o740);
    expect(parseListLine("-rwSr-sr-t   1 u g 5 Jan  1  2020 odd2", NOW)!.mode).toBe(0o655);
    expect(modeFromColumns("---------")).toBe(0);
    // A link's columns are always rwxrwxrwx and say nothing of what it points to.
    expect(parseListLine("lrwxrwxrwx   1 u g 7 Jan  1  2020 current -> top.txt", NOW)!.mode).toBeUndefined();
  });

  test("a recent date shows the time, an old one the year", () => {
    expect(formatListLine(cases[0]![1], NOW)).toContain("May  3 09:41 hello.txt");
    expect(formatListLine(cases[1]![1], NOW)).toContain("Dec 31  2019 old.tar");
  });

  test("a future date shows its year, as ls and vsftpd show it (clients read HH:MM as within the past year)", () => {
    const at = (mtime: Date) => formatListLine({ name: "x", type: "file", size: 1, mtime }, NOW);
    expect(at(new Date(Date.UTC(2026, 8, 4, 5, 6)))).toContain(" Sep  4  2026 x");
    expect(at(new Date(Date.UTC(2026, 5, 15, 12, 0, 1)))).toContain(" Jun 15  2026 x");
    expect(at(new Date(Date.UTC(2026, 5, 15, 12, 0, 0, 900)))).toContain(" Jun 15 12:00 x");
    // What our own parser, wget's and lftp's make of the line is the right date.
    const future = new Date(Date.UTC(2027, 2, 4, 5, 6));
    expect(parseListLine(at(future), NOW)!.mtime).toEqual(new Date(Date.UTC(2027, 2, 4)));
  });

  test("a date with HH:MM that would be in the future belongs to last year", () => {
    const info = parseListLine("-rw-r--r--   1 ftp ftp 5 Dec 24 10:00 x", NOW)!;
    expect(info.mtime.getUTCFullYear()).toBe(2025);
  });

  test("reads symlink lines without the target and skips 'total'", () => {
    expect(parseListLine("total 12", NOW)).toBeNull();
    expect(parseListLine("lrwxrwxrwx 1 root root 4 Jan  1  2020 link -> /etc", NOW)!.name).toBe("link");
  });

  const bad = ["", "garbage", "-rw-r--r-- 1 ftp ftp abc Jan  1  2020 x", "-rw-r--r-- 1 ftp ftp 5 Foo  1  2020 x"];
  for (const line of bad) {
    test(`rejects LIST line ${JSON.stringify(line)}`, () => {
      expect(() => parseListLine(line, NOW)).toThrow(ParseError);
    });
  }
});

test("a LIST size too big to be exact (25 digits) is no size (sizeUnknown), not 1e25", () => {
  const info = parseListLine("-rw-r--r--   1 ftp ftp 9999999999999999999999999 Jan  1  2020 huge.bin");
  expect(info).toMatchObject({ name: "huge.bin", size: 0, sizeUnknown: true });
  expect(parseListLine("-rw-r--r--   1 ftp ftp 9007199254740991 Jan  1  2020 max.bin")).toMatchObject({ size: 9007199254740991 });
  expect(parseListLine("-rw-r--r--   1 ftp ftp 9007199254740991 Jan  1  2020 max.bin")!.sizeUnknown).toBeUndefined();
});

describe("MLSD facts", () => {
  test("ProFTPD's symlink types (OS.unix=symlink, OS.unix=slink:TARGET) are links, as LIST's l lines are", () => {
    for (const line of ["modify=20260101120000;perm=adfr;size=8;type=OS.unix=symlink;UNIX.mode=0777; link.txt", "modify=20260101120000;size=8;type=OS.unix=slink:/srv/dir; linkdir"]) {
      expect(parseMlsxLine(line)).toMatchObject({ type: "file", link: true });
    }
    expect(parseMlsxLine("type=dir;modify=20260101120000; d").link).toBeUndefined();
  });

  test("a modify fact out of range (month 13) or malformed keeps the entry, its time unknown and the fact kept; none sent is unknown too", () => {
    for (const modify of ["20261301120000", "20260230120000", "2026-01-01"]) {
      const e = parseMlsxLine(`type=file;size=3;modify=${modify}; f.txt`);
      expect(e).toMatchObject({ name: "f.txt", type: "file", size: 3, mtimeUnknown: true, unreadableTime: modify });
      expect(e.mtime.getTime()).toBe(0);
    }
    const none = parseMlsxLine("type=file;size=3; f.txt");
    expect(none.mtimeUnknown).toBe(true);
    expect(none.unreadableTime).toBeUndefined();
    expect(parseMlsxLine("type=file;size=3;modify=20260101120000; f.txt").mtimeUnknown).toBeUndefined();
  });

  test("other types are special entries (ls's letter; \"?\" for a type nothing names); file, dir, cdir and pdir are not", () => {
    const special = (type: string) => parseMlsxLine(`type=${type};modify=20260101120000; x`).special;
    expect([special("OS.unix=chr-5/1"), special("OS.unix=blk-8/0"), special("OS.unix=fifo"), special("OS.unix=socket"), special("whatever")]).toEqual(["c", "b", "p", "s", "?"]);
    expect(parseMlsxLine("type=OS.unix=fifo; p").type).toBe("file");
    for (const type of ["file", "dir", "cdir", "pdir", "OS.unix=slink:/x", "DIR"]) expect(special(type)).toBeUndefined();
  });

  const cases: Array<[string, FileInfo]> = [
    ["a file", { name: "a.txt", type: "file", size: 12, mtime: new Date(Date.UTC(2026, 1, 3, 4, 5, 6)), perm: "radfw" }],
    ["a directory", { name: "d", type: "dir", size: 0, mtime: new Date(Date.UTC(2000, 0, 1)), perm: "elcdfmp" }],
    ["a name with spaces and ;=", { name: " lead; x=y .txt", type: "file", size: 0, mtime: new Date(Date.UTC(2026, 1, 3)) }],
    ["UTF-8", { name: "café-ü.txt", type: "file", size: 8, mtime: new Date(Date.UTC(2026, 1, 3)), perm: "r" }],
    ["an executable with UNIX.mode", { name: "run.sh", type: "file", size: 3, mtime: new Date(Date.UTC(2026, 1, 3)), perm: "r", mode: 0o755 }],
  ];
  for (const [name, info] of cases) {
    test(`parse(format(x)) equals x: ${name}`, () => {
      const { typeFact, ...parsed } = parseMlsxLine(formatMlsxLine(info));
      expect(parsed).toEqual(info);
      expect(typeFact).toBe(info.type);
    });
  }

  test("the UNIX.mode fact (any case) gives the permission bits, without setuid and the like; a malformed one is ignored", () => {
    expect(parseMlsxLine("type=file;size=1;UNIX.mode=0755; run.sh").mode).toBe(0o755);
    expect(parseMlsxLine("type=file;size=1;unix.mode=4711; suid").mode).toBe(0o711);
    expect(parseMlsxLine("type=file;size=1;unix.mode=0o750; pyftpdlib").mode).toBe(0o750);
    expect(parseMlsxLine("type=file;size=1;UNIX.mode=rwx; weird").mode).toBeUndefined();
    expect(parseMlsxLine("type=file;size=1; plain").mode).toBeUndefined();
  });

  test("a size fact that is not a decimal number is no size (sizeUnknown), never NaN or negative", () => {
    for (const size of ["12x", "abc", "-5", "1e3", "0x10", "", "99999999999999999999"]) {
      const info = parseMlsxLine(`type=file;size=${size};modify=20260101120000; f`);
      expect(info.size).toBe(0);
      expect(info.sizeUnknown).toBe(true);
    }
    expect(parseMlsxLine("type=dir;sizd=4096[; d").size).toBe(0);
  });

  test("cdir/pdir type facts survive", () => {
    const line = formatMlsxLine({ name: ".", type: "dir", size: 0, mtime: new Date(0) }, { typeFact: "cdir" });
    expect(line.startsWith("type=cdir;")).toBe(true);
    expect(parseMlsxLine(line).typeFact).toBe("cdir");
  });

  test("fact names are case-insensitive", () => {
    const info = parseMlsxLine("Type=file;Size=5;Modify=20200101000000; x");
    expect(info).toMatchObject({ name: "x", type: "file", size: 5 });
  });

  test("rejects a line without a space", () => {
    expect(() => parseMlsxLine("type=file;size=1;")).toThrow(ParseError);
  });
});

describe("time-val", () => {
  const dates = [new Date(Date.UTC(2026, 10, 21, 9, 53, 0)), new Date(Date.UTC(1970, 0, 1)), new Date(Date.UTC(2099, 11, 31, 23, 59, 59))];
  for (const d of dates) {
    test(`parse(format(${d.toISOString()})) round-trips`, () => {
      expect(parseTimeVal(formatTimeVal(d))).toEqual(d);
    });
  }

  test("formats in UTC as YYYYMMDDHHMMSS", () => {
    expect(formatTimeVal(new Date(Date.UTC(2026, 10, 21, 9, 53, 0)))).toBe("20261121095300");
  });

  test("accepts fractional seconds", () => {
    expect(parseTimeVal("20260102030405.5").getUTCMilliseconds()).toBe(500);
    expect(parseTimeVal("20260102030405.123").getUTCMilliseconds()).toBe(123);
    // RFC 3659: 1*DIGIT, so microseconds too (milliseconds kept).
    expect(parseTimeVal("20261121095300.123456").getUTCMilliseconds()).toBe(123);
  });

  test("a leap second (RFC 3659: secs 00-60) is the next second", () => {
    expect(parseTimeVal("20261231235960")).toEqual(new Date(Date.UTC(2027, 0, 1)));
  });

  const bad = ["", "2026", "2026112109530", "202611210953000", "20261121095300.", "abcdefghijklmn", "2026112109530x", " 2026112109530"];
  // Fields out of range, which Date.UTC rolls into another date (or years 0-99 into 1900-1999).
  bad.push("20261340256161", "20260230120000", "20250229120000", "20260100120000", "20261301120000", "20260101240000", "20260101126000", "20260101120061", "00000000000000", "00991231235959", "20261340256161.5");
  for (const text of bad) {
    test(`rejects time-val ${JSON.stringify(text)}`, () => {
      expect(() => parseTimeVal(text)).toThrow(ParseError);
    });
  }
});
