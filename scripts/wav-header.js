// The header of the plain WAV files the scripts make (the demo's dataset, the bench corpus,
// the memory checks' inputs).

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
