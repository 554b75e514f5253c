// The npm WebAssembly decoders behind one small streaming interface, with the corrections
// that make their output agree with libsndfile's (the golden reference's decoder).
import { FlacFrameSplitter, withExplicitFormat } from './flac-frames.js';
import { MpegHead } from './mpeg-head.js';
import { OggPageWatcher } from './ogg-pages.js';
export interface Decoded {
  channels: Float32Array[];
  frames: number;
  rate: number;
  /** Multiplier bringing samples to libsndfile's scale. */
  scale: number;
  errors: string[];
}

export interface StreamDecoder {
  name: string;
  decode(chunk: Uint8Array): Promise<Decoded>;
  flush(): Promise<Decoded>;
  free(): void;
  /**
   * Checks the total decoded against what the stream declares, where it declares it:
   * returns a warning, or throws when the stream is not what its extension says.
   */
  check?(frames: number): string | undefined;
}

/** Extensions decoded by the npm decoders (everything else is WAV, or ffmpeg's). */
export const WASM_FORMATS = ['.flac', '.mp3', '.ogg'] as const;

interface RawDecoded {
  channelData: Float32Array[];
  samplesDecoded: number;
  sampleRate: number;
  bitDepth?: number;
  errors: { message: string; frameNumber: number }[];
}

const EMPTY: Decoded = { channels: [], frames: 0, rate: 0, scale: 1, errors: [] };

function describe(raw: RawDecoded, scale: number): Decoded {
  return {
    channels: raw.channelData,
    frames: raw.samplesDecoded,
    rate: raw.sampleRate,
    scale,
    errors: raw.errors.map((e) => `frame ${e.frameNumber}: ${e.message}; the frame was dropped`),
  };
}

/** Throws when `b` goes on from `a` in another rate or channel count (voxprep's streams keep one). */
export function checkSameFormat(a: { rate: number; channels: number }, b: { rate: number; channels: number }): void {
  if (a.rate !== b.rate || a.channels !== b.channels) {
    throw new Error(`the stream changes format midway (${a.rate} Hz × ${a.channels} → ${b.rate} Hz × ${b.channels}); not supported`);
  }
}

/** Two decoded stretches, one after the other. */
function joinDecoded(a: Decoded, b: Decoded): Decoded {
  if (a.frames === 0) return { ...b, errors: [...a.errors, ...b.errors] };
  if (b.frames === 0) return { ...a, errors: [...a.errors, ...b.errors] };
  checkSameFormat({ rate: a.rate, channels: a.channels.length }, { rate: b.rate, channels: b.channels.length });
  const channels = a.channels.map((x, c) => {
    const joined = new Float32Array(x.length + b.channels[c].length);
    joined.set(x);
    joined.set(b.channels[c], x.length);
    return joined;
  });
  return { ...a, channels, frames: a.frames + b.frames, errors: [...a.errors, ...b.errors] };
}

/** Where a frame starts, in seconds, for messages. */
const at = (samples: number, rate: number) => (rate > 0 ? ` (at ${(samples / rate).toFixed(2)} s)` : '');

