// ID3v2 tags, which taggers put in front of MP3 and FLAC audio (and between joined MP3s):
// "ID3", version (2 bytes), flags (0x10: a 10-byte footer follows), and the size of what
// follows the header as four 7-bit bytes. (Layout from the ID3v2.4 structure.)

/** The whole length of the ID3v2 tag at `p`, or 0 when none starts there (-1: its header is not all in `b` yet). */
export function id3Length(b: Uint8Array, p: number): number {
  if (!(p + 3 <= b.length && b[p] === 0x49 && b[p + 1] === 0x44 && b[p + 2] === 0x33)) return 0;
  if (p + 10 > b.length) return -1;
  const footer = b[p + 5] & 0x10 ? 10 : 0;
  return 10 + footer + ((b[p + 6] & 0x7f) << 21) + ((b[p + 7] & 0x7f) << 14) + ((b[p + 8] & 0x7f) << 7) + (b[p + 9] & 0x7f);
}
