// Native checks of the core, runnable without Node (ctest). Each check prints one line;
// the program exits non-zero if any fails.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "dsp/automatic_cut.h"
#include "dsp/highpass.h"
#include "dsp/resampler.h"
#include "dsp/slicer.h"
#include "io/wav_reader.h"

#include <cstdlib>
#include <cstring>
#include <stdexcept>

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


// ---- WAV parser fuzzing -------------------------------------------------------------
// Valid seeds in several forms, mutated many times and parsed from memory. Built with
// -DVOXPREP_SANITIZE=ON (as CI does) AddressSanitizer turns any out-of-bounds access into
// a failure; a hang shows as the test's timeout.

static void put16(std::vector<unsigned char>& b, uint16_t v) { b.push_back(uint8_t(v)); b.push_back(uint8_t(v >> 8)); }
static void put32(std::vector<unsigned char>& b, uint32_t v) { for (int i = 0; i < 4; ++i) b.push_back(uint8_t(v >> (8 * i))); }
static void tag(std::vector<unsigned char>& b, const char* t) { b.insert(b.end(), t, t + 4); }

static std::vector<unsigned char> seed_wav(int kind) {
  const int channels = kind % 3 + 1;
  const int format = kind == 3 ? 6 : kind == 4 ? 3 : 1;
  const int bits = format == 6 ? 8 : format == 3 ? 32 : (kind % 2 ? 24 : 16);
  std::vector<unsigned char> b;
  tag(b, kind == 5 ? "RF64" : "RIFF");
  put32(b, 0);
  tag(b, "WAVE");
  if (kind == 5) {
    tag(b, "ds64"); put32(b, 28);
    for (int i = 0; i < 28; ++i) b.push_back(i == 8 ? 64 : 0);
  }
  if (kind == 2) { tag(b, "JUNK"); put32(b, 5); b.insert(b.end(), 6, 0); }
  tag(b, "fmt ");
  const bool ext = kind == 6;
  put32(b, ext ? 40 : 16);
  put16(b, ext ? 0xFFFE : uint16_t(format));
  put16(b, uint16_t(channels));
  put32(b, 44100);
  put32(b, uint32_t(44100 * channels * bits / 8));
  put16(b, uint16_t(channels * bits / 8));
  put16(b, uint16_t(bits));
  if (ext) { put16(b, 22); put16(b, uint16_t(bits)); put32(b, 0); put16(b, uint16_t(format)); b.insert(b.end(), 14, 0x11); }
  tag(b, "LIST"); put32(b, 3); b.insert(b.end(), 4, 'x');
  tag(b, "data");
  const uint32_t bytes = uint32_t(64 * channels * bits / 8);
  put32(b, kind == 5 ? 0xFFFFFFFFu : bytes);
  for (uint32_t i = 0; i < bytes; ++i) b.push_back(uint8_t(i * 37));
  return b;
}

static int fuzz_wav(long iterations) {
  unsigned state = 2024;
  auto rnd = [&]() { state = state * 1103515245u + 12345u; return (state >> 8) & 0xFFFFFF; };
  long parsed = 0, refused = 0;
  std::vector<double> out;
  for (long it = 0; it < iterations; ++it) {
    std::vector<unsigned char> b = seed_wav(int(it % 7));
    const int edits = 1 + int(rnd() % 6);
    for (int e = 0; e < edits; ++e) {
      const size_t at = rnd() % b.size();
      switch (rnd() % 6) {
        case 0: b[at] = uint8_t(rnd()); break;                                  // a random byte
        case 1: b[at] ^= uint8_t(1u << (rnd() % 8)); break;                     // a bit flip
        case 2: if (at + 4 <= b.size()) { uint32_t v = rnd() % 3 == 0 ? 0xFFFFFFFFu : rnd() % 2 ? 0u : rnd(); std::memcpy(&b[at], &v, 4); } break;  // a size field
        case 3: b.resize(at); if (b.empty()) b.push_back(0); break;             // truncation
        case 4: b.insert(b.begin() + long(at), uint8_t(rnd())); break;          // an inserted byte
        default: b.erase(b.begin() + long(at)); if (b.empty()) b.push_back(0); break;  // a removed byte
      }
    }
    std::FILE* f = fmemopen(b.data(), b.size(), "rb");
    try {
      WavReader r(f, (it & 1) ? int64_t(b.size()) : -1);  // as a file, and as a stream
      out.clear();
      while (r.read_mono(out, 1 + rnd() % 100) > 0) {
        if (out.size() > 1u << 20) throw std::runtime_error("runaway read");
      }
      ++parsed;
    } catch (const std::runtime_error& e) {
      if (std::string(e.what()) == "runaway read") { std::fclose(f); return -1; }
      ++refused;
    }
    std::fclose(f);
  }
  std::printf("     fuzz: %ld mutated WAV headers, %ld read, %ld refused with a reason\n", iterations, parsed, refused);
  return 0;
}