export async function decoderFor(ext: string): Promise<StreamDecoder> {
  if (ext === '.flac') {
    const { FLACDecoder } = await import('@wasm-audio-decoders/flac');
    const d = new FLACDecoder();
    await d.ready;
    // voxprep splits the frames itself, so that a corrupt one costs that frame alone.
    const splitter = new FlacFrameSplitter();
    let frameNumber = 0;
    let position = 0; // samples before the next frame: decoded, and those of dropped frames where the block size is fixed
    const run = async (frames: Uint8Array[]): Promise<Decoded> => {
      // The decoder gives infinities for other sample sizes than these: said in the words the
      // WAV reader uses, which the run takes as ffmpeg's to decode (lib/pipeline.ts).
      const bits = splitter.info?.bitsPerSample;
      if (bits !== undefined && ![8, 16, 24, 32].includes(bits)) throw new Error(`unsupported sample size: ${bits} bits in a FLAC file`);
      const errors: string[] = [];
      const channels: Float32Array[][] = [];
      let frames_ = 0, rate = 0, bitDepth = 0;
      for (const frame of frames) {
        const raw = (await d.decodeFrames([splitter.info ? withExplicitFormat(frame, splitter.info) : frame])) as RawDecoded;
        if (raw.errors.length > 0 || raw.samplesDecoded === 0) {
          errors.push(`frame ${frameNumber}${at(position, splitter.info?.sampleRate ?? 0)} is corrupt (${raw.errors[0]?.message ?? 'no audio'}); it was dropped`);
          // After some corrupt frames the decoder yields nothing for every frame that follows.
          await d.reset();
          if (splitter.info && splitter.info.minBlock === splitter.info.maxBlock) position += splitter.info.maxBlock;
        } else {
          channels.push(raw.channelData);
          frames_ += raw.samplesDecoded;
          position += raw.samplesDecoded;
          rate = raw.sampleRate;
          bitDepth = raw.bitDepth ?? bitDepth;
        }
        frameNumber++;
      }
      const count = channels[0]?.length ?? 0;
      const joined = Array.from({ length: count }, (_, c) => {
        const out = new Float32Array(frames_);
        let p = 0;
        for (const ch of channels) {
          out.set(ch[c].subarray(0, ch[c].length), p);
          p += ch[c].length;
        }
        return out;
      });
      // The decoder maps integers with 1 / (2^(bits−1) − 1); libsndfile with 1 / 2^(bits−1).
      const scale = bitDepth ? (2 ** (bitDepth - 1) - 1) / 2 ** (bitDepth - 1) : 1;
      return { channels: joined, frames: frames_, rate, scale, errors };
    };
    return {
      name: 'FLAC',
      decode: (c) => run(splitter.push(c)),
      flush: () => run(splitter.end()),
      free: () => d.free(),
      check: (frames) => {
        const declared = splitter.info?.totalSamples ?? 0;
        if (declared > 0 && frames !== declared) {
          return `decoded ${frames} of the ${declared} samples the stream declares (${declared - frames} lost)`;
        }
        return undefined;
      },
    };
  }
  if (ext === '.mp3') {
    const { MPEGDecoder } = await import('mpg123-decoder');
    // Gapless: the encoder delay and padding that the LAME/Xing header declares are removed,
    // as libsndfile with mpg123 does.
    const d = new MPEGDecoder({ enableGapless: true });
    await d.ready;
    const head = new MpegHead();
    let errorCount = 0;
    let rate = 0;
    let mixedStereo = false;
    return {
      name: 'MP3',
      decode: async (c) => {
        head.push(c);
        const raw = d.decode(c) as RawDecoded;
        // Its errors' frame numbers do not say where (0 for most): the loss against the
        // LAME/Xing header's length (check) is what locates it.
        const n = raw.errors.length;
        const out = {
          ...describe(raw, 1),
          errors: n > 0 ? [`${n === 1 ? 'a stretch' : `${n} stretches`} of corrupt data (${raw.errors[0].message}) skipped by the decoder`] : [],
        };
        errorCount += n;
        if (out.rate) rate = out.rate;
        // mpg123 gives a mono stream as two equal channels: the file's one is what it holds.
        // Stereo frames after mono ones (files joined end to end) are mixed to it, as the
        // engine would mix them, rather than losing a channel.
        if (out.channels.length === 2 && head.mono()) {
          const [left, right] = out.channels;
          if (!left.every((v, i) => v === right[i])) {
            out.channels = [left.map((v, i) => (v + right[i]) / 2)];
            if (!mixedStereo) out.errors = [...out.errors, 'stereo frames follow mono ones (files joined end to end?): mixed to mono as they come'];
            mixedStereo = true;
          } else {
            out.channels = [left];
          }
        }
        return out;
      },
      flush: async () => EMPTY,
      free: () => d.free(),
      check: (frames) => {
        // Noise can hold accidental frame syncs; a real stream decodes far more frames
        // than it trips over.
        const mpegFrames = frames / (rate >= 32000 ? 1152 : 576);
        if (errorCount > 0 && errorCount * 2 >= mpegFrames) {
          throw new Error(`not a valid MP3 file (${errorCount} undecodable frames for ${Math.floor(mpegFrames)} decoded)`);
        }
        // mpg123 resynchronizes by itself after corrupt data and does not say where: the
        // declared length is how a loss shows.
        const declared = head.declaredSamples();
        if (declared !== undefined && frames !== declared) {
          const lost = declared - frames;
          return lost > 0
            ? `${lost} samples (about ${Math.ceil(lost / 1152)} frames) lost to corrupt data: decoded ${frames} of the ${declared} samples the LAME/Xing header declares`
            : `decoded ${frames} samples, more than the ${declared} the LAME/Xing header declares`;
        }
        return undefined;
      },
    };
  }
  if (ext === '.ogg') {
    const { OggVorbisDecoder } = await import('@wasm-audio-decoders/ogg-vorbis');
    const d = new OggVorbisDecoder();
    await d.ready;
    // The decoder passes over damaged pages and a stream cut short without a word, and takes
    // every stream in the file for one: it gets the pages of one Vorbis stream (and whatever
    // is damaged).
    const watcher = new OggPageWatcher();
    return {
      name: 'Ogg Vorbis',
      decode: async (c) => {
        const { warnings, links } = watcher.push(c);
        let out = describe((await d.decode(links[0])) as RawDecoded, 1);
        for (const link of links.slice(1)) {
          // A chained file's next link has its own setup (and may change rate or channels):
          // the decoder ends the last one and starts again, as for a file of its own.
          out = joinDecoded(out, describe((await d.flush()) as RawDecoded, 1));
          out = joinDecoded(out, describe((await d.decode(link)) as RawDecoded, 1));
        }
        return { ...out, errors: [...out.errors, ...warnings] };
      },
      flush: async () => {
        const last = describe((await d.decode(watcher.rest())) as RawDecoded, 1);
        const tail = describe((await d.flush()) as RawDecoded, 1);
        return joinDecoded(last, tail);
      },
      free: () => d.free(),
      check: () => watcher.end(),
    };
  }
  throw new Error(`no decoder for ${ext}`);
}
