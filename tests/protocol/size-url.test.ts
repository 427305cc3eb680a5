import { describe, expect, test } from "bun:test";
import { ParseError } from "../../protocol/errors.ts";
import { formatSize, parseRate, parseSize, parseSizeReply } from "../../protocol/size.ts";
import { formatFtpUrl, parseFtpUrl, type FtpUrl } from "../../protocol/url.ts";

describe("sizes", () => {
  const good: Array<[string, number]> = [
    ["500KB", 500_000],
    ["1.5GiB", 1.5 * 1024 ** 3],
    ["10M", 10 * 1024 ** 2],
    ["1234", 1234],
    ["0", 0],
    ["12 B", 12],
    ["2mib", 2 * 1024 ** 2],
    ["1K", 1024],
    ["1TB", 1e12],
    ["1.0", 1],
    ["0.3KiB", 307],
  ];
  for (const [text, n] of good) {
    test(`parses ${JSON.stringify(text)} as ${n}`, () => expect(parseSize(text)).toBe(n));
  }

  const bad = ["12XB", "-1", "", " ", "1..5M", "M", "1e3", "NaN", "0x10", "99999999999999999999TB", "0.5", "0.3B", "1.5", "2.25B"];
  for (const text of bad) {
    test(`rejects size ${JSON.stringify(text)}`, () => {
      expect(() => parseSize(text)).toThrow(ParseError);
    });
  }

  test("a fraction of a byte is refused, not rounded down (`user quota alice 1.5` stored 1)", () => {
    expect(() => parseSize("1.5")).toThrow('size "1.5" is not a whole number of bytes (write 1.5KB, 1.5MiB… for a unit)');
  });

  test("'none' and 'unlimited' mean 0 only when allowed", () => {
    expect(parseSize("unlimited", { allowUnlimited: true })).toBe(0);
    expect(parseSize("NONE", { allowUnlimited: true })).toBe(0);
    expect(() => parseSize("unlimited")).toThrow(ParseError);
    expect(() => parseSize("-1", { allowUnlimited: true })).toThrow('size "-1" is negative: for no limit, write 0, none or unlimited');
    expect(() => parseSize("-1")).toThrow(/^size "-1" is negative$/);
  });

  test("rates accept a /s suffix", () => {
    expect(parseRate("500K/s")).toBe(500 * 1024);
    expect(parseRate("2MB")).toBe(2_000_000);
    expect(parseRate("0")).toBe(0);
  });

  const human: Array<[number, string]> = [
    [0, "0 B"],
    [1023, "1023 B"],
    [1536, "1.5 KiB"],
    [1024 ** 3, "1.0 GiB"],
    [500 * 1024 ** 2, "500 MiB"],
  ];
  for (const [n, text] of human) {
    test(`formats ${n} as ${text}`, () => expect(formatSize(n)).toBe(text));
  }
});

describe("SIZE replies (RFC 3659: decimal digits)", () => {
  test("digits are the size, up to 2^53 - 1; spaces around them are dropped", () => {
    expect(parseSizeReply("0")).toBe(0);
    expect(parseSizeReply(" 1234 ")).toBe(1234);
    expect(parseSizeReply("9007199254740991")).toBe(9007199254740991);
  });
  for (const bad of ["", " ", "0x10", "1e3", "-5", "+5", "12.0", "12 bytes", "Infinity", "9007199254740992"]) {
    test(`${JSON.stringify(bad)} is a ParseError, not a number`, () => expect(() => parseSizeReply(bad)).toThrow(ParseError));
  }
});

