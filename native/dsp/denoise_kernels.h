// Per-element math of the noise reduction (reference-pipeline.md §6), shared by the CPU stage
// (dsp/denoise.cc) and, once it exists, its GPU twin: inline, allocation-free, and free of
// library calls a device lacks or computes differently (the exponential is our own), so both
// backends run the same arithmetic. Kept apart from kernels.h so that stages change alone.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "dsp/kernels.h"

namespace voxprep {
namespace kernels {

VOXPREP_HD uint64_t bits_of(double x) {
#if defined(__CUDA_ARCH__)
  return uint64_t(__double_as_longlong(x));
#else
  uint64_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
#endif
}

VOXPREP_HD double double_of(uint64_t u) {
#if defined(__CUDA_ARCH__)
  return __longlong_as_double((long long)u);
#else
  double x;
  std::memcpy(&x, &u, sizeof x);
  return x;
#endif
}

// Sample i of the periodic Hann window of length n (scipy's get_window('hann', n)).
VOXPREP_HD double hann_periodic(int i, int n) {
  constexpr double kTwoPi = 6.28318530717958647692;
#if defined(__CUDA_ARCH__)
  return 0.5 - 0.5 * cos(kTwoPi * double(i) / double(n));
#else
  return 0.5 - 0.5 * std::cos(kTwoPi * double(i) / double(n));
#endif
}

// e^z for z clamped to [−700, 700], within about 1 ulp, without branches or library calls
// (so that loops over it vectorize): z = k·ln 2 + r with |r| ≤ ln 2 / 2, e^r by its Taylor
// series to degree 13 (remainder below 1e−17), and 2^k put into the exponent bits.
VOXPREP_HD double exp_clamped(double z) {
  constexpr double kLog2e = 0x1.71547652b82fep+0;
  constexpr double kLn2Hi = 0x1.62e42fee00000p-1;  // k · kLn2Hi is exact for |k| < 2^20
  constexpr double kLn2Lo = 0x1.a39ef35793c76p-33;
  constexpr double kRound = 0x1.8p52;              // adding it rounds to an integer
  z = z < -700.0 ? -700.0 : z;
  z = z > 700.0 ? 700.0 : z;
  const double shifted = z * kLog2e + kRound;
  const double k = shifted - kRound;
  const double r = (z - k * kLn2Hi) - k * kLn2Lo;
  // Terms 4 to 13 in Estrin's order (pairs, then pairs of pairs in r², r⁴, r⁸: four dependent
  // steps instead of nine), so that neighbouring elements' evaluations overlap; the last four
  // in Horner's, which keeps their rounding that of the plain series.
  const double r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
  const double q01 = 1.0 / 24.0 + r * (1.0 / 120.0);
  const double q23 = 1.0 / 720.0 + r * (1.0 / 5040.0);
  const double q45 = 1.0 / 40320.0 + r * (1.0 / 362880.0);
  const double q67 = 1.0 / 3628800.0 + r * (1.0 / 39916800.0);
  const double q89 = 1.0 / 479001600.0 + r * (1.0 / 6227020800.0);
  const double high = ((q01 + r2 * q23) + r4 * (q45 + r2 * q67)) + r8 * q89;  // Σ r^(i−4) / i!, i ≥ 4
  double p = 1.0 / 6.0 + r * high;
  p = 0.5 + r * p;
  p = 1.0 + r * p;
  p = 1.0 + r * p;
  // The low bits of `shifted` hold k (two's complement); k + 1023 lands in the exponent field.
  const double scale = double_of((bits_of(shifted) + 1023u) << 52);
  return p * scale;
}

// One step of the noise floor's first-order low-pass, y[t] = b·x[t] + (1 − b)·y[t−1]
// (`one_minus_b` is 1 − b), run forward and then backward along time in each frequency bin.
VOXPREP_HD double floor_step(double b, double one_minus_b, double x, double y_prev) {
  return b * x + one_minus_b * y_prev;
}

// The gate: how far the magnitude m stands above the noise floor f, in multiples of f, through
// a sigmoid of the given slope centred on `threshold` multiples. A bin with no energy at all
// (f = 0, where the reference divides 0 by 0) counts as at the floor.
VOXPREP_HD double gate_mask(double m, double f, double threshold, double slope) {
  const double ratio = (m - f) / (f > 0 ? f : 1.0);
  return 1.0 / (1.0 + exp_clamped(-(ratio - threshold) * slope));
}

// Value i (0 ≤ i ≤ 2g) of the triangle over g: 1/(g+1), 2/(g+1), …, 1, …, 1/(g+1), unnormalized.
VOXPREP_HD double triangle_tap(int i, int g) {
  const int d = i <= g ? i + 1 : 2 * g + 1 - i;
  return double(d) / double(g + 1);
}

// The smoothed mask at strength p: mask·p + (1 − p).
VOXPREP_HD double mask_at_strength(double mask, double p) { return mask * p + (1.0 - p); }

}  // namespace kernels
}  // namespace voxprep
