// The header of the plain WAV files the scripts make (the demo's dataset, the bench corpus,
// the memory checks' inputs), and the chunks and format of the WAV files they read.

/** The 44-byte header of a plain WAV file (PCM, or float with `float`) whose data is `dataBytes` long. */
export function wavHeader(dataBytes, { rate, channels, bits, float = false }) {
  const bytes = bits / 8;
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'ascii');
  h.writeUInt32LE(36 + dataBytes, 4);
  h.write('WAVEfmt ', 8, 'ascii');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(float ? 3 : 1, 20);
  h.writeUInt16LE(channels, 22);
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * channels * bytes, 28);
  h.writeUInt16LE(channels * bytes, 32);
  h.writeUInt16LE(bits, 34);
  h.write('data', 36, 'ascii');
  h.writeUInt32LE(dataBytes, 40);
  return h;
}

/** The chunks of a RIFF/WAVE file's bytes, in order: each one's id, where its body starts and the size it states. */
export function* wavChunks(bytes) {
  for (let at = 12; at + 8 <= bytes.length; ) {
    const size = bytes.readUInt32LE(at + 4);
    yield { id: bytes.toString('ascii', at, at + 4), body: at + 8, size };
    at += 8 + size + (size & 1);
  }
}

/**
 * A WAV file's format and data length from its bytes ({ tag, channels, rate, bits, dataBytes },
 * the data as far as the bytes go), or undefined where a fmt chunk and a data chunk after it
 * are not both there.
 */
export function wavFormat(bytes) {
  let fmt;
  for (const c of wavChunks(bytes)) {
    if (c.id === 'fmt ') {
      fmt = { tag: bytes.readUInt16LE(c.body), channels: bytes.readUInt16LE(c.body + 2), rate: bytes.readUInt32LE(c.body + 4), bits: bytes.readUInt16LE(c.body + 14) };
    }
    if (c.id === 'data' && fmt) return { ...fmt, dataBytes: Math.min(c.size, bytes.length - c.body) };
  }
  return undefined;
}
