// Decoding beyond WAV: the decoder processes (npm WebAssembly decoders for FLAC, MP3 and
// Ogg Vorbis; ffmpeg for other formats) and what happens without ffmpeg. The golden parity
// suite covers the decoders' accuracy; this one covers the plumbing and the edge cases.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findFfmpeg } from '../lib/decode/index.js';
import { readWav, speechLike, writeWav } from './helpers/wav.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const GOLDEN = path.resolve(ROOT, '../shared/golden/dataset');
let tmp: string;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'voxprep-decoders-'));
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

function cli(args: string[], env: NodeJS.ProcessEnv = process.env) {
  return spawnSync(process.execPath, [path.join(ROOT, 'bin/voxprep.js'), 'preprocess', ...args], { encoding: 'utf8', env });
}

/** A float WAV stream like the ones decoders write: sizes 0xFFFFFFFF, read to the end. */
function streamWav(samples: Float64Array, rate: number): Buffer {
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'ascii');
  h.writeUInt32LE(0xffffffff, 4);
  h.write('WAVEfmt ', 8, 'ascii');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(3, 20);
  h.writeUInt16LE(1, 22);
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * 4, 28);
  h.writeUInt16LE(4, 32);
  h.writeUInt16LE(32, 34);
  h.write('data', 36, 'ascii');
  h.writeUInt32LE(0xffffffff, 40);
  const d = Buffer.alloc(samples.length * 4);
  samples.forEach((v, i) => d.writeFloatLE(v, i * 4));
  return Buffer.concat([h, d]);
}

/** An Ogg stream's first page, carrying the start of a packet (its codec's identification). */
function oggFirstPage(packet: string): Buffer {
  const body = Buffer.concat([Buffer.from(packet, 'latin1'), Buffer.alloc(11)]);
  const head = Buffer.alloc(28);
  head.write('OggS', 0, 'latin1');
  head[5] = 0x02; // the stream's first page
  head.writeUInt32LE(1, 14); // serial
  head[26] = 1; // one segment …
  head[27] = body.length; // … of the packet's length
  return Buffer.concat([head, body]);
}

/** The start of a FLAC file: "fLaC" and a last STREAMINFO block (44.1 kHz mono, `bits` per sample, 4096-sample blocks). */
function flacHead(bits: number): Buffer {
  const info = Buffer.alloc(34);
  info.writeUInt16BE(4096, 0);
  info.writeUInt16BE(4096, 2);
  // 20 bits of rate, 3 of channels − 1, 5 of bits − 1, 36 of total samples (0: unknown).
  info.writeUInt32BE(((44100 << 12) | (0 << 9) | ((bits - 1) << 4)) >>> 0, 10);
  return Buffer.concat([Buffer.from('fLaC', 'latin1'), Buffer.from([0x80, 0, 0, 34]), info]);
}

