// What one GPU thread computes in each launch of the noise reduction's window (the GPU twin
// of dsp/denoise.cc's SpectralGate::run), as plain functions of the thread's index, like
// cuda/batch.h: cuda/kernels.cu launches them, cuda/host_device.cc loops over them. The
// per-element arithmetic is dsp/denoise_kernels.h's, in the CPU stage's summation orders;
// the FFT is a plain radix-2 complex transform (the CPU's is a real-input one), so results
// agree with the CPU stage to float64 rounding, not bit for bit.
#pragma once

#include "dsp/denoise.h"
#include "dsp/denoise_kernels.h"

namespace voxprep {
namespace batch {

constexpr int kGateFft = DenoiseSpec::kFftSize;       // 1024
constexpr int kGateBins = kGateFft / 2 + 1;           // 513
constexpr int kGateButterflies = kGateFft / 2;        // per stage: one thread each

// Everything one window needs, in device memory (host memory on the host device).
struct GateLaunch {
  const double* x;          // the chunk
  long long len;            // its length
  long long from, count;    // the span to produce
  long long frames;         // 1 + len / hop
  long long t_lo, t_hi;     // frames that reach the span
  long long m_lo, m_hi;     // frames whose mask the span needs
  int stride;               // row length of the frame-by-bin arrays
  double* re;               // STFT, frames × stride
  double* im;
  double* level;            // |S| → forward floor → mask
  double* smooth;           // the mask smoothed over time, rows t_lo..t_hi
  double* frames_out;       // inverse FFTs of rows t_lo..t_hi, 1024 each
  double* out;              // count samples
  const double* analysis_window;   // 1024
  const double* synthesis_window;  // 1024
  const double* overlap_norm;      // hop
  const double* tw_re;      // e^(−2πi m/1024), m < 512
  const double* tw_im;
  const double* time_taps;  // 2·gt + 1
  const double* freq_taps;  // 2·gf + 1
  int gt, gf;
  double b, one_minus_b, strength;
};

VOXPREP_HD int bit_reverse10(int i) {
  int r = 0;
  for (int k = 0; k < 10; ++k) r |= ((i >> k) & 1) << (9 - k);
  return r;
}

// Stage `half` of an in-place radix-2 DIT transform on bit-reversed data: butterfly b.
// `sign` −1: forward (e^(−2πi…)); +1: inverse.
VOXPREP_HD void fft_butterfly(double* re, double* im, const double* tw_re, const double* tw_im, int half, int b,
                              double sign) {
  const int group = b / half, pos = b % half;
  const int i = group * 2 * half + pos, j = i + half;
  const int m = pos * (kGateFft / (2 * half));
  const double wr = tw_re[m], wi = sign < 0 ? tw_im[m] : -tw_im[m];
  const double tr = wr * re[j] - wi * im[j];
  const double ti = wr * im[j] + wi * re[j];
  re[j] = re[i] - tr;
  im[j] = im[i] - ti;
  re[i] = re[i] + tr;
  im[i] = im[i] + ti;
}

// Forward, element i of frame t: the windowed sample, at its bit-reversed place.
VOXPREP_HD void stft_load(const GateLaunch& p, long long t, int i, double* re, double* im) {
  const long long at = t * DenoiseSpec::kHop - DenoiseSpec::kExtension + i;
  const int r = bit_reverse10(i);
  re[r] = at >= 0 && at < p.len ? p.x[at] * p.analysis_window[i] : 0.0;
  im[r] = 0.0;
}

// Forward, bin k of frame t out of the transform.
VOXPREP_HD void stft_store(const GateLaunch& p, long long t, int k, const double* re, const double* im) {
  p.re[t * p.stride + k] = re[k];
  p.im[t * p.stride + k] = im[k];
}

// The noise floor along time in bin k: the forward pass (the first frame from its own
// magnitude), then the backward pass from the last frame's steady state, with the mask of
// the frames the span needs.
VOXPREP_HD void floor_and_mask_bin(const GateLaunch& p, int k) {
  double prev = 0;
  for (long long t = 0; t < p.frames; ++t) {
    const double r = p.re[t * p.stride + k], i = p.im[t * p.stride + k];
    const double m = sqrt(r * r + i * i);
    const double v = kernels::floor_step(p.b, p.one_minus_b, m, t > 0 ? prev : m);
    p.level[t * p.stride + k] = v;
    prev = v;
  }
  double f = p.level[(p.frames - 1) * p.stride + k];
  for (long long t = p.frames - 1; t >= p.m_lo; --t) {
    f = kernels::floor_step(p.b, p.one_minus_b, p.level[t * p.stride + k], f);
    if (t <= p.m_hi) {
      const double r = p.re[t * p.stride + k], i = p.im[t * p.stride + k];
      const double m = sqrt(r * r + i * i);
      p.level[t * p.stride + k] = kernels::gate_mask(m, f, DenoiseSpec::kThresholdMultiple, DenoiseSpec::kSigmoidSlope);
    }
  }
}

// The mask of frame t (t_lo ≤ t ≤ t_hi) at bin k smoothed over time: rows in increasing
// order, those outside the mask left out (as the CPU stage sums them).
VOXPREP_HD void smooth_time_at(const GateLaunch& p, long long t, int k) {
  const long long j_lo = -p.gt > -t ? -p.gt : -t;
  const long long j_hi = p.gt < p.frames - 1 - t ? p.gt : p.frames - 1 - t;
  double s = 0;
  for (long long j = j_lo; j <= j_hi; ++j) s = s + p.time_taps[j + p.gt] * p.level[(t + j) * p.stride + k];
  p.smooth[(t - p.t_lo) * p.stride + k] = s;
}

// Bin k of frame t smoothed over frequency (zeros past the ends), at strength, applied to the
// spectrum, and laid out for the inverse transform: bins k and (for 0 < k < 512) 1024 − k
// conjugate, at their bit-reversed places.
VOXPREP_HD void gain_and_load_inverse(const GateLaunch& p, long long t, int k, double* re, double* im) {
  const double* row = p.smooth + (t - p.t_lo) * p.stride;
  double g = 0;
  for (int i = 0; i <= 2 * p.gf; ++i) {
    const int at = k + i - p.gf;
    g = g + p.freq_taps[i] * (at >= 0 && at < kGateBins ? row[at] : 0.0);
  }
  g = kernels::mask_at_strength(g, p.strength);
  const double sr = p.re[t * p.stride + k] * g;
  // As numpy's irfft: the imaginary parts of the first and last bins are ignored.
  const double si = k == 0 || k == kGateBins - 1 ? 0.0 : p.im[t * p.stride + k] * g;
  re[bit_reverse10(k)] = sr;
  im[bit_reverse10(k)] = si;
  if (k > 0 && k < kGateBins - 1) {
    re[bit_reverse10(kGateFft - k)] = sr;
    im[bit_reverse10(kGateFft - k)] = -si;
  }
}

// Sample i of frame t's inverse transform (real part, scaled by 1/1024: exact).
VOXPREP_HD void inverse_store(const GateLaunch& p, long long t, int i, const double* re) {
  p.frames_out[(t - p.t_lo) * kGateFft + i] = re[i] * (1.0 / kGateFft);
}

// Output sample i of the span: the frames over it, from the last to the first (the CPU
// stage's order), windowed, summed, normalized.
VOXPREP_HD void overlap_add_at(const GateLaunch& p, long long i) {
  const long long s = p.from + i;  // chunk position
  const long long hop = DenoiseSpec::kHop, ext = DenoiseSpec::kExtension;
  // Frames t with t·hop − ext ≤ s < t·hop − ext + 1024.
  long long t_last = (s + ext) / hop;
  if (t_last > p.t_hi) t_last = p.t_hi;
  double v = 0;
  for (long long t = t_last; t >= p.t_lo; --t) {
    const long long off = s - (t * hop - ext);
    if (off >= kGateFft) break;
    v = v + p.frames_out[(t - p.t_lo) * kGateFft + off] * p.synthesis_window[off];
  }
  p.out[i] = v / p.overlap_norm[s % hop];
}

}  // namespace batch
}  // namespace voxprep
