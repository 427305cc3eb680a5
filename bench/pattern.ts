/** 1 MiB of xorshift bytes: real, non-compressible data for files and uploads (not a run of zeros). */
export function fillPattern(seed: number): Buffer {
  const b = Buffer.allocUnsafe(1 << 20);
  let x = seed | 1;
  for (let i = 0; i < b.length; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b.writeUInt32LE(x >>> 0, i);
  }
  return b;
}