describe('decoder processes', () => {
  it('decodes FLAC, MP3 and Ogg Vorbis files in a dataset (exit 0, slices for each)', () => {
    const ds = path.join(tmp, 'ds');
    fs.mkdirSync(ds);
    for (const f of ['1/echo_48k.flac', '2/foxtrot_441.mp3', '2/golf_48k.ogg']) fs.copyFileSync(path.join(GOLDEN, f), path.join(ds, path.basename(f)));
    // The FLAC again behind an ID3v2 tag (taggers put one in front; libFLAC skips it).
    const tag = Buffer.concat([Buffer.from('ID3\x04\x00\x00\x00\x00\x08\x00', 'latin1'), Buffer.alloc(1024, 0x41)]);
    fs.writeFileSync(path.join(ds, 'tagged.flac'), Buffer.concat([tag, fs.readFileSync(path.join(GOLDEN, '1/echo_48k.flac'))]));
    // The Ogg file again as .oga, Ogg audio's other name (voice messages): it was ignored.
    fs.copyFileSync(path.join(GOLDEN, '2/golf_48k.ogg'), path.join(ds, 'voice.OGA'));
    const out = path.join(tmp, 'out');
    const r = cli([ds, '-o', out, '--cut', 'skip']);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(fs.readdirSync(path.join(out, 'sliced_audios')).sort()).toEqual(['0_0_0.wav', '0_1_0.wav', '0_2_0.wav', '0_3_0.wav', '0_4_0.wav']);
    // echo_48k.flac is idx0 0, tagged.flac 3; golf_48k.ogg 2, voice.OGA 4.
    const slice = (idx0: number) => fs.readFileSync(path.join(out, 'sliced_audios', `0_${idx0}_0.wav`));
    expect(slice(3).equals(slice(0))).toBe(true);
    expect(slice(4).equals(slice(2))).toBe(true);
  });

  it('decodes FLAC frames whose headers take the sample rate or size from STREAMINFO (code 0), as the same file coded in full', () => {
    // The golden FLAC with every frame header's rate code, then also its size code, set to 0
    // ("as STREAMINFO says") and the frame's CRC-8 and CRC-16 made again. The npm decoder,
    // fed frames alone, failed every such frame.
    const crc8 = (b: Uint8Array) => {
      let c = 0;
      for (const x of b) {
        c ^= x;
        for (let k = 0; k < 8; k++) c = c & 0x80 ? ((c << 1) ^ 0x07) & 0xff : (c << 1) & 0xff;
      }
      return c;
    };
    const crc16 = (b: Uint8Array) => {
      let c = 0;
      for (const x of b) {
        c ^= x << 8;
        for (let k = 0; k < 8; k++) c = c & 0x8000 ? ((c << 1) ^ 0x8005) & 0xffff : (c << 1) & 0xffff;
      }
      return c;
    };
    const original = fs.readFileSync(path.join(GOLDEN, '1/echo_48k.flac'));
    // The metadata blocks, then frames: each found by its sync code, header CRC-8 and CRC-16.
    let at = 4;
    for (let last = false; !last; at += 4 + original.readUIntBE(at + 1, 3)) last = (original[at] & 0x80) !== 0;
    const headerLength = (f: Uint8Array) => {
      let p = 4 + (f[4] < 0x80 ? 1 : Math.clz32(~(f[4] << 24)));
      p += [0, 0, 0, 0, 0, 0, 1, 2][f[2] >> 4] ?? 0;
      p += (f[2] & 15) === 12 ? 1 : (f[2] & 15) >= 13 ? 2 : 0;
      return p;
    };
    const starts: number[] = [];
    for (let p = at; p < original.length - 6; p++) {
      if (original[p] === 0xff && (original[p + 1] & 0xfe) === 0xf8 && crc8(original.subarray(p, p + headerLength(original.subarray(p)))) === original[p + headerLength(original.subarray(p))]) starts.push(p);
    }
    const frames: Buffer[] = [];
    for (let i = 0, from = at; from < original.length; i++) {
      const to = starts.find((q) => q > from && crc16(original.subarray(from, q - 2)) === original.readUInt16BE(q - 2)) ?? original.length;
      frames.push(Buffer.from(original.subarray(from, to)));
      from = to;
    }
    expect(frames.length).toBeGreaterThan(50);
    expect(frames.reduce((n, f) => n + f.length, at)).toBe(original.length);
    const recoded = (size: boolean) =>
      Buffer.concat([
        original.subarray(0, at),
        ...frames.map((f) => {
          const g = Buffer.from(f);
          g[2] &= 0xf0; // sample rate: from STREAMINFO (48 kHz had its own code, with no bytes after)
          if (size) g[3] &= 0xf1; // sample size: from STREAMINFO
          const h = headerLength(g);
          g[h] = crc8(g.subarray(0, h));
          g.writeUInt16BE(crc16(g.subarray(0, g.length - 2)), g.length - 2);
          return g;
        }),
      ]);
    const ds = path.join(tmp, 'ds');
    fs.mkdirSync(ds);
    fs.writeFileSync(path.join(ds, 'a.flac'), original);
    fs.writeFileSync(path.join(ds, 'b_rate0.flac'), recoded(false));
    fs.writeFileSync(path.join(ds, 'c_rate0_size0.flac'), recoded(true));
    const out = path.join(tmp, 'out');
    const r = cli([ds, '-o', out, '--cut', 'skip', '--threads', '1']);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    for (const dir of ['sliced_audios', 'sliced_audios_16k']) {
      const a = fs.readFileSync(path.join(out, dir, '0_0_0.wav'));
      for (const name of ['0_1_0.wav', '0_2_0.wav']) expect(fs.readFileSync(path.join(out, dir, name)).equals(a), `${dir}/${name}`).toBe(true);
    }
  });

  it('lists formats that need ffmpeg as skipped, with the reason, when ffmpeg is not on PATH', () => {
    const ds = path.join(tmp, 'ds');
    fs.mkdirSync(ds);
    writeWav(path.join(ds, 'good.wav'), speechLike(16000, 2), 16000);
    fs.writeFileSync(path.join(ds, 'talk.m4a'), Buffer.alloc(1000));
    fs.writeFileSync(path.join(ds, 'note.ogg'), oggFirstPage('OpusHead'));
    // A video's Opus sound, its first page after the Theora stream's.
    fs.writeFileSync(path.join(ds, 'video.ogg'), Buffer.concat([oggFirstPage('\x80theora'), oggFirstPage('OpusHead')]));
    // A 12-bit FLAC (its STREAMINFO says so): the npm decoder cannot give such samples, ffmpeg can.
    fs.writeFileSync(path.join(ds, 'twelve.flac'), flacHead(12));
    const emptyBin = path.join(tmp, 'bin');
    fs.mkdirSync(emptyBin);
    const out = path.join(tmp, 'out');
    const r = cli([ds, '-o', out], { ...process.env, PATH: emptyBin });
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/skipped: talk\.m4a: \.m4a files need ffmpeg on PATH/);
    // An .ogg that holds Opus, not Vorbis: ffmpeg's too.
    expect(r.stdout).toMatch(/skipped: note\.ogg: Ogg Opus files need ffmpeg on PATH/);
    expect(r.stdout).toMatch(/skipped: video\.ogg: Ogg Opus files need ffmpeg on PATH/);
    expect(r.stdout).toMatch(/failed: twelve\.flac: unsupported sample size: 12 bits in a FLAC file/);
    expect(fs.readdirSync(path.join(out, 'sliced_audios')).every((f) => f.startsWith('0_0_'))).toBe(true);
  });

  it('reads what an ffmpeg on PATH writes (a stand-in that replays a WAV stream), mixing nothing else in', () => {
    const ds = path.join(tmp, 'ds');
    fs.mkdirSync(ds);
    const x = speechLike(24000, 1.5, 4);
    // The ".opus" file holds the stream the stand-in "decodes" by copying it to stdout.
    fs.writeFileSync(path.join(ds, 'voice.opus'), streamWav(x, 24000));
    const bin = path.join(tmp, 'bin');
    fs.mkdirSync(bin);
    const standIn = path.join(bin, 'ffmpeg');
    fs.writeFileSync(standIn, '#!/bin/sh\nwhile [ "$1" != "-i" ]; do shift; done\nexec cat "$2"\n');
    fs.chmodSync(standIn, 0o755);
    const out = path.join(tmp, 'out');
    const r = cli([ds, '-o', out, '--cut', 'skip', '--no-highpass', '--sr', '24000'], { ...process.env, PATH: `${bin}:${process.env.PATH}` });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const y = readWav(path.join(out, 'sliced_audios', '0_0_0.wav')).samples;
    expect(y.length).toBe(x.length);
    for (let i = 0; i < x.length; i++) expect(Math.abs(y[i] - Math.fround(x[i]))).toBeLessThan(1e-9);
  });

  it('a WAV or FLAC in an encoding its reader does not take (12-bit, RIFX) goes to ffmpeg when there is one, else fails saying why', () => {
    const ds = path.join(tmp, 'ds');
    fs.mkdirSync(ds);
    // 12-bit samples in 16-bit containers, as some recorders write them.
    const twelve = Buffer.alloc(44 + 2 * 8000);
    twelve.write('RIFF', 0, 'ascii');
    twelve.writeUInt32LE(36 + 2 * 8000, 4);
    twelve.write('WAVEfmt ', 8, 'ascii');
    twelve.writeUInt32LE(16, 16);
    twelve.writeUInt16LE(1, 20);
    twelve.writeUInt16LE(1, 22);
    twelve.writeUInt32LE(16000, 24);
    twelve.writeUInt32LE(32000, 28);
    twelve.writeUInt16LE(2, 32);
    twelve.writeUInt16LE(12, 34);
    twelve.write('data', 36, 'ascii');
    twelve.writeUInt32LE(2 * 8000, 40);
    fs.writeFileSync(path.join(ds, 'twelve.wav'), twelve);
    // And a 12-bit FLAC (its STREAMINFO is all the decoder process reads of it before it refuses),
    // and a big-endian WAV (RIFX: its first 12 bytes are all the reader reads of it).
    fs.writeFileSync(path.join(ds, 'twelve.flac'), flacHead(12));
    fs.writeFileSync(path.join(ds, 'rifx.wav'), Buffer.concat([Buffer.from('RIFX\x00\x00\x10\x24WAVE', 'latin1'), Buffer.alloc(64)]));
    const x = speechLike(16000, 1.5, 6);
    writeWav(path.join(ds, 'plain.wav'), x, 16000, { float: true, bits: 32 });
    // Without ffmpeg: failed, with the reader's reason.
    const emptyBin = path.join(tmp, 'empty-bin');
    fs.mkdirSync(emptyBin);
    const without = cli([ds, '-o', path.join(tmp, 'out-without'), '--cut', 'skip'], { ...process.env, PATH: emptyBin });
    expect(without.stdout).toMatch(/failed: twelve\.wav: unsupported sample size: 12 bits for format tag 1/);
    expect(without.stdout).toMatch(/failed: twelve\.flac: unsupported sample size: 12 bits in a FLAC file/);
    expect(without.stdout).toMatch(/failed: rifx\.wav: unsupported WAV encoding \(big-endian RIFX\)/);
    // With a stand-in ffmpeg that "decodes" it into plain.wav's stream: processed as that, in a
    // second batch after the first, its encoding not claimed to be the stream's.
    const bin = path.join(tmp, 'bin');
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, 'ffmpeg'), `#!/bin/sh\nexec cat '${path.join(ds, 'plain.wav')}'\n`);
    fs.chmodSync(path.join(bin, 'ffmpeg'), 0o755);
    const out = path.join(tmp, 'out');
    const r = cli([ds, '-o', out, '--cut', 'skip', '--json', '--quiet'], { ...process.env, PATH: `${bin}:${process.env.PATH}` });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.files.map((f: { path: string; status: string; source: { encoding: string | null } }) => [f.path, f.status, f.source.encoding])).toEqual([
      ['plain.wav', 'ok', 'float32'],
      ['rifx.wav', 'ok', null],
      ['twelve.flac', 'ok', null],
      ['twelve.wav', 'ok', null],
    ]);
    for (const twin of ['0_1_0.wav', '0_2_0.wav', '0_3_0.wav']) {
      expect(fs.readFileSync(path.join(out, 'sliced_audios', twin)).equals(fs.readFileSync(path.join(out, 'sliced_audios', '0_0_0.wav'))), twin).toBe(true);
    }
  });

  it('decodes an .ogg holding Opus through ffmpeg (here a stand-in replaying a WAV stream)', () => {
    const ds = path.join(tmp, 'ds');
    fs.mkdirSync(ds);
    fs.writeFileSync(path.join(ds, 'note.ogg'), oggFirstPage('OpusHead'));
    const x = speechLike(24000, 1.5, 5);
    const stream = path.join(tmp, 'stream.wav');
    fs.writeFileSync(stream, streamWav(x, 24000));
    const bin = path.join(tmp, 'bin');
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, 'ffmpeg'), `#!/bin/sh\nexec cat '${stream}'\n`);
    fs.chmodSync(path.join(bin, 'ffmpeg'), 0o755);
    const out = path.join(tmp, 'out');
    const r = cli([ds, '-o', out, '--cut', 'skip', '--no-highpass', '--sr', '24000'], { ...process.env, PATH: `${bin}:${process.env.PATH}` });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(readWav(path.join(out, 'sliced_audios', '0_0_0.wav')).samples.length).toBe(x.length);
  });

  it('reports a decoder that fails with its own message: the cause, not a hint printed after it', () => {
    const ds = path.join(tmp, 'ds');
    fs.mkdirSync(ds);
    writeWav(path.join(ds, 'good.wav'), speechLike(16000, 2), 16000);
    fs.writeFileSync(path.join(ds, 'broken.aiff'), 'not audio');
    const bin = path.join(tmp, 'bin');
    fs.mkdirSync(bin);
    const standIn = path.join(bin, 'ffmpeg');
    fs.writeFileSync(
      standIn,
      '#!/bin/sh\necho "broken.aiff: Invalid data found when processing input" >&2\necho "To ignore this, add a trailing \'?\' to the map." >&2\nexit 1\n',
    );
    fs.chmodSync(standIn, 0o755);
    const r = cli([ds, '-o', path.join(tmp, 'out')], { ...process.env, PATH: `${bin}:${process.env.PATH}` });
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/failed: broken\.aiff: broken\.aiff: Invalid data found when processing input$/m);
  });

  const ffmpeg = findFfmpeg();
  it.skipIf(!ffmpeg)('decodes AIFF through the real ffmpeg exactly as the same audio in WAV', () => {
    const ds = path.join(tmp, 'ds');
    fs.mkdirSync(ds);
    const x = speechLike(44100, 3, 8);
    writeWav(path.join(ds, 'a.wav'), x, 44100);
    const conv = spawnSync(ffmpeg!, ['-v', 'error', '-i', path.join(ds, 'a.wav'), path.join(ds, 'b.aiff')]);
    expect(conv.status).toBe(0);
    const out = path.join(tmp, 'out');
    const r = cli([ds, '-o', out]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const names = fs.readdirSync(path.join(out, 'sliced_audios'));
    const fromWav = names.filter((n) => n.startsWith('0_0_')).sort();
    const fromAiff = names.filter((n) => n.startsWith('0_1_')).sort();
    expect(fromAiff.length).toBe(fromWav.length);
    for (const n of fromWav) {
      const twin = n.replace(/^0_0_/, '0_1_');
      expect(fs.readFileSync(path.join(out, 'sliced_audios', twin)).equals(fs.readFileSync(path.join(out, 'sliced_audios', n)))).toBe(true);
    }
  });
  it.skipIf(!ffmpeg)('decodes every format it hands to ffmpeg (M4A, AAC, Opus, WMA, WebM, AIF) at its rate, length and level, both channels mixed', () => {
    const ds = path.join(tmp, 'ds');
    fs.mkdirSync(ds);
    // Speech on the left, silence on the right: the mono mix is 6 dB below the left channel,
    // so a decode that kept the left channel alone shows in the level.
    const speech = speechLike(44100, 3, 41);
    const stereo = new Float64Array(speech.length * 2);
    speech.forEach((v, i) => (stereo[2 * i] = v));
    writeWav(path.join(ds, 'a.wav'), stereo, 44100, { channels: 2 });
    // Opus decodes at 48 kHz whatever went in; the others keep 44.1 kHz. A build of ffmpeg
    // without one of the lossy encoders (Debian's has them all) leaves that format out, saying
    // so; AIF, plain PCM, is always made.
    const all: [string, number][] = [['m4a', 44100], ['aac', 44100], ['opus', 48000], ['wma', 44100], ['webm', 48000], ['aif', 44100]];
    const formats = all.filter(([ext]) => {
      const made = spawnSync(ffmpeg!, ['-nostdin', '-loglevel', 'error', '-i', path.join(ds, 'a.wav'), '-b:a', '192k', path.join(ds, `b.${ext}`)]);
      if (made.status !== 0) console.log(`decoders.test: this ffmpeg cannot write .${ext} (${String(made.stderr).trim()}); that format is left out`);
      return made.status === 0;
    });
    expect(formats.map(([ext]) => ext)).toContain('aif');
    const r = cli([ds, '-o', path.join(tmp, 'out'), '--json', '--quiet']);
    expect(r.status, r.stderr).toBe(0);
    type Entry = { path: string; status: string; seconds: number; rmsDbfs: number; slices: number; source: { format: string; rate: number; channels: number } };
    const files: Entry[] = JSON.parse(r.stdout).files;
    const wav = files.find((f) => f.path === 'a.wav')!;
    expect(wav.source.channels).toBe(2);
    for (const [ext, rate] of formats) {
      const f = files.find((e) => e.path === `b.${ext}`)!;
      expect(f.status, ext).toBe('ok');
      expect(f.source, ext).toMatchObject({ format: ext, rate, channels: 2 });
      // Lossy codecs may keep some of their encoder's priming and padding (AAC: up to two
      // frames of 1 024 samples, 46 ms); a rate taken wrongly would be 0.25 s off or more.
      expect(Math.abs(f.seconds - 3), `${ext}: ${f.seconds} s`).toBeLessThan(0.1);
      expect(Math.abs(f.rmsDbfs - wav.rmsDbfs), `${ext}: ${f.rmsDbfs} dBFS against ${wav.rmsDbfs}`).toBeLessThan(0.5);
      expect(f.slices, ext).toBeGreaterThan(0);
    }
  });
  it.skipIf(!ffmpeg)('reports a mono MP3 as one channel (the decoder gives it as two equal ones), with the same outputs', () => {
    const ds = path.join(tmp, 'ds');
    fs.mkdirSync(ds);
    writeWav(path.join(ds, 'a.wav'), speechLike(44100, 3, 9), 44100);
    for (const [name, channels] of [['mono.mp3', '1'], ['stereo.mp3', '2']]) {
      const made = spawnSync(ffmpeg!, ['-nostdin', '-loglevel', 'error', '-i', path.join(ds, 'a.wav'), '-ac', channels, path.join(tmp, name)]);
      expect(made.status, String(made.stderr)).toBe(0);
    }
    fs.rmSync(path.join(ds, 'a.wav'));
    fs.renameSync(path.join(tmp, 'mono.mp3'), path.join(ds, 'mono.mp3'));
    fs.renameSync(path.join(tmp, 'stereo.mp3'), path.join(ds, 'stereo.mp3'));
    const out = path.join(tmp, 'out');
    const r = cli([ds, '-o', out, '--json', '--quiet']);
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.files.map((f: { path: string; source: { channels: number } }) => [f.path, f.source.channels])).toEqual([
      ['mono.mp3', 1],
      ['stereo.mp3', 2],
    ]);
  });
  it.skipIf(!ffmpeg)('a mono MP3 with a stereo one joined to its end: the stereo part mixed to mono, not a channel of it lost', () => {
    const ds = path.join(tmp, 'ds');
    fs.mkdirSync(ds);
    // Left and right unlike each other: the stereo part's mix is not either channel.
    const left = speechLike(44100, 2, 21);
    const right = speechLike(44100, 2, 22);
    const stereo = new Float64Array(left.length * 2);
    left.forEach((v, i) => {
      stereo[2 * i] = v;
      stereo[2 * i + 1] = right[i];
    });
    writeWav(path.join(tmp, 'm.wav'), speechLike(44100, 1.5, 23), 44100);
    writeWav(path.join(tmp, 's.wav'), stereo, 44100, { channels: 2 });
    for (const [src, name, channels] of [['m.wav', 'm.mp3', '1'], ['s.wav', 's.mp3', '2']]) {
      const made = spawnSync(ffmpeg!, ['-nostdin', '-loglevel', 'error', '-i', path.join(tmp, src), '-ac', channels, '-write_xing', '0', '-id3v2_version', '0', path.join(tmp, name)]);
      expect(made.status, String(made.stderr)).toBe(0);
    }
    fs.copyFileSync(path.join(tmp, 's.mp3'), path.join(ds, 'b-stereo.mp3'));
    fs.writeFileSync(path.join(ds, 'a-joined.mp3'), Buffer.concat([fs.readFileSync(path.join(tmp, 'm.mp3')), fs.readFileSync(path.join(tmp, 's.mp3'))]));
    const out = path.join(tmp, 'out');
    const r = cli([ds, '-o', out, '--cut', 'skip', '--no-highpass', '--sr', '44100']);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/warning: a-joined\.mp3: stereo frames follow mono ones \(files joined end to end\?\): mixed to mono as they come/);
    // The joined file's end is the stereo file's mix (within float32 rounding of the mean).
    const joined = readWav(path.join(out, 'sliced_audios', '0_0_0.wav')).samples;
    const alone = readWav(path.join(out, 'sliced_audios', '0_1_0.wav')).samples;
    const tail = joined.subarray(joined.length - alone.length);
    let worst = 0;
    for (let i = 0; i < alone.length; i++) worst = Math.max(worst, Math.abs(tail[i] - alone[i]));
    expect(worst).toBeLessThan(1e-6);
  });
  it.skipIf(!ffmpeg)('MP3s of two rates joined end to end fail, saying so (all of it was labelled with one rate, part played at the wrong speed)', () => {
    const ds = path.join(tmp, 'ds');
    fs.mkdirSync(ds);
    writeWav(path.join(tmp, 'a.wav'), speechLike(44100, 2, 31), 44100);
    const parts = [['44.mp3', '44100'], ['22.mp3', '22050']].map(([name, rate]) => {
      const made = spawnSync(ffmpeg!, ['-nostdin', '-loglevel', 'error', '-i', path.join(tmp, 'a.wav'), '-ar', rate, path.join(tmp, name)]);
      expect(made.status, String(made.stderr)).toBe(0);
      return fs.readFileSync(path.join(tmp, name));
    });
    fs.writeFileSync(path.join(ds, 'joined.mp3'), Buffer.concat(parts));
    const out = path.join(tmp, 'out');
    const r = cli([ds, '-o', out]);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/failed: joined\.mp3: the stream changes sample rate midway \(44100 Hz → 22050 Hz: files joined end to end\?\); not supported/);
  });
  if (!ffmpeg) console.log('decoders.test: no ffmpeg on PATH; the real-ffmpeg tests are skipped (the stand-in tests still run)');
});
