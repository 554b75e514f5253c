// A quick timing of the CPU kernels on generated signals (not a test): seconds of audio
// processed per second of CPU, for the resampler pairs that matter and the high-pass.
#include <chrono>
#include <cstdio>
#include <vector>

#include "dsp/highpass.h"
#include "dsp/resampler.h"

using namespace voxprep;

int main() {
  const double seconds = 60;
  const int pairs[][2] = {{48000, 40000}, {44100, 40000}, {40000, 16000}, {16000, 40000}};
  for (auto& p : pairs) {
    std::vector<double> x(size_t(p[0] * seconds));
    unsigned s = 1;
    for (auto& v : x) v = double((s = s * 1664525u + 1013904223u) >> 8) / double(1u << 24) - 0.5;
    auto t0 = std::chrono::steady_clock::now();
    auto y = resample(x.data(), x.size(), p[0], p[1]);
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("resample %6d -> %6d: %7.1fx real time (%zu taps)  check %.17g\n", p[0], p[1], seconds / dt,
                size_t(ResamplerDesign::get(p[0], p[1])->taps), y[y.size() / 3]);
  }
  std::vector<double> x(size_t(40000 * seconds), 0.25);
  Highpass hp(40000);
  auto t0 = std::chrono::steady_clock::now();
  hp.process(x.data(), x.size());
  const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("high-pass at 40000: %7.1fx real time\n", seconds / dt);
  return 0;
}
