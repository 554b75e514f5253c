// FFTs for sizes that are a power of two (at least 4) times any product of 3s, 5s and 7s, in
// float64: the resampler's FFT form transforms n·down inputs and n·up outputs (48 → 40 kHz:
// 6·2^k and 5·2^k points; 44.1 → 40 kHz: 441·2^k and 400·2^k). Each odd factor p takes one
// radix-p pass over the whole array (decimation in frequency: p rows of n/p points, each then
// transformed on its own; the inverse runs the passes the other way), and the power-of-two
// rest runs in RealFft's passes. The spectrum stays in the order the passes leave it
// ("packed"): slot() says where each bin lies. Twiddles are made once per size and process.
#pragma once

#include <memory>

#include "dsp/aligned.h"
#include "dsp/fft.h"

namespace voxprep {

// e^(−2πi·r·j/n) for r = 1 … p − 1 (row r − 1), j < n/p: one radix-p pass's twiddles.
struct PassTwiddles {
  AlignedVector<double> re, im;
};

// The n-point complex transform.
class MixedComplexFft {
 public:
  explicit MixedComplexFft(int n);
  // Whether n has the form above.
  static bool supported(int n);
  int size() const { return n_; }
  // Where bin c (0 ≤ c < n) lies in the packed spectrum (n values).
  int slot(int c) const;
  // a + i·b (n points) → packed spectrum, unscaled.
  void forward(const double* a, const double* b, double* re, double* im);
  // Packed spectrum → a + i·b: n times the inverse DFT (unscaled).
  void inverse(const double* re, const double* im, double* a, double* b);

 private:
  int n_, p_, m_;                           // n = p·m; p = 1 for a power of two
  std::unique_ptr<RealFft> leaf_;           // p = 1: the 2n-point real FFT whose inner transform this is
  std::unique_ptr<MixedComplexFft> rows_;   // p > 1: the rows' m-point transform
  std::shared_ptr<const PassTwiddles> tw_;
  AlignedVector<double> u_;                 // p > 1: the rows, real then imaginary parts, m values each
};

// The n-point real transform. The packed spectrum holds bins p·q + r for rows r = 0 … p/2
// (row 0 itself a real transform's packed bins, the others m complex values each); the other
// bins are their conjugates. Scaled as RealFft: the inverse by 1/n.
class MixedRealFft {
 public:
  explicit MixedRealFft(int n);
  static bool supported(int n);
  int size() const { return n_; }
  int packed_size() const { return packed_; }
  // Where bin c (0 ≤ c < n) lies, and whether it is stored conjugated.
  int slot(int c, bool& conjugated) const;
  // n samples → packed spectrum (packed_size() values each).
  void forward(const double* x, double* re, double* im);
  // Packed spectrum → n samples, scaled by 1/n (the imaginary parts of bins 0 and n/2 ignored).
  void inverse(const double* re, const double* im, double* x);

 private:
  int n_, p_, m_;
  int row0_ = 0;   // row 0's length in the packed spectrum (a whole number of vectors)
  int packed_ = 0;
  std::unique_ptr<RealFft> leaf_;            // p = 1
  std::unique_ptr<MixedRealFft> row0_fft_;   // p > 1: row 0, real
  std::unique_ptr<MixedComplexFft> rows_;    // p > 1: rows 1 … p/2
  std::shared_ptr<const PassTwiddles> tw_;
  AlignedVector<double> u_;                  // p > 1: row 0 (m values), then each row's real and imaginary parts
};

}  // namespace voxprep
