// Splits a FLAC stream into its metadata and its audio frames, so that a corrupt frame costs
// that frame alone: the npm decoder's own parser, after a bad frame, looks up to 512 KiB
// ahead for the next header and at the end of the stream drops everything it has not
// matched. A frame starts with the 14-bit sync code and a header whose CRC-8 checks out and
// whose fields agree with STREAMINFO; it ends where the next such header begins.
// (Layouts from the FLAC format specification.)

import { id3Length } from './id3.js';

export interface StreamInfo {
  minBlock: number;
  maxBlock: number;
  sampleRate: number;
  channels: number;
  bitsPerSample: number;
  /** Samples per channel the stream declares; 0 when unknown. */
  totalSamples: number;
}

const CRC8 = (() => {
  const table = new Uint8Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 0x80 ? ((c << 1) ^ 0x07) & 0xff : (c << 1) & 0xff;
    table[i] = c;
  }
  return table;
})();

function crc8(b: Uint8Array, from: number, to: number): number {
  let c = 0;
  for (let i = from; i < to; i++) c = CRC8[c ^ b[i]];
  return c;
}

/** Length of a valid frame header at `at` (CRC-8 included), or 0 if there is none. */
export function frameHeaderLength(b: Uint8Array, at: number, info: StreamInfo | undefined): number {
  if (at + 6 > b.length || b[at] !== 0xff || (b[at + 1] & 0xfe) !== 0xf8) return 0;
  const blockCode = b[at + 2] >> 4;
  const rateCode = b[at + 2] & 0x0f;
  const channelCode = b[at + 3] >> 4;
  const sizeCode = (b[at + 3] >> 1) & 0x07;
  if (blockCode === 0 || rateCode === 0x0f || channelCode > 10 || sizeCode === 3 || (b[at + 3] & 1) !== 0) return 0;
  let p = at + 4;
  // The frame or sample number, coded like UTF-8 (up to 7 bytes).
  const first = b[p];
  let extra = 0;
  if (first < 0x80) extra = 0;
  else if ((first & 0xe0) === 0xc0) extra = 1;
  else if ((first & 0xf0) === 0xe0) extra = 2;
  else if ((first & 0xf8) === 0xf0) extra = 3;
  else if ((first & 0xfc) === 0xf8) extra = 4;
  else if ((first & 0xfe) === 0xfc) extra = 5;
  else if (first === 0xfe) extra = 6;
  else return 0;
  p++;
  for (let i = 0; i < extra; i++, p++) if (p >= b.length || (b[p] & 0xc0) !== 0x80) return 0;
  if (blockCode === 6) p += 1;
  else if (blockCode === 7) p += 2;
  if (rateCode === 12) p += 1;
  else if (rateCode === 13 || rateCode === 14) p += 2;
  if (p >= b.length) return 0;
  if (crc8(b, at, p) !== b[p]) return 0;
  if (info) {
    // Fields that STREAMINFO fixes for the whole stream must agree with it.
    const channels = channelCode < 8 ? channelCode + 1 : 2;
    if (channels !== info.channels) return 0;
    const sizes = [0, 8, 12, 0, 16, 20, 24, 32];
    if (sizeCode !== 0 && sizes[sizeCode] !== info.bitsPerSample) return 0;
  }
  return p + 1 - at;
}

const CRC16 = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let k = 0; k < 8; k++) c = c & 0x8000 ? ((c << 1) ^ 0x8005) & 0xffff : (c << 1) & 0xffff;
    table[i] = c;
  }
  return table;
})();

function crc16(b: Uint8Array, from: number, to: number): number {
  let c = 0;
  for (let i = from; i < to; i++) c = ((c << 8) & 0xffff) ^ CRC16[(c >> 8) ^ b[i]];
  return c;
}

/** A sample rate as a frame header codes it: the 4-bit code and the bytes after the header's fixed part; null where it cannot. */
function rateCoding(rate: number): [number, number[]] | null {
  const table = [0, 88200, 176400, 192000, 8000, 16000, 22050, 24000, 32000, 44100, 48000, 96000];
  const code = table.indexOf(rate);
  if (code > 0) return [code, []];
  if (rate % 1000 === 0 && rate / 1000 <= 0xff) return [12, [rate / 1000]];
  if (rate <= 0xffff) return [13, [rate >> 8, rate & 0xff]];
  if (rate % 10 === 0 && rate / 10 <= 0xffff) return [14, [(rate / 10) >> 8, (rate / 10) & 0xff]];
  return null;
}

/**
 * The frame with a sample rate or size that its header takes "from STREAMINFO" (code 0)
 * written out, and its CRCs made again; the frame itself where neither is so, or where the
 * stream's values have no code. The npm decoder, given frames alone, has no STREAMINFO to
 * look them up in, and failed every such frame (a valid, if rare, form: libFLAC writes it
 * for sample sizes without a code of their own, and for some rates).
 */
