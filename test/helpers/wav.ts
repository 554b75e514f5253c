// Minimal WAV reading and writing for tests, independent of voxprep's own I/O code.
import fs from 'node:fs';
import path from 'node:path';

export interface Wav {
  rate: number;
  channels: number;
  format: number; // 1 PCM, 3 float
  bits: number;
  /** Interleaved samples scaled to [-1, 1). */
  samples: Float64Array;
}

export function readWav(file: string): Wav {
  const buf = fs.readFileSync(file);
  if (buf.toString('ascii', 0, 4) !== 'RIFF' || buf.toString('ascii', 8, 12) !== 'WAVE') throw new Error(`${file}: not WAV`);
  let pos = 12;
  let fmt: { format: number; channels: number; rate: number; bits: number } | undefined;
  while (pos + 8 <= buf.length) {
    const id = buf.toString('ascii', pos, pos + 4);
    const size = buf.readUInt32LE(pos + 4);
    const body = pos + 8;
    if (id === 'fmt ') {
      let format = buf.readUInt16LE(body);
      if (format === 0xfffe) format = buf.readUInt16LE(body + 24);
      fmt = { format, channels: buf.readUInt16LE(body + 2), rate: buf.readUInt32LE(body + 4), bits: buf.readUInt16LE(body + 14) };
    } else if (id === 'data') {
      if (!fmt) throw new Error(`${file}: data before fmt`);
      const bytes = fmt.bits / 8;
      const n = Math.floor(Math.min(size, buf.length - body) / bytes);
      const samples = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const at = body + i * bytes;
        if (fmt.format === 3) samples[i] = bytes === 4 ? buf.readFloatLE(at) : buf.readDoubleLE(at);
        else if (bytes === 1) samples[i] = (buf[at] - 128) / 128;
        else if (bytes === 2) samples[i] = buf.readInt16LE(at) / 32768;
        else if (bytes === 3) samples[i] = buf.readIntLE(at, 3) / 8388608;
        else samples[i] = buf.readInt32LE(at) / 2147483648;
      }
      return { ...fmt, samples };
    }
    pos = body + size + (size & 1);
  }
  throw new Error(`${file}: no data chunk`);
}

/** Writes interleaved samples as PCM (8/16/24/32-bit) or IEEE float (32/64-bit). */
export function writeWav(
  file: string,
  samples: ArrayLike<number>,
  rate: number,
  opts: { channels?: number; bits?: number; float?: boolean; extensible?: boolean } = {},
): void {
  const channels = opts.channels ?? 1;
  const bits = opts.bits ?? 16;
  const float = opts.float ?? false;
  const bytes = bits / 8;
  const fmtSize = opts.extensible ? 40 : 16;
  const data = Buffer.alloc(samples.length * bytes);
  for (let i = 0; i < samples.length; i++) {
    const v = samples[i];
    const at = i * bytes;
    if (float) {
      if (bytes === 4) data.writeFloatLE(v, at);
      else data.writeDoubleLE(v, at);
    } else {
      const full = 2 ** (bits - 1);
      const q = Math.max(-full, Math.min(full - 1, Math.round(v * full)));
      if (bytes === 1) data[at] = q + 128;
      else data.writeIntLE(q, at, bytes);
    }
  }
  const header = Buffer.alloc(12 + 8 + fmtSize + 8);
  header.write('RIFF', 0, 'ascii');
  header.writeUInt32LE(header.length - 8 + data.length, 4);
  header.write('WAVE', 8, 'ascii');
  header.write('fmt ', 12, 'ascii');
  header.writeUInt32LE(fmtSize, 16);
  const tag = float ? 3 : 1;
  header.writeUInt16LE(opts.extensible ? 0xfffe : tag, 20);
  header.writeUInt16LE(channels, 22);
  header.writeUInt32LE(rate, 24);
  header.writeUInt32LE(rate * channels * bytes, 28);
  header.writeUInt16LE(channels * bytes, 32);
  header.writeUInt16LE(bits, 34);
  if (opts.extensible) {
    header.writeUInt16LE(22, 36); // cbSize
    header.writeUInt16LE(bits, 38); // valid bits
    header.writeUInt32LE(0, 40); // channel mask
    header.writeUInt16LE(tag, 44); // sub-format GUID starts with the format tag
    Buffer.from('000000001000800000aa00389b71', 'hex').copy(header, 46);
  }
  header.write('data', 12 + 8 + fmtSize, 'ascii');
  header.writeUInt32LE(data.length, 12 + 8 + fmtSize + 4);
  fs.writeFileSync(file, Buffer.concat([header, data]));
}

/** A deterministic speech-like test signal: voiced bursts with harmonics, pauses, faint noise. */
export function speechLike(rate: number, seconds: number, seed = 1): Float64Array {
  const n = Math.round(rate * seconds);
  const x = new Float64Array(n);
  let s = seed >>> 0;
  const rand = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
  let t = 0;
  while (t < n) {
    const burst = Math.round(rate * (0.4 + rand() * 1.6));
    const pause = Math.round(rate * (0.1 + rand() * 0.9));
    const f0 = 100 + rand() * 150;
    for (let i = 0; i < burst && t + i < n; i++) {
      const env = Math.sin((Math.PI * i) / burst);
      let v = 0;
      for (let h = 1; h <= 8; h++) v += Math.sin((2 * Math.PI * f0 * h * i) / rate) / h;
      x[t + i] = 0.25 * env * v;
    }
    t += burst + pause;
  }
  for (let i = 0; i < n; i++) x[i] += (rand() - 0.5) * 2e-4;
  return x;
}

/** Writes a mono (or channel-replicated) WAV at `relative` in `dataset`, making parent folders. */
export function putWav(
  dataset: string,
  relative: string,
  mono: Float64Array,
  rate: number,
  opts: { channels?: number; bits?: number; float?: boolean; extensible?: boolean } = {},
): void {
  const file = path.join(dataset, relative);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const ch = opts.channels ?? 1;
  const inter = new Float64Array(mono.length * ch);
  for (let i = 0; i < mono.length; i++) for (let c = 0; c < ch; c++) inter[i * ch + c] = mono[i];
  writeWav(file, inter, rate, opts);
}
