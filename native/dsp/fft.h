// A real FFT for power-of-two sizes, in float64: a complex FFT of half the size (decimation
// in time, real and imaginary parts in separate arrays: the bit-reversal reordering and the
// first two passes (three where the rest do not pair up) four groups to a vector, then
// radix-4 steps, all on four-double vectors) and the split step that turns it into the
// spectrum of a real signal. The plan (bit-reversal order and all twiddles) is computed once
// per size and process, and shared; a transform object adds only its work arrays, and
// transforms allocate nothing.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "dsp/aligned.h"

namespace voxprep {

// How many doubles at a time the widest loops take (the FFT's radix-4 steps, the resampler's
// spectra sums): 8 where the CPU runs eight-double vectors clearly faster than four (timed
// once per process on the FFT's own loop: on some AVX-512 CPUs they are, on others slower),
// else 4. Either way the same operations per lane: the same bits.
int vector_lanes();
// For tests: 4 or 8 from now on, or 0 to time it again at the next use.
void set_vector_lanes(int lanes);

class RealFft {
 public:
  // n: a power of two from 4 on.
  explicit RealFft(int n);
  int size() const { return n_; }
  int bins() const { return n_ / 2 + 1; }

  // n samples → n/2 + 1 bins, unscaled (as numpy.fft.rfft); with `window`, of x[i]·window[i].
  void forward(const double* x, double* re, double* im, const double* window = nullptr);
  // n/2 + 1 bins → n samples, scaled by 1/n (as numpy.fft.irfft: the imaginary parts of the
  // first and last bins are ignored).
  void inverse(const double* re, const double* im, double* x);

  // The complex transform inside: n/2 points z[j] = a[j] + i·b[j] → Z[k] (unscaled), and its
  // inverse (unscaled: n/2 times numpy.fft.ifft). For MixedRealFft's rows.
  void complex_forward(const double* a, const double* b, double* re, double* im);
  void complex_inverse(const double* a, const double* b, double* re, double* im);

  // vector_lanes()'s timing: 4 or 8.
  static int time_vector_lanes();

 private:
  // What depends only on the size: read-only, shared by every transform of that size.
  struct Plan {
    std::vector<int> bitrev;            // bit-reversal order of m points
    AlignedVector<double> tw_re, tw_im;   // short transforms' twiddles: for half-width h, h values at offset h − 1
    AlignedVector<double> radix4;         // the radix-4 steps' twiddles, step after step
    AlignedVector<double> sp_re, sp_im;   // split step: e^(−2πik/n), k < m
  };
  static std::shared_ptr<const Plan> plan_for(int n);
  // From this many complex points on, the first passes run four groups to a vector.
  static constexpr int kVectorFirstPasses = 16;
  template <class Load>
  void small_transform(Load load, double* re, double* im) const;
  template <class Load, class First>
  void passes_from(Load load, First first, double* re, double* im);
  int n_, m_;                         // m_ = n/2: the complex transform's size
  std::shared_ptr<const Plan> plan_;
  // Work arrays: the complex transform's real and imaginary parts, and the inverse's split
  // step before reordering, all in one block, each part kKeepApart values after the last.
  // Parts a multiple of 4 KiB apart (as separate allocations of 2^k doubles tend to be) make
  // the CPU mistake loads from one for stores to the other (4K aliasing) and wait. (40: of
  // 8 to 1032 tried with the radix-4 passes, in one process against the former transform,
  // the best at 512 to 2048 points; 264 before them.)
  static constexpr int kKeepApart = 40;
  AlignedVector<double> work_;
  double* part(int k) { return work_.data() + std::size_t(k) * std::size_t(m_ + kKeepApart); }
};

}  // namespace voxprep
