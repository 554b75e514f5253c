// Watches an Ogg stream's pages as they go to the decoder, so that damage is said: the npm
// Vorbis decoder passes over a page whose checksum fails (dropping or decoding it) and a
// stream cut short in silence.
// A page: "OggS", version, header type (0x04: the stream's last page), the granule position
// (for Vorbis, the samples decoded up to the end of the page), serial, sequence number,
// CRC-32 (polynomial 0x04c11db7, computed with its own field zeroed), the segment count and
// the lacing values, whose sum is the body's length. (Layouts from RFC 3533 and the Vorbis I
// specification.)

const CRC32 = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 24;
    for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
    table[i] = c >>> 0;
  }
  return table;
})();

function crc32(b: Uint8Array, from: number, to: number, zeroFrom: number): number {
  let c = 0;
  for (let i = from; i < to; i++) {
    const byte = i >= zeroFrom && i < zeroFrom + 4 ? 0 : b[i];
    c = ((c << 8) ^ CRC32[((c >>> 24) ^ byte) & 0xff]) >>> 0;
  }
  return c;
}

export class OggPageWatcher {
  private buf = new Uint8Array(0);
  private serial: number | undefined; // the first logical stream's
  private nextSequence = 0;
  private granule = 0; // of the last good page of the stream
  private rate = 0;
  private ended = false; // its last page was seen
  private damagedBytes = 0; // skipped while looking for a page

  /** Takes the next bytes of the stream; returns a warning for each loss it shows. */
  push(chunk: Uint8Array): string[] {
    const joined = new Uint8Array(this.buf.length + chunk.length);
    joined.set(this.buf);
    joined.set(chunk, this.buf.length);
    const b = joined;
    const found: string[] = [];
    let p = 0;
    for (;;) {
      const start = findCapture(b, p);
      if (start < 0) {
        // Keep the last 3 bytes: a capture pattern may be cut by the chunk's end.
        this.damagedBytes += Math.max(0, b.length - 3 - p);
        p = Math.max(p, b.length - 3);
        break;
      }
      this.damagedBytes += start - p;
      p = start;
      if (p + 27 > b.length) break;
      const segments = b[p + 26];
      if (p + 27 + segments > b.length) break;
      let body = 0;
      for (let i = 0; i < segments; i++) body += b[p + 27 + i];
      const end = p + 27 + segments + body;
      if (end > b.length) break;
      if (b[p + 4] !== 0 || crc32(b, p, end, p + 22) !== readU32(b, p + 22)) {
        // A damaged page (or "OggS" inside audio data): look again one byte on.
        this.damagedBytes += 1;
        p += 1;
        continue;
      }
      this.page(b, p, segments, found);
      p = end;
    }
    this.buf = b.slice(p);
    return found;
  }

  /** At the end of the stream: a warning if it was cut short. */
  end(decodedFrames: number): string | undefined {
    const tail = this.damagedBytes + this.buf.length;
    if (!this.ended) {
      return `the stream ends before its last page (${tail > 0 ? `${tail} bytes of an incomplete page; ` : ''}the file was cut short?): decoded ${decodedFrames} samples`;
    }
    if (this.granule > 0 && decodedFrames < this.granule) {
      return `decoded ${decodedFrames} of the ${this.granule} samples the stream declares (${this.granule - decodedFrames} lost)`;
    }
    return undefined;
  }

  private page(b: Uint8Array, p: number, segments: number, found: string[]): void {
    const serial = readU32(b, p + 14);
    if (this.serial === undefined) {
      this.serial = serial;
      // The Vorbis identification header: packet type 1, "vorbis", version, channels, rate.
      const q = p + 27 + segments;
      if (b[q] === 1 && String.fromCharCode(...b.subarray(q + 1, q + 7)) === 'vorbis') this.rate = readU32(b, q + 12);
    }
    if (serial !== this.serial) return;
    // Pages that fail their checksum are skipped (here and by the decoder): their audio is
    // lost, and the next good page's sequence number says how many there were.
    const sequence = readU32(b, p + 18);
    const missing = Math.max(0, sequence - this.nextSequence);
    if (missing > 0 || this.damagedBytes > 0) {
      const pages = missing > 0 ? `${missing} page${missing === 1 ? '' : 's'}` : 'part of a page';
      found.push(
        this.damagedBytes > 0
          ? `${pages} after ${this.where()} damaged (${this.damagedBytes} bytes fail the page checksum): its audio is lost or damaged`
          : `${pages} after ${this.where()} missing: its audio is lost`,
      );
    }
    this.damagedBytes = 0;
    this.nextSequence = sequence + 1;
    // -1 (all bits set): no packet ends on this page.
    const low = readU32(b, p + 6);
    const high = readU32(b, p + 10);
    if (!(low === 0xffffffff && high === 0xffffffff)) this.granule = high * 2 ** 32 + low;
    if (b[p + 5] & 0x04) this.ended = true;
  }

  private where(): string {
    return this.rate > 0 ? `${(this.granule / this.rate).toFixed(2)} s` : `sample ${this.granule}`;
  }
}

function findCapture(b: Uint8Array, from: number): number {
  for (let i = from; i + 3 < b.length; i++) {
    if (b[i] === 0x4f && b[i + 1] === 0x67 && b[i + 2] === 0x67 && b[i + 3] === 0x53) return i;
  }
  return -1;
}

function readU32(b: Uint8Array, at: number): number {
  return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
}
