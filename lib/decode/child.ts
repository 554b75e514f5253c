// A decoder process: decodes one FLAC, MP3 or Ogg Vorbis file with the npm WebAssembly
// decoders and writes its audio to standard output as a 32-bit float WAV stream of unknown
// length (sizes 0xFFFFFFFF), all channels interleaved. The native engine runs it, reads the
// stream, and mixes to mono itself. Problems that do not stop decoding go to standard error
// as "warning: …" lines; a failure is one "error: …" line and exit status 1.
//
// Usage: node child.js FILE
import fs from 'node:fs';
import { checkSameFormat, decoderFor, type Decoded } from './formats.js';
import { decodingExtension } from '../walk.js';

const READ_BYTES = 1 << 18;

function header(rate: number, channels: number): Buffer {
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'ascii');
  h.writeUInt32LE(0xffffffff, 4);
  h.write('WAVEfmt ', 8, 'ascii');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(3, 20);
  h.writeUInt16LE(channels, 22);
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * channels * 4, 28);
  h.writeUInt16LE(channels * 4, 32);
  h.writeUInt16LE(32, 34);
  h.write('data', 36, 'ascii');
  h.writeUInt32LE(0xffffffff, 40);
  return h;
}

function writeAll(fd: number, buf: Buffer): void {
  for (let off = 0; off < buf.length; ) {
    try {
      off += fs.writeSync(fd, buf, off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
    }
  }
}

async function main(file: string): Promise<void> {
  const decoder = await decoderFor(decodingExtension(file));
  let format: { rate: number; channels: number } | undefined;
  let frames = 0;
  const emit = (d: Decoded) => {
    for (const e of d.errors) process.stderr.write(`warning: ${e}\n`);
    if (d.frames === 0) return;
    if (!format) {
      format = { rate: d.rate, channels: d.channels.length };
      writeAll(1, header(d.rate, d.channels.length));
    } else {
      checkSameFormat(format, { rate: d.rate, channels: d.channels.length });
    }
    const ch = d.channels.length;
    const out = Buffer.alloc(d.frames * ch * 4);
    for (let i = 0; i < d.frames; i++) {
      for (let c = 0; c < ch; c++) out.writeFloatLE(d.channels[c][i] * d.scale, (i * ch + c) * 4);
    }
    writeAll(1, out);
    frames += d.frames;
  };
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(READ_BYTES);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, READ_BYTES, null);
      if (n === 0) break;
      emit(await decoder.decode(new Uint8Array(buf.buffer, buf.byteOffset, n).slice()));
    }
    emit(await decoder.flush());
  } finally {
    fs.closeSync(fd);
    decoder.free();
  }
  if (frames === 0) throw new Error(`no audio could be decoded (not a valid ${decoder.name} file?)`);
  const mismatch = decoder.check?.(frames);
  if (mismatch) process.stderr.write(`warning: ${mismatch}\n`);
}

// A Ctrl-C on a terminal (or the terminal closing: SIGHUP) signals the whole process group,
// this decoder with it; but the run decides what becomes of the files in flight (they finish
// on the first signal), and ends this process itself (SIGKILL) when it abandons one. If the
// run is gone, the next write fails (EPIPE) and this process exits.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => {});

const file = process.argv[2];
main(file).then(
  () => process.exit(0),
  (err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`error: ${message.split('\n')[0]}\n`);
    process.exit(1);
  },
);
