// Native checks of the core, runnable without Node (ctest). Each check prints one line;
// the program exits non-zero if any fails.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "dsp/highpass.h"
#include "dsp/resampler.h"
#include "dsp/slicer.h"

using namespace voxprep;

static int failures = 0, passes = 0;
static void check(bool ok, const std::string& what) {
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
  (ok ? passes : failures)++;
}

static std::vector<double> noise(size_t n, unsigned seed) {
  std::vector<double> x(n);
  unsigned s = seed;
  for (auto& v : x) {
    s = s * 1664525u + 1013904223u;
    v = (double(s >> 8) / double(1u << 24)) - 0.5;
  }
  return x;
}

int main() {
  // Streaming in uneven blocks gives the same samples as one call.
  const int pairs[][2] = {{48000, 40000}, {44100, 40000}, {40000, 16000}, {16000, 40000}, {22050, 48000}};
  for (auto& p : pairs) {
    const auto x = noise(30011, 7);
    const auto whole = resample(x.data(), x.size(), p[0], p[1]);
    Resampler r(p[0], p[1]);
    std::vector<double> streamed;
    size_t at = 0, step = 1;
    while (at < x.size()) {
      const size_t n = std::min(step, x.size() - at);
      r.push(x.data() + at, n, streamed);
      at += n;
      step = step * 3 + 1;
    }
    r.finish(streamed);
    bool same = streamed.size() == whole.size();
    for (size_t i = 0; same && i < whole.size(); ++i) same = streamed[i] == whole[i];
    check(same, "resampler " + std::to_string(p[0]) + "->" + std::to_string(p[1]) + " streams bit-exactly");
    check(int64_t(whole.size()) == resampled_length(int64_t(x.size()), p[0], p[1]),
          "resampler " + std::to_string(p[0]) + "->" + std::to_string(p[1]) + " length rule");
    // DC passes with unit gain away from the edges.
    std::vector<double> dc(20000, 1.0);
    const auto y = resample(dc.data(), dc.size(), p[0], p[1]);
    check(std::fabs(y[y.size() / 2] - 1.0) < 1e-7, "resampler " + std::to_string(p[0]) + "->" +
                                                         std::to_string(p[1]) + " unit DC gain");
  }
  // High-pass: DC is removed, a 1 kHz tone passes.
  {
    Highpass hp(40000);
    std::vector<double> dc(40000 * 2, 1.0);
    hp.process(dc.data(), dc.size());
    check(std::fabs(dc.back()) < 1e-6, "high-pass removes DC");
  }
  // Slicer: frame count rule.
  {
    const SlicerSpec s = SlicerSpec::for_rate(40000);
    check(s.hop == 600 && s.win == 2400 && s.min_length == 100 && s.min_interval == 27 && s.max_sil_kept == 33,
          "slicer parameters at 40 kHz");
    RmsFramer f(s);
    const auto x = noise(123457, 3);
    f.push(x.data(), x.size());
    f.finish();
    check(int64_t(f.frames().size()) == 1 + (123457 + 2 * (s.win / 2) - s.win) / s.hop, "slicer frame count");
  }
  std::printf("%d passed, %d failed\n", passes, failures);
  return failures == 0 ? 0 : 1;
}
