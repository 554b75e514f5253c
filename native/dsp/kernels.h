// Per-sample math shared by the CPU stages and (when built with nvcc) the GPU kernels.
// Everything here is inline, allocation-free and free of library calls that the device
// lacks, so both backends run the same arithmetic.
#pragma once

#include <cmath>
#include <cstddef>

#if defined(__CUDACC__)
#define VOXPREP_HD __host__ __device__ __forceinline__
#else
#define VOXPREP_HD inline
#endif

namespace voxprep {
namespace kernels {

// Dot product with 32 interleaved partial sums (term i goes to sum i mod 32), added up in a
// fixed tree: one summation order wherever it runs, so SSE2, AVX2, AVX-512 and GPU builds
// give the same bits, while the independent chains keep vector units busy.
constexpr int kDotLanes = 32;
VOXPREP_HD double dot(const double* h, const double* x, int n) {
  double acc[kDotLanes] = {0};
  int i = 0;
  for (; i + kDotLanes <= n; i += kDotLanes) {
    for (int l = 0; l < kDotLanes; ++l) acc[l] += h[i + l] * x[i + l];
  }
  for (int l = 0; i < n; ++i, ++l) acc[l] += h[i] * x[i];
  for (int width = kDotLanes / 2; width > 0; width /= 2) {
    for (int l = 0; l < width; ++l) acc[l] += acc[l + width];
  }
  return acc[0];
}

// M dot products at once, each with exactly dot()'s arithmetic (the same lanes, order and
// tree), interleaved so that their 32·M independent sums hide the adder's latency: a CPU
// speed-up only (the GPU gets its parallelism from threads), with the same bits.
// Always inlined: called out of line, it runs with the default instruction set whatever the
// vector-cloned loop that calls it (run_polyphase's AVX-512 clone ran at half speed so).
template <int M>
__attribute__((always_inline)) inline void dot_many(const double* const* h, const double* const* x, int n, double* out) {
  double acc[M][kDotLanes] = {};
  int i = 0;
  for (; i + kDotLanes <= n; i += kDotLanes) {
    for (int m = 0; m < M; ++m) {
      for (int l = 0; l < kDotLanes; ++l) acc[m][l] += h[m][i + l] * x[m][i + l];
    }
  }
  for (int m = 0; m < M; ++m) {
    for (int j = i, l = 0; j < n; ++j, ++l) acc[m][l] += h[m][j] * x[m][j];
    for (int width = kDotLanes / 2; width > 0; width /= 2) {
      for (int l = 0; l < width; ++l) acc[m][l] += acc[m][l + width];
    }
    out[m] = acc[m][0];
  }
}

// One step of a direct-form II transposed IIR filter of order `order` (b and a hold
// order + 1 coefficients, a[0] == 1), in the operation order of scipy.signal.lfilter so
// that results agree with the reference to the last bit where possible.
VOXPREP_HD double iir_df2t_step(const double* b, const double* a, double* z, int order, double x) {
  const double y = z[0] + b[0] * x;
  for (int k = 0; k < order - 1; ++k) z[k] = z[k + 1] + x * b[k + 1] - y * a[k + 1];
  z[order - 1] = x * b[order] - y * a[order];
  return y;
}

// A second-order section (b, a with a[0] == 1), run in the same direct form II transposed;
// a first-order section has b[2] == a[2] == 0.
struct Biquad {
  double b[3];
  double a[3];
};
VOXPREP_HD double biquad_step(const Biquad& s, double* z, double x) { return iir_df2t_step(s.b, s.a, z, 2, x); }
VOXPREP_HD void biquad_run(const Biquad& s, double* z, const double* x, double* y, long long n) {
  for (long long i = 0; i < n; ++i) y[i] = biquad_step(s, z, x[i]);
}

// Output k of a rational resampler rate_out / rate_in = up / down: it is centred on input
// index floor(k·down/up) at phase (k·down mod up) / up. Exact in integers, however the
// caller steps k.
VOXPREP_HD void polyphase_position(long long k, long long up, long long down, long long* j0, long long* phase) {
  const long long pos = k * down;
  *j0 = pos / up;
  *phase = pos - *j0 * up;
}
// The output itself: the phase's row of the table against the `taps` inputs ending
// `taps − lead` samples after the centre (window points at the first of them).
VOXPREP_HD double polyphase_output(const double* table, int taps, long long phase, const double* window) {
  return dot(table + phase * taps, window, taps);
}

// The slicer's RMS frame t: sqrt of the sum of x[k]² over its `win` = 4·hop samples,
// [(t − 2)·hop, (t + 2)·hop), divided by `win` (samples outside the signal [0, end) count as
// zeros). The sum is taken by hops, so that consecutive frames share them: each hop-long
// block's squares in index order, then the four blocks' sums in order.
VOXPREP_HD double hop_squares(const double* x, long long lo, long long hi) {
  double sum = 0;
  for (long long k = lo; k < hi; ++k) sum += x[k] * x[k];
  return sum;
}
VOXPREP_HD double frame_rms_of_hops(double h0, double h1, double h2, double h3, long long win) {
  const double sum = ((h0 + h1) + h2) + h3;
#if defined(__CUDA_ARCH__)
  return ::sqrt(sum / double(win));  // IEEE correctly rounded on the device too
#else
  return std::sqrt(sum / double(win));
#endif
}
VOXPREP_HD double frame_rms_at(const double* x, long long t, long long hop, long long end) {
  double h[4];
  for (int i = 0; i < 4; ++i) {
    long long lo = (t - 2 + i) * hop, hi = lo + hop;
    if (lo < 0) lo = 0;
    if (hi > end) hi = end;
    h[i] = lo < hi ? hop_squares(x, lo, hi) : 0.0;
  }
  return frame_rms_of_hops(h[0], h[1], h[2], h[3], 4 * hop);
}

// The reference's normalization: x / peak · (0.9 · 0.75) + (1 − 0.75) · x.
constexpr double kNormalizeTarget = 0.9;
constexpr double kNormalizeAlpha = 0.75;
VOXPREP_HD double normalize_sample(double x, double peak) {
  return x / peak * (kNormalizeTarget * kNormalizeAlpha) + (1 - kNormalizeAlpha) * x;
}

// Mean of x² over [from, to) of a signal of n samples that is zero outside [0, n).
VOXPREP_HD double mean_square(const double* x, long long n, long long from, long long to) {
  const long long lo = from < 0 ? 0 : from;
  const long long hi = to > n ? n : to;
  double sum = 0;
  for (long long i = lo; i < hi; ++i) sum += x[i] * x[i];
  return sum / double(to - from);
}

}  // namespace kernels
}  // namespace voxprep
