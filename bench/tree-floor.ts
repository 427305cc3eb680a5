// `bun bench/tree-floor.ts PORT USER PASS DEST [FILES] [CONNECTIONS]`: the floor of a Bun FTP client
// for the tree rows. It fetches tree-1000/d{i%10}/f{i}.bin (the bench's tree) over CONNECTIONS
// sessions with EPSV + RETR straight into DEST, with nothing ftpkit's `get -r` adds (listing, locks,
// part files, journal, mtimes, progress, verification). Comparing it with `ftpkit get -r` and
// `lftp mirror` on the same server separates what the runtime costs from what our client costs.
import { closeSync, mkdirSync, openSync, writeSync } from "node:fs";
import { BenchFtpError, FtpLite } from "./ftp-lite.ts";

const [portArg, user, pass, dest, filesArg = "1000", connsArg = "8"] = process.argv.slice(2);
if (!portArg || !user || !pass || !dest) {
  console.error("usage: bun bench/tree-floor.ts PORT USER PASS DEST [FILES] [CONNECTIONS]");
  process.exit(2);
}
const port = Number(portArg);
const files = Number(filesArg);
const conns = Number(connsArg);
const names = Array.from({ length: files }, (_, i) => `d${i % 10}/f${i}.bin`);
for (let d = 0; d < Math.min(10, files); d++) mkdirSync(`${dest}/d${d}`, { recursive: true });

/** RETR `name` into a new file at DEST; resolves once the data connection closed and 226 came. */
async function fetchOne(c: FtpLite, name: string): Promise<void> {
  const epsv = await c.expect("EPSV", 229);
  const dataPort = Number(/\|\|\|(\d+)\|/.exec(epsv.text)?.[1]);
  const fd = openSync(`${dest}/${name}`, "w");
  try {
    let pos = 0;
    const closed = new Promise<void>((resolve, reject) => {
      Bun.connect({
        hostname: "127.0.0.1",
        port: dataPort,
        socket: {
          data(_s, chunk) {
            writeSync(fd, chunk, 0, chunk.length, pos);
            pos += chunk.length;
          },
          end: (s) => void s.end(),
          close: () => resolve(),
          connectError: (_s, err) => reject(err),
        },
      }).catch(reject);
    });
    c.write(`RETR /tree-1000/${name}`);
    const first = await c.read();
    if (first.code !== 150 && first.code !== 125) throw new BenchFtpError(`RETR ${name}: ${first.code} ${first.text}`);
    await closed;
    const final = await c.read();
    if (final.code !== 226) throw new BenchFtpError(`RETR ${name}: ${final.code} ${final.text}`);
  } finally {
    closeSync(fd);
  }
}

async function session(k: number): Promise<void> {
  const c = await FtpLite.connect("127.0.0.1", port);
  await c.expect(`USER ${user}`, 331);
  await c.expect(`PASS ${pass}`, 230);
  await c.expect("TYPE I", 200);
  for (let i = k; i < files; i += conns) await fetchOne(c, names[i]!);
  c.write("QUIT");
}

const hardStop = setTimeout(() => {
  console.error("tree-floor: no end after 5 minutes");
  process.exit(1);
}, 300_000);
await Promise.all(Array.from({ length: conns }, (_, k) => session(k)));
clearTimeout(hardStop);
process.exit(0);
