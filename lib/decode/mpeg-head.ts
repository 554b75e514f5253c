// An MP3 file read by voxprep beside the decoder: its first frame's channel mode (mpg123
// gives a mono stream as two equal channels), the length its Xing/Info and LAME headers
// declare (for the loss check), and its frames' sample rate from there on: the decoder labels
// all it returns from one call with one rate, so files of two rates joined end to end came
// out partly at the wrong speed (or failed, as the change fell inside a read or between two).
//
// The first frame is the first valid frame header (MPEG-1, 2 or 2.5, Layer I to III, a
// bitrate and rate from the tables) whose frame is followed by another valid header of the
// same stream, after any ID3v2 tags. A byte pair 0xFF 0xE? alone is not one: tags hold
// them (an Exif JPEG in a second ID3v2 tag begins FF D8 FF E1), and junk before the audio
// does too. (Layouts from ISO/IEC 11172-3 and 13818-3.)
import { id3Length } from './id3.js';

/** Kilobits per second by bitrate index: [MPEG-1, MPEG-2 and 2.5] × [Layer I, II, III]. */
const BITRATES = [
  [
    [0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448],
    [0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384],
    [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
  ],
  [
    [0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256],
    [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
    [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
  ],
];
/** Sample rates by rate index, for the version field's values 0 (MPEG-2.5), 2 (MPEG-2), 3 (MPEG-1). */
const RATES: Record<number, number[]> = { 0: [11025, 12000, 8000], 2: [22050, 24000, 16000], 3: [44100, 48000, 32000] };

/** How much voxprep reads looking for the first frame before it gives up (big cover art fits). */
const SEARCH_LIMIT = 16 << 20;
/** Bytes kept after the first frame's start: its Xing/Info and LAME headers lie in it. */
const AFTER_FIRST = 1 << 16;

/** The length of the frame whose header is at `p`, or 0 when there is no valid header there. */
function frameLength(b: Uint8Array, p: number): number {
  if (p + 4 > b.length || b[p] !== 0xff || (b[p + 1] & 0xe0) !== 0xe0) return 0;
  const version = (b[p + 1] >> 3) & 3; // 1: reserved
  const layer = (b[p + 1] >> 1) & 3; // 3: I, 2: II, 1: III, 0: reserved
  const bitrateIndex = b[p + 2] >> 4; // 0: free format (not taken), 15: bad
  const rateIndex = (b[p + 2] >> 2) & 3; // 3: reserved
  if (version === 1 || layer === 0 || bitrateIndex === 0 || bitrateIndex === 15 || rateIndex === 3) return 0;
  const bitrate = BITRATES[version === 3 ? 0 : 1][3 - layer][bitrateIndex] * 1000;
  const rate = RATES[version][rateIndex];
  const padding = (b[p + 2] >> 1) & 1;
  if (layer === 3) return (Math.floor((12 * bitrate) / rate) + padding) * 4;
  const perSlot = layer === 1 && version !== 3 ? 72 : 144;
  return Math.floor((perSlot * bitrate) / rate) + padding;
}

/** Whether the headers at `p` and `q` are of one stream: the same version, layer and rate. */
function sameStream(b: Uint8Array, p: number, q: number): boolean {
  return (b[p + 1] & 0x1e) === (b[q + 1] & 0x1e) && ((b[p + 2] >> 2) & 3) === ((b[q + 2] >> 2) & 3);
}

/**
 * The length of the frame at `p` when another header of its stream follows it (what makes it
 * a frame, not two bytes that look like a header); 0 when not; -1 while the follower is not read yet.
 */
function followedFrame(b: Uint8Array, p: number): number {
  const length = frameLength(b, p);
  if (length === 0) return 0;
  if (p + length + 4 > b.length) return -1;
  return frameLength(b, p + length) > 0 && sameStream(b, p, p + length) ? length : 0;
}

export class MpegHead {
  private bytes = new Uint8Array(0);
  private first = -1; // where the first frame starts, once found
  private searching = true;
  private scanFrom = 0; // where the search goes on when more bytes come (none before is a first frame)
  // Following the frames from the first on: the bytes not yet walked, how many to pass over
  // first (the rest of a tag), and the frames' rate.
  private walk = new Uint8Array(0);
  private skip = 0;
  private rate = 0;

  /** Takes the next bytes; throws when frames of another sample rate follow the first ones. */
  push(chunk: Uint8Array): void {
    const keep = this.first >= 0 ? this.first + AFTER_FIRST : SEARCH_LIMIT;
    if (this.bytes.length < keep) {
      const joined = new Uint8Array(Math.min(keep, this.bytes.length + chunk.length));
      joined.set(this.bytes);
      joined.set(chunk.subarray(0, joined.length - this.bytes.length), this.bytes.length);
      const before = this.bytes.length;
      this.bytes = joined;
      if (this.searching) {
        this.search();
        // Found: the walk starts at the first frame, with what of the file is already here.
        if (this.first >= 0) this.follow(Buffer.concat([this.bytes.subarray(this.first), chunk.subarray(joined.length - before)]));
        return;
      }
    }
    if (this.first >= 0) this.follow(chunk);
  }

  /**
   * Walks frame to frame; where a frame is not followed by another of its stream (damage, a
   * tag between joined files), looks on a byte at a time for one that is, passing over tags.
   */
  private follow(chunk: Uint8Array): void {
    const b = Buffer.concat([this.walk, chunk]);
    let p = Math.min(this.skip, b.length);
    this.skip -= p;
    while (p + 4 <= b.length) {
      const tag = id3Length(b, p);
      if (tag < 0) break;
      if (tag > 0) {
        if (p + tag > b.length) {
          this.skip = p + tag - b.length;
          p = b.length;
          break;
        }
        p += tag;
        continue;
      }
      const length = followedFrame(b, p);
      if (length < 0) break; // its follower not read yet
      if (length > 0) {
        const rate = RATES[(b[p + 1] >> 3) & 3][(b[p + 2] >> 2) & 3];
        if (this.rate !== 0 && rate !== this.rate) {
          throw new Error(`the stream changes sample rate midway (${this.rate} Hz → ${rate} Hz: files joined end to end?); not supported`);
        }
        this.rate = rate;
        p += length;
        continue;
      }
      p++;
    }
    this.walk = b.slice(p);
  }

  private search(): void {
    const b = this.bytes;
    let p = this.scanFrom;
    // ID3v2 tags, one or more (at the start; elsewhere the scan goes on where it stopped).
    for (let tag = id3Length(b, p); tag !== 0; tag = id3Length(b, p)) {
      if (tag < 0) return; // its header is not all here yet
      p += tag;
    }
    for (; p + 4 <= b.length; p++) {
      const length = followedFrame(b, p);
      if (length < 0) break; // the next header is not read yet
      if (length > 0) {
        this.first = p;
        this.searching = false;
        return;
      }
    }
    this.scanFrom = p;
    if (b.length >= SEARCH_LIMIT) this.searching = false; // none: nothing is said of the stream
  }

  /** Whether the first frame's channel mode is single channel. */
  mono(): boolean {
    return this.first >= 0 && this.bytes[this.first + 3] >> 6 === 3;
  }

  /** The samples the first frame's Xing/Info and LAME headers declare (frames × samples per frame − delay − padding). */
  declaredSamples(): number | undefined {
    const b = this.bytes;
    const p = this.first;
    if (p < 0) return undefined;
    const version = (b[p + 1] >> 3) & 3; // 3: MPEG-1
    const layer = (b[p + 1] >> 1) & 3; // 1: Layer III
    if (layer !== 1) return undefined;
    const mono = b[p + 3] >> 6 === 3;
    const side = version === 3 ? (mono ? 17 : 32) : mono ? 9 : 17;
    const x = p + 4 + side;
    const tag = String.fromCharCode(...b.subarray(x, x + 4));
    if (tag !== 'Xing' && tag !== 'Info') return undefined;
    const flags = (b[x + 4] << 24) | (b[x + 5] << 16) | (b[x + 6] << 8) | b[x + 7];
    if (!(flags & 1)) return undefined;
    const frames = ((b[x + 8] << 24) >>> 0) + (b[x + 9] << 16) + (b[x + 10] << 8) + b[x + 11];
    let q = x + 12 + (flags & 2 ? 4 : 0) + (flags & 4 ? 100 : 0) + (flags & 8 ? 4 : 0);
    if (String.fromCharCode(...b.subarray(q, q + 4)) !== 'LAME' && String.fromCharCode(...b.subarray(q, q + 4)) !== 'Lavc') return undefined;
    q += 21;
    if (q + 3 > b.length) return undefined;
    const delay = (b[q] << 4) | (b[q + 1] >> 4);
    const padding = ((b[q + 1] & 0x0f) << 8) | b[q + 2];
    return frames * (version === 3 ? 1152 : 576) - delay - padding;
  }
}