// ---- automatic cut: streaming equals batch ---------------------------------------------
// A signal of loud bursts and silences of the given lengths (seconds, alternating).
static std::vector<double> bursts(int sr, const std::vector<double>& pattern, unsigned seed) {
  std::vector<double> x;
  unsigned s = seed;
  for (size_t k = 0; k < pattern.size(); ++k) {
    const size_t n = size_t(pattern[k] * sr);
    for (size_t i = 0; i < n; ++i) {
      s = s * 1664525u + 1013904223u;
      const double noise = (double(s >> 8) / double(1u << 24) - 0.5) * 1e-4;
      x.push_back(k % 2 == 0 ? 0.3 * std::sin(0.05 * double(x.size())) + noise : noise * 0.01);
    }
  }
  return x;
}

static bool automatic_stream_matches_batch(int sr, const std::vector<double>& x, unsigned seed, size_t* max_held) {
  RmsFramer framer(SlicerSpec::for_rate(sr));
  framer.push(x.data(), x.size());
  framer.finish();
  SegmentPlan plan = SegmentPlan::automatic(sr, slice_chunks(framer.frames(), int64_t(x.size()), SlicerSpec::for_rate(sr)));
  std::vector<Segment> want;
  for (Segment seg; plan.next(seg);) want.push_back(seg);

  std::vector<Segment> got;
  bool same_samples = true;
  AutomaticCutter cutter(sr);
  auto emit = [&](const Segment& seg, const double* p) {
    got.push_back(seg);
    for (int64_t i = seg.begin; i < seg.end; ++i) same_samples &= p[i - seg.begin] == x[size_t(i)];
  };
  unsigned s = seed;
  for (size_t at = 0; at < x.size();) {
    s = s * 1664525u + 1013904223u;
    const size_t n = std::min(x.size() - at, size_t(1 + (s >> 8) % 50000));
    cutter.push(x.data() + at, n, emit);
    *max_held = std::max(*max_held, cutter.held());
    at += n;
  }
  cutter.finish(emit);
  bool same = got.size() == want.size() && same_samples;
  for (size_t i = 0; same && i < got.size(); ++i) {
    same = got[i].begin == want[i].begin && got[i].end == want[i].end && got[i].idx1 == want[i].idx1;
  }
  if (!same) {
    std::printf("     streaming %zu segments, batch %zu\n", got.size(), want.size());
    for (size_t i = 0; i < std::max(got.size(), want.size()); ++i) {
      std::printf("       %lld..%lld #%lld   %lld..%lld #%lld\n", i < got.size() ? (long long)got[i].begin : -1LL,
                  i < got.size() ? (long long)got[i].end : -1LL, i < got.size() ? (long long)got[i].idx1 : -1LL,
                  i < want.size() ? (long long)want[i].begin : -1LL, i < want.size() ? (long long)want[i].end : -1LL,
                  i < want.size() ? (long long)want[i].idx1 : -1LL);
    }
  }
  return same;
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
  // Automatic cut: the streaming cutter hands out exactly the batch slicer's segments.
  {
    const std::vector<std::vector<double>> patterns = {
        {5, 0.2, 4, 0.6, 7, 1.1, 3, 3, 2},        // short, medium, long silences
        {0, 2.5, 6, 0.45, 2, 30, 5, 0.3},          // leading silence, a very long one, trailing
        {0, 40, 1, 0.1},                           // silence first, for long
        {12},                                      // no silence at all
        {2, 0.5, 0.3, 0.5, 0.2, 0.5, 8, 10},       // quick alternation, long silent end
        {1, 0.41, 1, 0.41, 1, 0.41, 1, 0.41, 4},   // runs right at min_interval
    };
    for (int sr : {40000, 44100, 32000, 48000}) {
      for (size_t k = 0; k < patterns.size(); ++k) {
        size_t held = 0;
        const auto x = bursts(sr, patterns[k], unsigned(k + 1));
        const bool same = automatic_stream_matches_batch(sr, x, unsigned(7 * k + 3), &held);
        check(same, "automatic cut streams like the batch slicer (" + std::to_string(sr) + " Hz, pattern " + std::to_string(k) + ")");
        if (k == 1 || k == 2) {
          // A 30 s or 40 s silence is not held in memory: the bound is a few seconds.
          check(held < size_t(sr * 12), "automatic cut holds at most a few seconds (" + std::to_string(held) + " samples, " +
                                            std::to_string(sr) + " Hz, pattern " + std::to_string(k) + ")");
        }
      }
    }
  }
  // WAV parser fuzzing (VOXPREP_FUZZ_ITERATIONS, default 100000).
  {
    const char* env = std::getenv("VOXPREP_FUZZ_ITERATIONS");
    const long iterations = env ? std::atol(env) : 100000;
    check(fuzz_wav(iterations) == 0, "WAV parser survives " + std::to_string(iterations) + " mutated headers");
  }
  std::printf("%d passed, %d failed\n", passes, failures);
  return failures == 0 ? 0 : 1;
}
