// TLS record framing (RFC 8446 §5.1, RFC 5246 §6.2) seen from outside: the type and length of the
// last complete record a peer sent, read from the ciphertext the plain socket still receives after
// upgradeTLS (BUN-NOTES). Bun reports a TLS close_notify and a bare TCP FIN alike (`end`), so this is
// how an ending the peer meant is told from one cut short on the path: the server's for PROT P
// uploads (server/tls/data.ts), the client's for downloads nothing else can check (client/connection.ts).

const HEADER = 5;
const ALERT = 21;
const APPLICATION_DATA = 23;
/** A TLS 1.3 record's bytes beyond its plaintext and padding: 1 inner content type + a 16-byte AEAD tag (AES-GCM, ChaCha20-Poly1305). */
const TLS13_OVERHEAD = 1 + 16;
/** TLS 1.3 close_notify: 2 alert bytes + the overhead. */
const TLS13_ALERT_RECORD = 2 + TLS13_OVERHEAD;
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
  /**
   * TLS 1.3 application-data records completed by the latest chunk pushed, the plaintext they hold
   * at most (each: its length less the tag and inner type), and what the TLS layer delivered since (`plain`).
   */
  private chunkRecords = 0;
  private chunkRoom = 0;
  private plainSinceChunk = 0;
  /** `plain` was called: the user feeds the plaintext count (the server's uploads), so it can be read. */
  private countsPlain = false;

  push(chunk: Uint8Array): void {
    this.chunkRecords = 0;
    this.chunkRoom = 0;
    this.plainSinceChunk = 0;
    let i = 0;
    while (i < chunk.length && !this.broken) {
      if (this.bodyLeft > 0) {
        const take = Math.min(this.bodyLeft, chunk.length - i);
        this.bodyLeft -= take;
        i += take;
        if (this.bodyLeft === 0) this.completed();
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
      if (length === 0) this.completed();
    }
  }

  private completed(): void {
    this.last = { ...this.current };
    if (this.current.type !== APPLICATION_DATA) return;
    this.chunkRecords++;
    this.chunkRoom += this.current.length - TLS13_OVERHEAD;
  }

  /** The TLS layer delivered `n` bytes of plaintext (it decrypts a chunk's records right after the chunk is pushed). */
  plain(n: number): void {
    this.countsPlain = true;
    this.plainSinceChunk += n;
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
    if (type === ALERT) return true;
    if (type !== APPLICATION_DATA || (length !== TLS13_ALERT_RECORD && length !== TLS13_ALERT_RECORD + JSSE_TLS13_PADDING)) return false;
    // A data record of that size (2 bytes; 18 unpadded in 35), as a client streaming from a pipe
    // sends, then a FIN cut on the path, looked like an alert: an upload cut after it got 226. The
    // TLS layer decrypts a chunk's records right after the chunk is pushed (measured), so the
    // plaintext it delivered since tells: every record of the chunk holds its room less 0 or 16
    // bytes of padding (Java), except an alert (nothing) or a data record of that size (2 bytes).
    if (!this.countsPlain || this.chunkRecords === 0) return true;
    const others = this.chunkRoom - (length - TLS13_OVERHEAD);
    return (((this.plainSinceChunk - others) % 16) + 16) % 16 !== 2;
  }
}
