// `ftpkit cert --out DIR`: a self-signed certificate and key for FTPS (quick start and tests), made with openssl.
import { access, constants, mkdir, rename, rm, stat, statfs } from "node:fs/promises";
import { join, resolve } from "node:path";
import { isIP } from "node:net";
import { defineCommand } from "citty";
import { consola } from "../../client/messages.ts";
import { localCause } from "../../client/errors.ts";
import { CliError, UsageError } from "../args.ts";
import { checkArgs } from "../args-check.ts";

const args = {
  // Checked in run(), after unknown flags: a mistyped --out-dir is named as such, not as a missing --out.
  out: { type: "string", description: "Directory for cert.pem and key.pem (created if missing) (required)", valueHint: "DIR" },
  host: { type: "string", description: "Host name in the certificate (CN and subjectAltName; default localhost)", valueHint: "NAME" },
  days: { type: "string", description: "Validity in days (default 825)", valueHint: "N" },
  force: { type: "boolean", description: "Overwrite existing cert.pem/key.pem" },
} as const;

const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9*]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$/;

export default defineCommand({
  meta: { name: "cert", description: "Create a self-signed TLS certificate and key for `ftpkit serve --tls-cert/--tls-key`" },
  args,
  async run({ args: a, rawArgs }) {
    checkArgs(rawArgs, args, a._);
    if (a.out === undefined || a.out === "") throw new UsageError("--out DIR is required: the directory for cert.pem and key.pem");
    const host = a.host ?? "localhost";
    // node:net's test, not a shape: "999.1.1.1" or "bad:host!" reached openssl as IP:… and failed there (exit 1, not 2).
    const isIp = isIP(host) !== 0;
    if (!isIp && !HOST_NAME.test(host)) throw new UsageError(`--host must be a host name or an IP address, got "${host}"`);
    const days = a.days === undefined ? 825 : Number(a.days);
    if (!/^\d+$/.test(a.days ?? "825") || days < 1 || days > 36500) throw new UsageError(`--days must be an integer between 1 and 36500, got "${a.days}"`);
    if (!Bun.which("openssl")) throw new CliError("ftpkit cert needs the openssl command; install it (e.g. apt-get install openssl) or bring your own certificate");

    const dir = resolve(a.out);
    const certFile = join(dir, "cert.pem");
    const keyFile = join(dir, "key.pem");
    await mkdir(dir, { recursive: true }).catch((err: unknown) => {
      // Node's "EROFS: read-only file system, mkdir '…'" was the line.
      throw new CliError(`cannot create ${dir}: ${localCause(err)}`);
    });
    // An existing directory on a read-only mount: openssl's failure left "EROFS: …, rm '…'" as the line.
    await access(dir, constants.W_OK).catch((err: unknown) => {
      throw new CliError(`cannot write to ${dir}: ${localCause(err)}`);
    });
    if (!a.force && ((await Bun.file(certFile).exists()) || (await Bun.file(keyFile).exists()))) {
      throw new CliError(`${certFile} or ${keyFile} already exists (use --force to replace them)`);
    }
    // The name given, localhost and 127.0.0.1, as the README says: an IP --host left out localhost.
    const san = [isIp ? `IP:${host}` : `DNS:${host}`];
    if (host !== "127.0.0.1") san.push("IP:127.0.0.1");
    if (host !== "localhost") san.push("DNS:localhost");
    // Written beside the targets, then renamed: a running server never sees half a pair.
    const tmpCert = `${certFile}.tmp-${process.pid}`;
    const tmpKey = `${keyFile}.tmp-${process.pid}`;
    const proc = Bun.spawnSync(
      [
        "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
        "-keyout", tmpKey, "-out", tmpCert, "-days", String(days),
        "-subj", `/CN=${host}`, "-addext", `subjectAltName=${san.join(",")}`,
      ],
      { stdout: "pipe", stderr: "pipe" },
    );
    const removeTemps = async () => {
      await rm(tmpCert, { force: true }).catch(() => {});
      await rm(tmpKey, { force: true }).catch(() => {});
    };
    if (proc.exitCode !== 0) {
      await removeTemps();
      const why = proc.stderr.toString().trim().split("\n").pop() ?? "";
      throw new CliError(`openssl failed: ${why}`);
    }
    // openssl exits 0 when it cannot write its files' bytes: on a full disk cert.pem and key.pem were
    // left empty, and "self-signed certificate for …" said.
    const empty = async (f: string) => ((await stat(f).catch(() => null))?.size ?? 0) === 0;
    if ((await empty(tmpKey)) || (await empty(tmpCert))) {
      await removeTemps();
      const full = (await statfs(dir).catch(() => null))?.bavail === 0;
      throw new CliError(`cannot write cert.pem and key.pem in ${dir}: ${full ? "disk full" : "openssl wrote an empty file"}`);
    }
    await rename(tmpKey, keyFile);
    await rename(tmpCert, certFile);
    const fp = Bun.spawnSync(["openssl", "x509", "-in", certFile, "-noout", "-fingerprint", "-sha256"], { stdout: "pipe" });
    // Messages on stderr: stdout carries the two paths alone (`ftpkit cert --out tls | head -1`).
    consola().success(`self-signed certificate for ${host}, valid ${days} days`);
    process.stdout.write(`${certFile}\n${keyFile}\n`);
    const line = fp.stdout.toString().trim();
    if (line) consola().info(line.replace(/^.*=/, "SHA-256 fingerprint "));
    consola().info(`use: ftpkit serve --tls-cert ${certFile} --tls-key ${keyFile}`);
  },
});
