// A quick timing of the CPU kernels on generated signals (not a test): seconds of audio
// processed per second of CPU, for the resampler pairs that matter, the high-pass and the
// noise reduction (with its FFT).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <vector>

#include "dsp/denoise.h"
#include "dsp/fft.h"
#include "dsp/highpass.h"
#include "dsp/resampler.h"

using namespace voxprep;

int main() {
  const double seconds = 60;
  std::printf("vector lanes: %d (timed)\n", vector_lanes());
  // Each pair in its fastest form and in the direct form (the GPU's arithmetic), same run.
  const int pairs[][2] = {{48000, 40000}, {44100, 40000}, {22050, 40000}, {40000, 16000}, {16000, 40000}};
  for (auto& p : pairs) {
    std::vector<double> x(size_t(p[0] * seconds));
    unsigned s = 1;
    for (auto& v : x) v = double((s = s * 1664525u + 1013904223u) >> 8) / double(1u << 24) - 0.5;
    // The design (once per pair and process) apart from the run.
    const auto d0 = std::chrono::steady_clock::now();
    const auto d = ResamplerDesign::get(p[0], p[1]);
    const double design_ms = 1e3 * std::chrono::duration<double>(std::chrono::steady_clock::now() - d0).count();
    double speed[2];
    for (int f = 0; f < 2; ++f) {
      // Pushed in blocks, as the pipeline streams a file.
      auto t0 = std::chrono::steady_clock::now();
      Resampler r(p[0], p[1], f ? Resampler::Form::kDirect : Resampler::Form::kFastest);
      std::vector<double> y;
      for (size_t at = 0; at < x.size(); at += 65536) {
        y.clear();
        r.push(x.data() + at, std::min<size_t>(65536, x.size() - at), y);
      }
      r.finish(y);
      speed[f] = seconds / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    std::printf("resample %6d -> %6d: %7.1fx real time %-8s (direct form, %d taps: %7.1fx; %.1fx); design %.1f ms\n",
                p[0], p[1], speed[0], d->fft ? "FFT" : d->cascade ? "cascade" : "direct", d->taps, speed[1],
                speed[0] / speed[1], design_ms);
  }
  std::vector<double> x(size_t(40000 * seconds), 0.25);
  {
    // One stretch as the pipeline feeds it (a read block's worth after resampling, still in
    // cache), over and over; and the same in pieces too short for the block scan, which run
    // sample after sample: the same run.
    std::vector<double> stretch(13653);
    for (size_t i = 0; i < stretch.size(); ++i) stretch[i] = std::sin(0.01 * double(i)) + 0.25;
    auto time_pieces = [&](size_t piece) {
      Highpass hp(40000);
      const size_t rounds = size_t(40000 * seconds) / stretch.size();
      auto t0 = std::chrono::steady_clock::now();
      for (size_t r = 0; r < rounds; ++r) {
        for (size_t at = 0; at < stretch.size(); at += piece) hp.process(stretch.data() + at, std::min(piece, stretch.size() - at));
      }
      const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      return double(rounds * stretch.size()) / 40000 / dt;
    };
    const double scan = time_pieces(stretch.size());
    const double sequential = time_pieces(size_t(Highpass::kLanes * Highpass::kBlock));
    std::printf("high-pass at 40000: %7.1fx real time block scan (sequential: %7.1fx; %.1fx)\n", scan, sequential,
                scan / sequential);
  }
  {
    RealFft fft(1024);
    std::vector<double> in(1024), re(513), im(513), out(1024);
    for (size_t i = 0; i < in.size(); ++i) in[i] = x[i] + 1e-3 * double(i % 7);
    const int reps = 200000;
    auto f0 = std::chrono::steady_clock::now();
    for (int r = 0; r < reps; ++r) {
      fft.forward(in.data(), re.data(), im.data());
      in[r & 1023] += re[3] * 1e-30;
    }
    auto f1 = std::chrono::steady_clock::now();
    for (int r = 0; r < reps; ++r) {
      fft.inverse(re.data(), im.data(), out.data());
      re[r % 513] += out[5] * 1e-30;
    }
    auto f2 = std::chrono::steady_clock::now();
    std::printf("real FFT 1024: forward %.2f us, inverse %.2f us\n",
                std::chrono::duration<double>(f1 - f0).count() / reps * 1e6,
                std::chrono::duration<double>(f2 - f1).count() / reps * 1e6);
  }
  {
    // Speech-like bursts over a noise floor, 2 minutes at 40 kHz.
    std::vector<double> y(size_t(40000 * 120));
    unsigned s = 7;
    for (size_t i = 0; i < y.size(); ++i) {
      s = s * 1664525u + 1013904223u;
      const double burst = (i / 40000) % 3 == 0 ? 0.0 : 0.2 * std::sin(0.05 * double(i)) * std::sin(0.0003 * double(i));
      y[i] = burst + (double(s >> 8) / double(1u << 24) - 0.5) * 2e-3;
    }
    Denoiser d(40000, 0.7);
    std::vector<double> out;
    auto d0 = std::chrono::steady_clock::now();
    d.push(y.data(), y.size(), out);
    d.finish(out);
    const double ddt = std::chrono::duration<double>(std::chrono::steady_clock::now() - d0).count();
    std::printf("noise reduction at 40000: %7.1fx real time  check %.17g\n", 120 / ddt, out[out.size() / 3]);
  }
  return 0;
}
