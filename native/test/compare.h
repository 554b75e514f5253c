// How the native test programs compare one signal with another.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

namespace voxprep {
namespace test {

// The largest |a − b| relative to the RMS of b (the largest itself where b is silent); a
// holds at least b's length.
inline double max_difference_of_rms(const std::vector<double>& a, const std::vector<double>& b) {
  double worst = 0, energy = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    worst = std::max(worst, std::fabs(a[i] - b[i]));
    energy += b[i] * b[i];
  }
  const double rms = std::sqrt(energy / double(std::max<size_t>(b.size(), 1)));
  return rms > 0 ? worst / rms : worst;
}

// The SNR of `got` against `want` in dB (signal: want; noise: the difference); 999 where
// they are identical. Both of want's length.
inline double snr_db(const std::vector<double>& want, const std::vector<double>& got) {
  double signal = 0, noise = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    signal += want[i] * want[i];
    noise += (got[i] - want[i]) * (got[i] - want[i]);
  }
  return noise > 0 ? 10 * std::log10(signal / noise) : 999;
}

}  // namespace test
}  // namespace voxprep
