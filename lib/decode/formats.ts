// The npm WebAssembly decoders behind one small streaming interface, with the corrections
// that make their output agree with libsndfile's (the golden reference's decoder).
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
  /** Checks the total decoded against what the stream declared, where it declares it. */
  check?(frames: number): void;
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

export async function decoderFor(ext: string): Promise<StreamDecoder> {
  if (ext === '.flac') {
    const { FLACDecoder } = await import('@wasm-audio-decoders/flac');
    const d = new FLACDecoder();
    await d.ready;
    // The decoder maps integers with 1 / (2^(bits−1) − 1); libsndfile with 1 / 2^(bits−1).
    const scale = (raw: RawDecoded) => (raw.bitDepth ? (2 ** (raw.bitDepth - 1) - 1) / 2 ** (raw.bitDepth - 1) : 1);
    return {
      name: 'FLAC',
      decode: async (c) => {
        const raw = (await d.decode(c)) as RawDecoded;
        return describe(raw, scale(raw));
      },
      flush: async () => {
        const raw = (await d.flush()) as RawDecoded;
        return describe(raw, scale(raw));
      },
      free: () => d.free(),
    };
  }
  if (ext === '.mp3') {
    const { MPEGDecoder } = await import('mpg123-decoder');
    // Gapless: the encoder delay and padding that the LAME/Xing header declares are removed,
    // as libsndfile with mpg123 does.
    const d = new MPEGDecoder({ enableGapless: true });
    await d.ready;
    return {
      name: 'MP3',
      decode: async (c) => describe(d.decode(c) as RawDecoded, 1),
      flush: async () => EMPTY,
      free: () => d.free(),
    };
  }
  if (ext === '.ogg') {
    const { OggVorbisDecoder } = await import('@wasm-audio-decoders/ogg-vorbis');
    const d = new OggVorbisDecoder();
    await d.ready;
    return {
      name: 'Ogg Vorbis',
      decode: async (c) => describe((await d.decode(c)) as RawDecoded, 1),
      flush: async () => describe((await d.flush()) as RawDecoded, 1),
      free: () => d.free(),
    };
  }
  throw new Error(`no decoder for ${ext}`);
}
