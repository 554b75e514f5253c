// A real FFT for power-of-two sizes, in float64: a complex FFT of half the size (iterative
// radix-2, decimation in time, real and imaginary parts in separate arrays so that each
// butterfly pass is a plain vectorizable loop) and the split step that turns it into the
// spectrum of a real signal. The plan (bit-reversal order and all twiddles) is computed once
// per size and process, and shared; a transform object adds only its work arrays, and
// transforms allocate nothing (but the first windowed forward(), which makes its buffer).
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

namespace voxprep {

class RealFft {
 public:
  // n: a power of two from 4 on.
  explicit RealFft(int n);
  int size() const { return n_; }
  int bins() const { return n_ / 2 + 1; }

  // n samples → n/2 + 1 bins, unscaled (as numpy.fft.rfft); with `window`, of x[i]·window[i].
  void forward(const double* x, double* re, double* im, const double* window = nullptr);
  // The same of x[0], x[stride], …, x[(n − 1)·stride] (a polyphase part read in place).
  void forward_strided(const double* x, std::ptrdiff_t stride, double* re, double* im);
  // n/2 + 1 bins → n samples, scaled by 1/n (as numpy.fft.irfft: the imaginary parts of the
  // first and last bins are ignored).
  void inverse(const double* re, const double* im, double* x);

 private:
  // What depends only on the size: read-only, shared by every transform of that size.
  struct Plan {
    std::vector<int> bitrev;            // bit-reversal order of m points
    std::vector<double> tw_re, tw_im;   // pass twiddles: for half-width h, h values at offset h − 1
    std::vector<double> sp_re, sp_im;   // split step: e^(−2πik/n), k < m
  };
  static std::shared_ptr<const Plan> plan_for(int n);
  static void small_transform(double* zr, double* zi);  // the one pass of n = 4
  template <class Load>
  void passes_from(Load load, double* re, double* im);
  int n_, m_;                         // m_ = n/2: the complex transform's size
  std::shared_ptr<const Plan> plan_;
  // Work arrays: the complex transform's real and imaginary parts, and the inverse's split
  // step before reordering, all in one block, each part kKeepApart values after the last.
  // Parts a multiple of 4 KiB apart (as separate allocations of 2^k doubles tend to be) make
  // the CPU mistake loads from one for stores to the other (4K aliasing) and wait.
  static constexpr int kKeepApart = 264;
  std::vector<double> work_;
  std::vector<double> windowed_;  // forward()'s input times its window (made on first use)
  double* part(int k) { return work_.data() + std::size_t(k) * std::size_t(m_ + kKeepApart); }
};

}  // namespace voxprep
