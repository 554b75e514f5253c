// Reads an Ogg file's pages on their way to the decoder. It says what is damaged: the npm
// Vorbis decoder passes over a page whose checksum fails and a file cut short in silence.
// (The granule positions are not compared with the samples decoded: a valid file cut by
// stream copy starts at a granule past 0.) And it holds back the pages of every stream but
// the Vorbis one being decoded: a file can hold several streams played together (a video's
// Theora beside its Vorbis, two audio tracks), whose pages the decoder would take as one
// stream's, decoding the second track's audio with the first one's setup (a file of two
// 4-s tracks came out as 8 s of garbled audio). Everything else goes on as it came, damaged
// bytes and a last page cut short included: the decoder makes what it can of them.
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

/** What is followed of each logical stream (a chained file holds several, one after another). */
interface Stream {
  nextSequence: number;
  granule: number; // of its last good page
  rate: number;
  ended: boolean; // its last page was seen
}

export class OggPageWatcher {
  private buf = new Uint8Array(0);
  private streams = new Map<number, Stream>();
  private last: Stream | undefined; // the stream of the last good page
  private damagedBytes = 0; // skipped since the last good page while looking for a page
  private decoded: number | undefined; // the serial of the Vorbis stream whose pages go to the decoder
  private beside = new Map<number, string>(); // streams beside it (serial → what they hold), not yet said
  private said = new Set<number>(); // serials of streams said to be beside it

