// TLS record framing (RFC 8446 §5.1, RFC 5246 §6.2) seen from outside: the type and length of the
// last complete record a peer sent, read from the ciphertext the plain socket still receives after
// upgradeTLS (BUN-NOTES). Bun reports a TLS close_notify and a bare TCP FIN alike (`end`), so this is
// how an ending the peer meant is told from one cut short on the path: the server's for PROT P
// uploads (server/tls/data.ts), the client's for downloads nothing else can check (client/connection.ts).

const HEADER = 5;
const ALERT = 21;
const APPLICATION_DATA = 23;
/** TLS 1.3 close_notify: 2 alert bytes + 1 inner content type + a 16-byte AEAD tag (AES-GCM, ChaCha20-Poly1305). */
const TLS13_ALERT_RECORD = 2 + 1 + 16;
/**
 * Java's JSSE (11 and later) pads every TLS 1.3 record with 16 zero bytes (OutputRecord's
 * T13PaddingHolder), so its close_notify is 35 bytes: measured from Apache Commons Net's FTPSClient
 * on Java 17. Taking only 19, every PROT P upload from a Java client ended in 426.
 */
const JSSE_TLS13_PADDING = 16;

export class RecordTail {
  private header = Buffer.alloc(HEADER);
  private headerFill = 0;
  private bodyLeft = 0;
  private current = { type: 0, length: 0 };
  /** The last complete record: its outer content type and length. */
  last: { type: number; length: number } | null = null;
  /** Bytes that were not TLS framing (then nothing can be told). */
  broken = false;

  push(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length && !this.broken) {
      if (this.bodyLeft > 0) {
        const take = Math.min(this.bodyLeft, chunk.length - i);
        this.bodyLeft -= take;
        i += take;
        if (this.bodyLeft === 0) this.last = { ...this.current };
        continue;
      }
      this.header[this.headerFill++] = chunk[i++]!;
      if (this.headerFill < HEADER) continue;
      this.headerFill = 0;
      const type = this.header[0]!;
      const length = this.header.readUInt16BE(3);
      if (type < 20 || type > 24 || this.header[1] !== 3 || length > 18_432) {
        this.broken = true;
        return;
      }
      this.current = { type, length };
      this.bodyLeft = length;
      if (length === 0) this.last = { ...this.current };
    }
  }

  /**
   * Did the stream end on what can only be a close_notify (or another alert)? TLS 1.2 sends alerts
   * as records of type 21; TLS 1.3 encrypts them as type 23, where an alert is the only thing a
   * peer sends in exactly 19 bytes at the end (a data record that size holds 2 bytes), or in 35
   * from Java, which pads each record with 16 bytes (its data record that size also holds 2 bytes).
   */
  get endedWithAlert(): boolean {
    if (this.bodyLeft > 0 || this.headerFill > 0) return false; // cut inside a record
    // Nothing seen, or not TLS framing: nothing can be told, and the FIN is taken as before.
    if (this.broken || !this.last) return true;
    const { type, length } = this.last;
    return type === ALERT || (type === APPLICATION_DATA && (length === TLS13_ALERT_RECORD || length === TLS13_ALERT_RECORD + JSSE_TLS13_PADDING));
  }
}
