// How each input is decoded: WAV natively; FLAC, MP3 and Ogg Vorbis by a decoder process
// running the npm WebAssembly decoders; other formats by ffmpeg when it is on PATH. Either
// process writes a WAV stream on its standard output, which the native engine reads.
import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../native.js';
import { decodingExtension, FFMPEG_EXTENSIONS } from '../walk.js';
import { WASM_FORMATS } from './formats.js';

export type DecodePlan = { decoder?: string[] } | { skip: string };

const CHILD = path.join(packageRoot, 'dist', 'decode', 'child.js');

let ffmpegPath: string | null | undefined;

/** The ffmpeg binary on PATH, or null. */
export function findFfmpeg(): string | null {
  if (ffmpegPath !== undefined) return ffmpegPath;
  ffmpegPath = null;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, 'ffmpeg');
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      ffmpegPath = candidate;
      break;
    } catch {
      // not here
    }
  }
  return ffmpegPath;
}

export function decodePlan(file: string): DecodePlan {
  const ext = decodingExtension(file);
  if (ext === '.wav') return {};
  if (ext === '.ogg') {
    // Ogg holds other codecs than Vorbis too (voice messages are often Opus): ffmpeg's.
    const codec = oggCodec(file);
    if (codec !== 'Vorbis' && codec !== undefined) return ffmpegPlan(file, `Ogg ${codec}`);
  }
  if ((WASM_FORMATS as readonly string[]).includes(ext)) return { decoder: [process.execPath, CHILD, file] };
  if ((FFMPEG_EXTENSIONS as readonly string[]).includes(ext)) return ffmpegPlan(file, ext);
  return { skip: `${ext} is not an audio format voxprep reads` };
}

function ffmpegPlan(file: string, what: string): DecodePlan {
  const decoder = ffmpegDecoder(file);
  return decoder ? { decoder } : { skip: `${what} files need ffmpeg on PATH, and none was found` };
}

/** The ffmpeg command that decodes `file` for the engine, or undefined when there is no ffmpeg. */
export function ffmpegDecoder(file: string): string[] | undefined {
  const ffmpeg = findFfmpeg();
  // Raw float samples in a WAV stream, all channels, no resampling: voxprep does the rest.
  return ffmpeg ? [ffmpeg, '-nostdin', '-hide_banner', '-loglevel', 'error', '-i', file, '-vn', '-map', '0:a:0', '-f', 'wav', '-c:a', 'pcm_f32le', 'pipe:1'] : undefined;
}

/**
 * The audio codec of an Ogg file, by the first packets of the streams it opens with (their
 * first pages come before any other): Vorbis if one of them is Vorbis (voxprep decodes that
 * one), else the first other audio codec (a video's Opus sound behind its Theora); undefined
 * when none is known or the file cannot be read.
 */
function oggCodec(file: string): string | undefined {
  const head = Buffer.alloc(1 << 12); // the first pages of every stream are short
  let n = 0;
  try {
    const fd = fs.openSync(file, 'r');
    try {
      n = fs.readSync(fd, head, 0, head.length, 0);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return undefined; // the decoder says why
  }
  const codecs: string[] = [];
  // Each first page (header type 0x02) at the start: 27 bytes, the lacing values, the body.
  for (let p = 0; p + 27 <= n && head.toString('latin1', p, p + 4) === 'OggS' && head[p + 5] & 0x02; ) {
    const body = p + 27 + head[p + 26];
    if (body > n) break;
    const packet = head.toString('latin1', body, Math.min(n, body + 8));
    if (packet.startsWith('\x01vorbis')) codecs.push('Vorbis');
    else if (packet.startsWith('OpusHead')) codecs.push('Opus');
    else if (packet.startsWith('\x7fFLAC')) codecs.push('FLAC');
    else if (packet.startsWith('Speex   ')) codecs.push('Speex');
    let size = 0;
    for (let i = 0; i < head[p + 26]; i++) size += head[p + 27 + i];
    p = body + size;
  }
  return codecs.includes('Vorbis') ? 'Vorbis' : codecs[0];
}
