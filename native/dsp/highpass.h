// The reference's rumble filter: a 5th-order Butterworth high-pass at 48 Hz, designed for
// the target rate by the bilinear transform as scipy.signal.butter(5, 48, 'high', fs=sr)
// does, and run causally from zero state in float64.
//
// It runs as a cascade of second-order sections (two biquads and a first-order section),
// not in the transfer-function form the reference uses: the poles sit within 0.2–0.8 % of
// z = 1, where the 6-coefficient form loses about six digits (its output is only ~106 dB
// clean at 48 kHz) and where carrying block states for the GPU's block-parallel run
// diverges. The sections are the same filter, cleaner; against the reference's form the
// output differs by ~106 dB SNR (48 kHz) to ~148 dB (16 kHz).
#pragma once

#include <array>
#include <cstddef>

#include "dsp/kernels.h"

namespace voxprep {

struct HighpassSpec {
  static constexpr int kOrder = 5;
  static constexpr double kCutoffHz = 48.0;
  static constexpr int kSections = (kOrder + 1) / 2;
};

// Filter design: the transfer function as scipy returns it (b, a with a[0] == 1), and the
// same filter as sections: conjugate pole pairs from the farthest to the nearest to the
// unit circle, then the real pole; the gain sits in the first section.
struct HighpassDesign {
  std::array<double, HighpassSpec::kOrder + 1> b{}, a{};
  std::array<kernels::Biquad, HighpassSpec::kSections> sections{};
  static HighpassDesign butterworth(double sample_rate, double cutoff_hz = HighpassSpec::kCutoffHz,
                                    int order = HighpassSpec::kOrder);
};

// Streaming run state of one filter: two state values per section.
class Highpass {
 public:
  explicit Highpass(double sample_rate);
  void process(double* x, size_t n);  // in place
  void reset() { state_ = {}; }
  const HighpassDesign& design() const { return design_; }

 private:
  HighpassDesign design_;
  std::array<std::array<double, 2>, HighpassSpec::kSections> state_{};
};

}  // namespace voxprep
