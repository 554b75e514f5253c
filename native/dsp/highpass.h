// The reference's rumble filter: a 5th-order Butterworth high-pass at 48 Hz, designed for
// the target rate by the bilinear transform as scipy.signal.butter(5, 48, 'high', fs=sr)
// does (transfer-function form), and run causally from zero state in float64.
#pragma once

#include <cstddef>
#include <array>

namespace voxprep {

struct HighpassSpec {
  static constexpr int kOrder = 5;
  static constexpr double kCutoffHz = 48.0;
};

// Filter design: numerator b and denominator a (a[0] == 1), as scipy returns them.
struct HighpassDesign {
  std::array<double, HighpassSpec::kOrder + 1> b{}, a{};
  static HighpassDesign butterworth(double sample_rate, double cutoff_hz = HighpassSpec::kCutoffHz,
                                    int order = HighpassSpec::kOrder);
};

// Streaming run state of one filter.
class Highpass {
 public:
  explicit Highpass(double sample_rate);
  void process(double* x, size_t n);  // in place
  void reset() { state_.fill(0.0); }
  const HighpassDesign& design() const { return design_; }

 private:
  HighpassDesign design_;
  std::array<double, HighpassSpec::kOrder> state_{};
};

}  // namespace voxprep