  /**
   * Takes the next bytes of the file. Returns a warning for each loss it shows, and the bytes
   * for the decoder: those taken so far, up to a page not yet complete, less the good pages
   * of other streams than the Vorbis one being decoded; split where a chained file's next
   * link starts (links[0] goes on with the link being decoded, each later one starts one:
   * the decoder must start again there, with that link's own setup).
   */
  push(chunk: Uint8Array): { warnings: string[]; links: Uint8Array[] } {
    const b = new Uint8Array(this.buf.length + chunk.length);
    b.set(this.buf);
    b.set(chunk, this.buf.length);
    const found: string[] = [];
    const links: Uint8Array[][] = [[]];
    let from = 0; // the first byte not yet kept or held back
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
      const end = pageEnd(b, p);
      if (end < 0) break; // not all here yet
      if (b[p + 4] !== 0 || crc32(b, p, end, p + 22) !== readU32(b, p + 22)) {
        // A damaged page (or "OggS" inside audio data): look again one byte on.
        this.damagedBytes += 1;
        p += 1;
        continue;
      }
      const verdict = this.page(b, p, end, found);
      if (verdict !== 'decode') {
        links[links.length - 1].push(b.subarray(from, p));
        if (verdict === 'next link') links.push([]);
        from = verdict === 'next link' ? p : end;
      }
      p = end;
    }
    links[links.length - 1].push(b.subarray(from, p));
    this.buf = b.slice(p);
    return { warnings: found, links: links.map((parts) => Buffer.concat(parts)) };
  }

  /** At the end of the file: what push() held, waiting for the rest of a page, for the decoder. */
  rest(): Uint8Array {
    return this.buf;
  }

  /** At the end of the file: a warning if its end is damaged or missing. */
  end(): string | undefined {
    const rest = this.buf;
    if (rest.length >= 4 && findCapture(rest, 0) === 0 && pageEnd(rest, 0) < 0) {
      return `the stream ends inside a page, after ${this.where()} (the file was cut short?): the rest is lost`;
    }
    const damaged = this.damagedBytes + rest.length;
    if (damaged > 0) return `the last ${damaged} bytes, after ${this.where()}, are damaged (they fail the page checksum): the end is lost or damaged`;
    if (this.last && !this.last.ended) return `the stream ends before its last page, after ${this.where()} (the file was cut short?)`;
    return undefined;
  }

  /**
   * Follows a good page: whether it goes to the decoder (before a Vorbis stream is found,
   * every page does), is held back (another stream's), or starts a chained file's next link.
   */
  private page(b: Uint8Array, p: number, end: number, found: string[]): 'decode' | 'hold back' | 'next link' {
    const serial = readU32(b, p + 14);
    // The Vorbis identification header, on a stream's first page: packet type 1, "vorbis",
    // version, channels, rate.
    const q = p + 27 + b[p + 26];
    const first = (b[p + 5] & 0x02) !== 0;
    const vorbis = first && q + 16 <= end && b[q] === 1 && String.fromCharCode(...b.subarray(q + 1, q + 7)) === 'vorbis';
    // Whether the stream being decoded has ended (before a chained link takes its serial again).
    const decodedEnded = this.decoded === undefined || this.streams.get(this.decoded)!.ended;
    let stream = this.streams.get(serial);
    if (!stream || first) {
      // A new stream, or a chained link that uses a serial again.
      stream = { nextSequence: stream?.nextSequence ?? 0, granule: 0, rate: vorbis ? readU32(b, q + 12) : 0, ended: false };
      this.streams.set(serial, stream);
    }
    // The stream to decode: the first Vorbis stream, and after it has ended, the next (a
    // chained file's next link). Streams beside it are passed over, and said.
    const nextLink = first && vorbis && decodedEnded && this.decoded !== undefined;
    if (first && vorbis && decodedEnded) this.decoded = serial;
    // An Ogg Skeleton stream (an index of the others, "fishead") holds nothing played: not said.
    else if (first && !String.fromCharCode(...b.subarray(q, Math.min(end, q + 8))).startsWith('fishead\0')) {
      this.beside.set(serial, codecName(b.subarray(q, end)));
    }
    if (this.decoded !== undefined) {
      for (const [other, codec] of this.beside) {
        if (!this.said.has(other)) {
          found.push(`it holds another stream (${codec}) beside the Vorbis audio, played with it: only the audio of the first Vorbis stream is used`);
        }
        this.said.add(other);
      }
      this.beside.clear();
    }
    const sequence = readU32(b, p + 18);
    const passes = this.decoded === undefined || serial === this.decoded;
    if (!passes) {
      // A stream beside the one decoded: followed, so that its pages are known, but its
      // losses are not the audio's (damage before it is said at the audio's next page).
      stream.nextSequence = sequence + 1;
      if (b[p + 5] & 0x04) stream.ended = true;
      return 'hold back';
    }
    // Pages that fail their checksum are skipped (here; the decoder drops or decodes them):
    // the next good page's sequence number says how many there were.
    const missing = Math.max(0, sequence - stream.nextSequence);
    if (missing > 0 || this.damagedBytes > 0) {
      const where = this.where();
      const pages = missing > 0 ? `${missing} page${missing === 1 ? '' : 's'}` : 'part of a page';
      found.push(
        this.damagedBytes > 0
          ? `${pages} after ${where} damaged (${this.damagedBytes} bytes fail the page checksum): its audio is lost or damaged`
          : `${pages} after ${where} missing: its audio is lost`,
      );
    }
    this.damagedBytes = 0;
    stream.nextSequence = sequence + 1;
    // -1 (all bits set): no packet ends on this page.
    const low = readU32(b, p + 6);
    const high = readU32(b, p + 10);
    if (!(low === 0xffffffff && high === 0xffffffff)) stream.granule = high * 2 ** 32 + low;
    if (b[p + 5] & 0x04) stream.ended = true;
    this.last = stream;
    return nextLink ? 'next link' : 'decode';
  }

  private where(): string {
    const s = this.last;
    if (!s) return 'the start';
    return s.rate > 0 ? `${(s.granule / s.rate).toFixed(2)} s` : `sample ${s.granule}`;
  }
}

/** What a stream holds, by its first packet. */
function codecName(packet: Uint8Array): string {
  const head = String.fromCharCode(...packet.subarray(0, 8));
  if (head.startsWith('\x01vorbis')) return 'Vorbis audio';
  if (head.startsWith('\x80theora')) return 'Theora video';
  if (head.startsWith('OpusHead')) return 'Opus audio';
  if (head.startsWith('\x7fFLAC')) return 'FLAC audio';
  if (head.startsWith('Speex   ')) return 'Speex audio';
  return 'of an unknown kind';
}

/** Where the page at `p` ends, or -1 when it is not all in `b`. */
function pageEnd(b: Uint8Array, p: number): number {
  if (p + 27 > b.length) return -1;
  const segments = b[p + 26];
  if (p + 27 + segments > b.length) return -1;
  let body = 0;
  for (let i = 0; i < segments; i++) body += b[p + 27 + i];
  const end = p + 27 + segments + body;
  return end <= b.length ? end : -1;
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