export function withExplicitFormat(frame: Uint8Array, info: StreamInfo): Uint8Array {
  const rateCode = frame[2] & 0x0f;
  const sizeCode = (frame[3] >> 1) & 0x07;
  if (rateCode !== 0 && sizeCode !== 0) return frame;
  const headerLength = frameHeaderLength(frame, 0, info) - 1; // without its CRC-8
  if (headerLength < 0) return frame;
  const rate = rateCode === 0 ? rateCoding(info.sampleRate) : [rateCode, []] as [number, number[]];
  const size = sizeCode === 0 ? [0, 8, 12, 0, 16, 20, 24, 32].indexOf(info.bitsPerSample) : sizeCode;
  if (!rate || size <= 0) return frame;
  // The rate's bytes, where it has some, come last in the header: after the block size's.
  const header = [...frame.subarray(0, headerLength), ...rate[1]];
  header[2] = (frame[2] & 0xf0) | rate[0];
  header[3] = (frame[3] & 0xf1) | (size << 1);
  const out = new Uint8Array(header.length + 1 + frame.length - headerLength - 1);
  out.set(header);
  out[header.length] = crc8(out, 0, header.length);
  out.set(frame.subarray(headerLength + 1, frame.length - 2), header.length + 1);
  const c = crc16(out, 0, out.length - 2);
  out[out.length - 2] = c >> 8;
  out[out.length - 1] = c & 0xff;
  return out;
}

/** Streaming splitter: push() bytes, get whole frames back; end() returns the last one. */
export class FlacFrameSplitter {
  info: StreamInfo | undefined;
  private buf = new Uint8Array(0);
  private metadataDone = false;
  private frameStart = -1; // offset in buf of the frame being collected

  push(chunk: Uint8Array): Uint8Array[] {
    const joined = new Uint8Array(this.buf.length + chunk.length);
    joined.set(this.buf);
    joined.set(chunk, this.buf.length);
    this.buf = joined;
    if (!this.metadataDone && !this.readMetadata()) return [];
    return this.collect(false);
  }

  end(): Uint8Array[] {
    if (!this.metadataDone) {
      if (!this.readMetadata()) throw new Error('not a valid FLAC file (no complete stream header)');
    }
    return this.collect(true);
  }

  /** Parses "fLaC" and the metadata blocks (after any ID3v2 tags, which taggers put in front); false while more bytes are needed. */
  private readMetadata(): boolean {
    const b = this.buf;
    let start = 0;
    for (let tag = id3Length(b, start); tag !== 0; tag = id3Length(b, start)) {
      if (tag < 0) return false;
      start += tag;
    }
    if (b.length < start + 4) return false;
    if (b[start] !== 0x66 || b[start + 1] !== 0x4c || b[start + 2] !== 0x61 || b[start + 3] !== 0x43) {
      throw new Error('not a valid FLAC file (no "fLaC" marker)');
    }
    let p = start + 4;
    for (;;) {
      if (p + 4 > b.length) return false;
      const last = (b[p] & 0x80) !== 0;
      const type = b[p] & 0x7f;
      const len = (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3];
      if (p + 4 + len > b.length) return false;
      if (type === 0) {
        if (len < 34) throw new Error('not a valid FLAC file (STREAMINFO too short)');
        const s = p + 4;
        const total = (b[s + 13] & 0x0f) * 2 ** 32 + ((b[s + 14] << 24) >>> 0) + (b[s + 15] << 16) + (b[s + 16] << 8) + b[s + 17];
        this.info = {
          minBlock: (b[s] << 8) | b[s + 1],
          maxBlock: (b[s + 2] << 8) | b[s + 3],
          sampleRate: (b[s + 10] << 12) | (b[s + 11] << 4) | (b[s + 12] >> 4),
          channels: ((b[s + 12] >> 1) & 0x07) + 1,
          bitsPerSample: (((b[s + 12] & 1) << 4) | (b[s + 13] >> 4)) + 1,
          totalSamples: total,
        };
      }
      p += 4 + len;
      if (last) break;
    }
    if (!this.info) throw new Error('not a valid FLAC file (no STREAMINFO block)');
    this.metadataDone = true;
    this.buf = this.buf.subarray(p);
    return true;
  }

  private collect(final: boolean): Uint8Array[] {
    const frames: Uint8Array[] = [];
    const b = this.buf;
    let scan = this.frameStart < 0 ? 0 : this.frameStart + 1;
    // The smallest header is 6 bytes: do not judge a header cut off by the chunk's end.
    const limit = final ? b.length : b.length - 16;
    for (; scan < limit; scan++) {
      if (b[scan] !== 0xff) continue;
      if (frameHeaderLength(b, scan, this.info) === 0) continue;
      if (this.frameStart >= 0) frames.push(b.slice(this.frameStart, scan));
      this.frameStart = scan;
    }
    if (final) {
      if (this.frameStart >= 0) frames.push(b.slice(this.frameStart));
      this.buf = new Uint8Array(0);
      this.frameStart = -1;
    } else {
      // Keep from the frame being collected (or from where the scan stopped).
      const keepFrom = this.frameStart >= 0 ? this.frameStart : Math.max(0, limit);
      this.buf = b.slice(keepFrom);
      this.frameStart = this.frameStart >= 0 ? 0 : -1;
    }
    return frames;
  }
}