describe("URLs", () => {
  const good: Array<[string, FtpUrl]> = [
    ["ftp://example.com/pub/file.txt", { secure: "none", host: "example.com", port: 21, path: "pub/file.txt" }],
    ["ftps://example.com", { secure: "implicit", host: "example.com", port: 990, path: "" }],
    ["ftp://alice@h:2121/", { secure: "none", host: "h", port: 2121, user: "alice", path: "" }],
    ["ftp://h//etc/x", { secure: "none", host: "h", port: 21, path: "/etc/x" }],
    ["ftp://h/%2Fetc/x", { secure: "none", host: "h", port: 21, path: "/etc/x" }],
    ["ftp://h/dir/", { secure: "none", host: "h", port: 21, path: "dir/" }],
    [
      "ftp://us%40er:p%3Ass%2Fw%20d@h/a%20b",
      { secure: "none", host: "h", port: 21, user: "us@er", password: "p:ss/w d", path: "a b" },
    ],
    ["ftp://u:@h/", { secure: "none", host: "h", port: 21, user: "u", password: "", path: "" }],
    ["ftp://[::1]:2121/x", { secure: "none", host: "::1", port: 2121, path: "x" }],
    ["ftps://[2001:db8::1]/", { secure: "implicit", host: "2001:db8::1", port: 990, path: "" }],
    ["ftp://[fe80::1%25eth0]:2121/x", { secure: "none", host: "fe80::1%eth0", port: 2121, path: "x" }], // RFC 6874
    ["ftp://h/caf%C3%A9", { secure: "none", host: "h", port: 21, path: "café" }],
    ["FTP://h/x", { secure: "none", host: "h", port: 21, path: "x" }],
    ["Ftps://h/x", { secure: "implicit", host: "h", port: 990, path: "x" }],
    ["ftp://h/x.bin;type=i", { secure: "none", host: "h", port: 21, path: "x.bin" }],
  ];
  for (const [text, url] of good) {
    test(`parses ${text}`, () => expect(parseFtpUrl(text)).toEqual(url));
  }

  test("format(parse(x)) keeps everything but the password", () => {
    for (const [text, url] of good) {
      const again = parseFtpUrl(formatFtpUrl(url));
      const { password: _p, ...expected } = url;
      expect(again).toEqual(expected);
      expect(formatFtpUrl(url)).not.toContain("p:ss");
      void text;
    }
  });

  const bad = [
    "",
    "http://h/",
    "ftp://",
    "ftp:///path",
    "ftp://h:0/",
    "ftp://h:65536/",
    "ftp://h:abc/",
    "ftp://[::1/",
    "ftp://[fe80::1%eth0]/", // RFC 6874: the zone's "%" is written %25
    "ftp://[fe80::1%25]/",
    "ftp://[fe80::1%25eth%200]/",
    "ftp://u%zz@h/",
    "ftp://h/%00",
    "ftp://h/a%0d%0aDELE%20x",
    "ftp://u:p%0D%0ADELE%20x@h/", // USER and PASS carry these: no line break, no NUL
    "ftp://u%0A:p@h/",
    "ftp://u:p%00x@h/",
    "ftp://h/%E0%A4%A",
    "ftp://h?x",
    "ftp://h/x.txt;type=a",
    "ftp://h/dir;type=d", // a listing: only ls asks for one
    "ftp://h/a\uD800b", // a lone surrogate (the API, not argv): no UTF-8 to send, and formatting it threw URIError
    "ftp://u\uDFFF@h/",
  ];
  for (const text of bad) {
    test(`rejects URL ${JSON.stringify(text)}`, () => {
      expect(() => parseFtpUrl(text)).toThrow(ParseError);
    });
  }

  test("an IPv6 address without brackets is refused with a hint to bracket it; a user holding colons gets no such hint", () => {
    expect(() => parseFtpUrl("ftp://u:p@::1:30600/")).toThrow("; write an IPv6 address in brackets: ftp://[::1]:2121/)");
    expect(() => parseFtpUrl("ftp://fe80::1%25eth0/x")).toThrow("write an IPv6 address in brackets");
    expect(() => parseFtpUrl("ftp://a:b:c@host:x/")).toThrow(/^invalid FTP URL "ftp:\/\/a:\*\*\*@host:x\/" \(expected ftp:\/\/\[user\[:password\]@\]host\[:port\]\/path\)$/);
  });

  test('";type=d" (RFC 1738 §3.2.4) is a listing of that directory when ls asks for one; get and put are told so', () => {
    expect(parseFtpUrl("ftp://h/dir;type=d", { listing: true }).path).toBe("dir/");
    expect(parseFtpUrl("ftp://h/dir/;TYPE=D", { listing: true }).path).toBe("dir/");
    expect(parseFtpUrl("ftp://h/;type=d", { listing: true }).path).toBe("");
    expect(() => parseFtpUrl("ftp://h/dir;type=d")).toThrow('";type=d" in the URL asks for a directory listing, which ftpkit ls gives; get and put move files (in binary, ;type=i)');
    expect(() => parseFtpUrl("ftp://h/x.txt;type=a", { listing: true })).toThrow(/ftpkit moves files in binary/);
  });

  const leaky = [
    ["ftp://alice:s3cret@h/a#b", "ftp://alice:***@h/a#b"], // an unescaped "#"
    ["ftp://alice:p@ssw0rd@h:99999/", "ftp://alice:***@h:99999/"], // an unescaped "@" in the password
    ["ftp://alice:s3cret@h:x/", "ftp://alice:***@h:x/"],
    ["ftp:/alice:s3cret@h/", "ftp:/alice:***@h/"], // one slash
    ["ftp//alice:s3cret@h/", "ftp//alice:***@h/"], // no colon after the scheme
    ["alice:s3cret@h/", "alice:***@h/"], // no scheme
    ["ftp:alice:s3cret@h/", "ftp:***@h/"], // no slashes: more is masked, nothing leaks
  ] as const;
  for (const [text, shown] of leaky) {
    test(`the error for a bad URL with a password quotes it as ${shown}`, () => {
      let message = "";
      try {
        parseFtpUrl(text);
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).toContain(`"${shown}"`);
      expect(message).not.toMatch(/s3cret|w0rd/);
    });
  }

  test('an unescaped "@" in a password gets a hint to write it as %40', () => {
    expect(() => parseFtpUrl("ftp://alice:p@ss@h/")).toThrow(/write an "@" in a user or password as %40/);
    expect(parseFtpUrl("ftp://alice:p%40ss@h/").password).toBe("p@ss");
  });

  test('a "%" of a name or password that starts no escape gets a hint to write it as %25', () => {
    expect(() => parseFtpUrl("ftp://h/100%.txt")).toThrow('invalid percent-encoding in URL path "100%.txt" (a "%" starts two hex digits; write a "%" itself as %25)');
    expect(parseFtpUrl("ftp://h/100%25.txt").path).toBe("100%.txt");
    // The password is not quoted.
    expect(() => parseFtpUrl("ftp://u:p%zz@h/")).toThrow('invalid percent-encoding in URL password "***" (a "%" starts two hex digits; write a "%" itself as %25)');
  });

  test("escapes of bytes that are not UTF-8 (Latin-1 %E9) are named as such, not as a bad escape", () => {
    expect(() => parseFtpUrl("ftp://h/caf%E9.txt")).toThrow('URL path "caf%E9.txt" decodes to bytes that are not UTF-8 (ftpkit sends names and passwords in UTF-8, RFC 2640: write "é" as %C3%A9, not %E9)');
    expect(parseFtpUrl("ftp://h/caf%C3%A9.txt").path).toBe("café.txt");
    expect(() => parseFtpUrl("ftp://u:p%E9@h/")).toThrow('URL password "***" decodes to bytes that are not UTF-8');
  });

  test("a password without a user name is refused (USER needs one); an empty user info is no user", () => {
    // Before: an empty USER, answered 501 and read as a refused login (exit 6).
    expect(() => parseFtpUrl("ftp://:s3cret@h/x")).toThrow('URL "ftp://:***@h/x" has a password but no user name (ftp://USER:PASSWORD@host/…)');
    expect(parseFtpUrl("ftp://@h/x").user).toBeUndefined();
  });

  test('"ftp://:@host" is an empty user and an empty password (as curl and lftp send them), and formats back to itself', () => {
    // Before: refused as "a password but no user name".
    const url = parseFtpUrl("ftp://:@h/x");
    expect({ user: url.user, password: url.password }).toEqual({ user: "", password: "" });
    // "ftp://@h/x" would read back as no user (anonymous): a resumed job must log in as the same user.
    expect(formatFtpUrl(url)).toBe("ftp://:@h/x");
    expect(parseFtpUrl(formatFtpUrl(url)).user).toBe("");
  });

  test('a "#" in a path gets a hint to write it as %23', () => {
    expect(() => parseFtpUrl("ftp://h/a#b.txt")).toThrow(/write a "#" in a name as %23/);
    expect(parseFtpUrl("ftp://h/a%23b.txt").path).toBe("a#b.txt");
  });
});
