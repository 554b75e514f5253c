// Native checks of the core, runnable without Node (ctest). Each check prints one line;
// the program exits non-zero if any fails.
#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>
#include <chrono>
#include <cmath>
#include <complex>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "dsp/aligned.h"
#include "dsp/automatic_cut.h"
#include "dsp/denoise.h"
#include "dsp/denoise_kernels.h"
#include "dsp/fft.h"
#include "dsp/highpass.h"
#include "dsp/kernels.h"
#include "dsp/mixed_fft.h"
#include "dsp/polynomial.h"
#include "dsp/resampler.h"
#include "dsp/slicer.h"
#include "engine/engine.h"
#include "io/file_hash.h"
#include "io/wav_reader.h"
#include "io/wav_writer.h"
#include "io/io_thread.h"
#include "test/compare.h"

#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <unistd.h>

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
    // Mostly short blocks; one in four long enough that the cutter takes it in parts.
    const size_t most = (s >> 8) % 4 == 0 ? 300000 : 50000;
    const size_t n = std::min(x.size() - at, size_t(1 + (s >> 10) % most));
    if (n > 50000 || (s >> 20) % 2 == 0) {
      cutter.push(x.data() + at, n, emit);
    } else {
      // Appended in place, as the pipeline does (with blocks this short) without noise reduction.
      append_samples(cutter.input(), x.data() + at, n);
      cutter.took(n, emit);
    }
    *max_held = std::max(*max_held, cutter.held());
    at += n;
  }
  cutter.finish(emit);
  const bool same_frames = cutter.frames() == framer.frames();
  if (!same_frames) std::printf("     the streaming cut's RMS frames differ from the batch slicer's\n");
  bool same = got.size() == want.size() && same_samples && same_frames;
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

// ---- FFT against a direct DFT (float64) ---------------------------------------------------
// Returns the largest error of the forward transform relative to the spectrum's largest
// magnitude, and of the inverse (fed the direct DFT) relative to the signal's peak.
static void fft_against_dft(int n, double* forward_error, double* inverse_error) {
  const auto x = noise(size_t(n), unsigned(n) * 31u + 5u);
  const double two_pi = 6.283185307179586476925286766559;
  std::vector<double> c(static_cast<size_t>(n)), s(static_cast<size_t>(n));
  for (int j = 0; j < n; ++j) {
    c[size_t(j)] = std::cos(two_pi * j / n);
    s[size_t(j)] = std::sin(two_pi * j / n);
  }
  const int bins = n / 2 + 1;
  std::vector<double> dre(static_cast<size_t>(bins)), dim(static_cast<size_t>(bins));
  for (int k = 0; k < bins; ++k) {
    double acc_re = 0, acc_im = 0;
    for (int j = 0; j < n; ++j) {
      const size_t at = size_t((int64_t(j) * k) % n);
      acc_re += x[size_t(j)] * c[at];
      acc_im -= x[size_t(j)] * s[at];
    }
    dre[size_t(k)] = acc_re;
    dim[size_t(k)] = acc_im;
  }
  RealFft fft(n);
  std::vector<double> re(static_cast<size_t>(bins)), im(static_cast<size_t>(bins)), back(static_cast<size_t>(n));
  fft.forward(x.data(), re.data(), im.data());
  double peak = 0, err = 0;
  for (int k = 0; k < bins; ++k) {
    peak = std::max(peak, std::hypot(dre[size_t(k)], dim[size_t(k)]));
    err = std::max(err, std::hypot(re[size_t(k)] - dre[size_t(k)], im[size_t(k)] - dim[size_t(k)]));
  }
  *forward_error = err / peak;
  fft.inverse(dre.data(), dim.data(), back.data());
  double xpeak = 0, ierr = 0;
  for (int j = 0; j < n; ++j) {
    xpeak = std::max(xpeak, std::fabs(x[size_t(j)]));
    ierr = std::max(ierr, std::fabs(back[size_t(j)] - x[size_t(j)]));
  }
  *inverse_error = ierr / xpeak;
}

// The mixed-radix transforms (dsp/mixed_fft.h) against a direct DFT in long double, through
// their packed layout (slot()): the real one, and the complex one on a + i·b. Errors relative
// to the spectrum's largest magnitude (forward) and the signal's peak (inverse, fed the direct
// DFT packed).
static void mixed_against_dft(int n, double* forward_error, double* inverse_error) {
  const auto a = noise(size_t(n), unsigned(n) * 17u + 3u), b = noise(size_t(n), unsigned(n) * 29u + 1u);
  const long double two_pi = 6.283185307179586476925286766559L;
  std::vector<std::complex<long double>> real_dft(static_cast<size_t>(n)), complex_dft(real_dft.size());
  for (int k = 0; k < n; ++k) {
    std::complex<long double> acc_r = 0, acc_c = 0;
    for (int j = 0; j < n; ++j) {
      const long double angle = -two_pi * (long double)((int64_t(j) * k) % n) / n;
      const std::complex<long double> w(std::cos(angle), std::sin(angle));
      acc_r += (long double)a[size_t(j)] * w;
      acc_c += std::complex<long double>(a[size_t(j)], b[size_t(j)]) * w;
    }
    real_dft[size_t(k)] = acc_r;
    complex_dft[size_t(k)] = acc_c;
  }
  double peak = 0, err = 0, ierr = 0;
  MixedRealFft real(n);
  std::vector<double> re(static_cast<size_t>(real.packed_size())), im(re.size()), back(static_cast<size_t>(n));
  real.forward(a.data(), re.data(), im.data());
  std::vector<double> dre(re.size(), 0.0), dim(re.size(), 0.0);
  for (int k = 0; k < n; ++k) {
    bool conjugated;
    const size_t at = size_t(real.slot(k, conjugated));
    const std::complex<long double> want = conjugated ? std::conj(real_dft[size_t(k)]) : real_dft[size_t(k)];
    peak = std::max(peak, double(std::abs(want)));
    err = std::max(err, double(std::abs(std::complex<long double>(re[at], im[at]) - want)));
    dre[at] = double(want.real());
    dim[at] = double(want.imag());
  }
  real.inverse(dre.data(), dim.data(), back.data());
  for (int j = 0; j < n; ++j) ierr = std::max(ierr, std::fabs(back[size_t(j)] - a[size_t(j)]));
  MixedComplexFft cplx(n);
  std::vector<double> cre(static_cast<size_t>(n)), cim(cre.size()), ba(cre.size()), bb(cre.size());
  cplx.forward(a.data(), b.data(), cre.data(), cim.data());
  std::vector<double> dcre(cre.size()), dcim(cre.size());
  for (int k = 0; k < n; ++k) {
    const size_t at = size_t(cplx.slot(k));
    const std::complex<long double> want = complex_dft[size_t(k)];
    peak = std::max(peak, double(std::abs(want)));
    err = std::max(err, double(std::abs(std::complex<long double>(cre[at], cim[at]) - want)));
    dcre[at] = double(want.real());
    dcim[at] = double(want.imag());
  }
  cplx.inverse(dcre.data(), dcim.data(), ba.data(), bb.data());
  for (int j = 0; j < n; ++j) {
    ierr = std::max(ierr, std::fabs(ba[size_t(j)] / n - a[size_t(j)]));
    ierr = std::max(ierr, std::fabs(bb[size_t(j)] / n - b[size_t(j)]));
  }
  double xpeak = 0;
  for (int j = 0; j < n; ++j) xpeak = std::max({xpeak, std::fabs(a[size_t(j)]), std::fabs(b[size_t(j)])});
  *forward_error = err / peak;
  *inverse_error = ierr / xpeak;
}

// The worst forward and inverse errors of one of the comparisons above over `sizes`.
static std::pair<double, double> worst_errors(std::initializer_list<int> sizes, void (*compare)(int, double*, double*)) {
  double worst_forward = 0, worst_inverse = 0;
  for (int n : sizes) {
    double fe = 0, ie = 0;
    compare(n, &fe, &ie);
    worst_forward = std::max(worst_forward, fe);
    worst_inverse = std::max(worst_inverse, ie);
  }
  return {worst_forward, worst_inverse};
}

// ---- Noise reduction against a direct implementation of reference-pipeline.md §6 ---------
// Written apart from dsp/denoise.cc, the plainest way: a recursive complex FFT over the full
// 1024 points, arrays bin by frame, the 2-D smoothing kernel applied as one 2-D sum, the
// summed squared window accumulated frame by frame, and the window layout spelt out.
namespace reference_nr {

using cplx = std::complex<double>;

// Unscaled DFT by recursive radix-2 splitting; sign −1 forward, +1 inverse.
void fft(std::vector<cplx>& a, int sign) {
  const size_t n = a.size();
  if (n == 1) return;
  std::vector<cplx> even(n / 2), odd(n / 2);
  for (size_t i = 0; i < n / 2; ++i) {
    even[i] = a[2 * i];
    odd[i] = a[2 * i + 1];
  }
  fft(even, sign);
  fft(odd, sign);
  const double pi = 3.14159265358979323846;
  for (size_t k = 0; k < n / 2; ++k) {
    const cplx t = std::polar(1.0, sign * 2 * pi * double(k) / double(n)) * odd[k];
    a[k] = even[k] + t;
    a[k + n / 2] = even[k] - t;
  }
}

// One chunk, denoised; the samples [from, from + count) of the result.
std::vector<double> chunk(const std::vector<double>& x, int sr, double p, size_t from, size_t count) {
  const int nfft = 1024, hop = 256, half = 512, bins = 513;
  const double pi = 3.14159265358979323846;
  std::vector<double> w(nfft);
  double wsum = 0;
  for (int i = 0; i < nfft; ++i) wsum += w[size_t(i)] = 0.5 - 0.5 * std::cos(2 * pi * i / nfft);
  std::vector<double> ext(x.size() + 2 * half, 0.0);
  std::copy(x.begin(), x.end(), ext.begin() + half);
  const size_t frames = 1 + (ext.size() - nfft) / hop;
  // spec[k][t]
  std::vector<std::vector<cplx>> spec(bins, std::vector<cplx>(frames));
  std::vector<cplx> a(nfft);
  for (size_t t = 0; t < frames; ++t) {
    for (int i = 0; i < nfft; ++i) a[size_t(i)] = ext[t * hop + size_t(i)] * w[size_t(i)];
    fft(a, -1);
    for (int k = 0; k < bins; ++k) spec[size_t(k)][t] = a[size_t(k)] / wsum;
  }
  const double tf = 2.0 * sr / hop;
  const double b = (std::sqrt(1 + 4 * tf * tf) - 1) / (2 * tf * tf);
  std::vector<std::vector<double>> mask(bins, std::vector<double>(frames));
  for (int k = 0; k < bins; ++k) {
    std::vector<double> m(frames), fwd(frames), f(frames);
    for (size_t t = 0; t < frames; ++t) m[t] = std::abs(spec[size_t(k)][t]);
    double y = m[0];
    for (size_t t = 0; t < frames; ++t) fwd[t] = y = b * m[t] + (1 - b) * y;
    y = fwd[frames - 1];
    for (size_t t = frames; t-- > 0;) f[t] = y = b * fwd[t] + (1 - b) * y;
    for (size_t t = 0; t < frames; ++t) {
      const double over = (m[t] - f[t]) / f[t];
      mask[size_t(k)][t] = 1 / (1 + std::exp(-10 * (over - 2)));
    }
  }
  const int gf = int(500 / (sr / 512.0)), gt = int(50 / (256.0 / sr * 1000));
  std::vector<std::vector<double>> kernel(2 * gf + 1, std::vector<double>(2 * gt + 1));
  double ksum = 0;
  for (int i = -gf; i <= gf; ++i) {
    for (int j = -gt; j <= gt; ++j) {
      const double v = double(gf + 1 - std::abs(i)) / (gf + 1) * (double(gt + 1 - std::abs(j)) / (gt + 1));
      kernel[size_t(i + gf)][size_t(j + gt)] = v;
      ksum += v;
    }
  }
  std::vector<double> out(ext.size(), 0.0), norm(ext.size(), 0.0), frame(nfft);
  for (size_t t = 0; t < frames; ++t) {
    for (int i = 0; i < nfft; ++i) norm[t * hop + size_t(i)] += w[size_t(i)] * w[size_t(i)];
    // Frames that reach no kept sample change nothing that is kept.
    const int64_t start = int64_t(t * hop) - half;
    if (start + nfft <= int64_t(from) || start >= int64_t(from + count)) continue;
    for (int k = 0; k < bins; ++k) {
      double sm = 0;
      for (int i = -gf; i <= gf; ++i) {
        for (int j = -gt; j <= gt; ++j) {
          const int kk = k + i;
          const int64_t tt = int64_t(t) + j;
          if (kk < 0 || kk >= bins || tt < 0 || tt >= int64_t(frames)) continue;
          sm += kernel[size_t(i + gf)][size_t(j + gt)] / ksum * mask[size_t(kk)][size_t(tt)];
        }
      }
      const cplx v = spec[size_t(k)][t] * (sm * p + (1 - p));
      a[size_t(k)] = v;
      if (k > 0 && k < nfft / 2) a[size_t(nfft - k)] = std::conj(v);
    }
    a[0] = a[0].real();
    a[nfft / 2] = a[nfft / 2].real();
    fft(a, +1);
    for (int i = 0; i < nfft; ++i) out[t * hop + size_t(i)] += a[size_t(i)].real() / nfft * wsum * w[size_t(i)];
  }
  const size_t yielded = (frames - 1) * hop;  // the inverse's length once the extension is removed
  std::vector<double> y(x.size(), 0.0);
  for (size_t i = 0; i < std::min(yielded, x.size()); ++i) {
    const double nv = norm[i + half];
    y[i] = nv > 1e-10 ? out[i + half] / nv : out[i + half];
  }
  return std::vector<double>(y.begin() + long(from), y.begin() + long(from + count));
}

std::vector<double> denoise(const std::vector<double>& x, int sr, double p) {
  const int64_t n = int64_t(x.size()), step = 600000, pad = 30000;
  std::vector<double> out;
  if (n <= step) {
    std::vector<double> c(size_t(n + 2 * pad), 0.0);
    std::copy(x.begin(), x.end(), c.begin() + pad);
    return chunk(c, sr, p, size_t(pad), size_t(n));
  }
  for (int64_t k = 0; step * k < n; ++k) {
    std::vector<double> c(size_t(step + 2 * pad), 0.0);
    for (int64_t i = step * k - pad; i < step * (k + 1) + pad; ++i) {
      if (i >= 0 && i < n) c[size_t(i - (step * k - pad))] = x[size_t(i)];
    }
    const auto part = chunk(c, sr, p, size_t(pad), size_t(std::min(step, n - step * k)));
    out.insert(out.end(), part.begin(), part.end());
  }
  return out;
}

}  // namespace reference_nr

// The default (fastest) form against the direct form on n samples of noise: the largest
// |difference| relative to the RMS, or 1e9 when their lengths differ.
static double fastest_against_direct(int rate_in, int rate_out, size_t n) {
  const auto x = noise(n, unsigned(rate_in + rate_out));
  const auto fast = resample(x.data(), x.size(), rate_in, rate_out);
  const auto direct = resample(x.data(), x.size(), rate_in, rate_out, Resampler::Form::kDirect);
  return fast.size() == direct.size() ? test::max_difference_of_rms(fast, direct) : 1e9;
}

// The high-pass's reference: its sections run one after another over the whole signal.
static std::vector<double> sections_in_turn(std::vector<double> x, int rate) {
  for (const auto& sec : HighpassDesign::butterworth(rate).sections) {
    double z[2] = {0, 0};
    kernels::biquad_run(sec, z, x.data(), x.data(), (long long)x.size());
  }
  return x;
}

// A speech-like test signal: voiced bursts (harmonics under an envelope) and pauses over a
// noise floor, with a 50 Hz hum.
static std::vector<double> speech_with_noise(size_t n, int sr, unsigned seed) {
  std::vector<double> x(n);
  unsigned s = seed;
  auto rnd = [&]() { s = s * 1664525u + 1013904223u; return double(s >> 8) / double(1u << 24); };
  size_t burst = 0, pause = 0, len = 1;
  double f0 = 150, gain = 0.2;
  const double pi = 3.14159265358979323846;
  for (size_t i = 0; i < n; ++i) {
    if (burst == 0 && pause == 0) {
      len = burst = size_t(sr * (0.3 + rnd() * 2.0));
      pause = size_t(sr * (0.05 + rnd() * 0.8));
      f0 = 90 + rnd() * 180;
      gain = 0.05 + rnd() * 0.3;
    }
    double v = (rnd() - 0.5) * 4e-3 + 2e-3 * std::sin(2 * pi * 50 * double(i) / sr);
    if (burst > 0) {
      const double env = std::sin(pi * double(len - burst) / double(len));
      for (int h = 1; h <= 8; ++h) v += gain * env * std::sin(2 * pi * f0 * h * double(i) / sr) / h;
      --burst;
    } else {
      --pause;
    }
    x[i] = v;
  }
  return x;
}

// Streams x through the product's Denoiser in uneven blocks.
static std::vector<double> denoise_streamed(const std::vector<double>& x, int sr, double p, unsigned seed,
                                            size_t* max_held) {
  Denoiser d(sr, p);
  std::vector<double> out;
  unsigned s = seed;
  for (size_t at = 0; at < x.size();) {
    s = s * 1664525u + 1013904223u;
    const size_t n = std::min(x.size() - at, size_t(1 + (s >> 8) % 90000));
    d.push(x.data() + at, n, out);
    *max_held = std::max(*max_held, d.held());
    at += n;
  }
  d.finish(out);
  return out;
}

int main() {
  // Digital silence: where all of an output's inputs are exact zeros the direct form (the
  // GPU's) gives exact zeros, and so must the FFT and cascade forms, streamed or not, and
  // nowhere else (their rounding residue there, about 1e-18, moved the slicer's cuts away
  // from the GPU path's). Gaps shorter and longer than a filter's reach, some just longer,
  // one at the start, a signal ending in silence, and a signal of silence alone.
  {
    const int pairs[][2] = {{48000, 40000}, {44100, 40000}, {40000, 16000}, {16000, 40000}, {22050, 48000}, {32000, 48000}};
    for (auto& p : pairs) {
      std::vector<double> x = noise(40000, unsigned(p[0]));
      for (size_t i = 0; i < 1500; ++i) x[i] = 0;              // silence from the start
      for (size_t i = 9000; i < 9100; ++i) x[i] = 0;           // shorter than a filter's reach
      for (size_t i = 15000; i < 21000; ++i) x[i] = 0;         // a pause
      for (size_t i = 27000; i < 27400; ++i) x[i] = -0.0;      // negative zeros count too
      for (size_t i = 36000; i < x.size(); ++i) x[i] = 0;      // ending in silence
      // Runs just long enough to hold an output's whole support (2·half inputs, or a few
      // more), at several offsets: the scan looks only at every 2·half-th sample.
      const size_t reach = size_t(2 * ResamplerDesign::get(p[0], p[1])->half);
      for (size_t j = 0; j < 4; ++j) {
        for (size_t i = 0; i < reach + 1 + 2 * j; ++i) x[28000 + j * 2000 + 37 * j + i] = 0;
      }
      // One that starts where a pushed block (below) starts.
      for (size_t i = 10200; i < 10200 + reach + 1; ++i) x[i] = 0;
      const std::vector<double> silent(5000, 0.0);
      for (const std::vector<double>* signal : {static_cast<const std::vector<double>*>(&x), &silent}) {
        const auto direct = resample(signal->data(), signal->size(), p[0], p[1], Resampler::Form::kDirect);
        Resampler r(p[0], p[1]);
        std::vector<double> streamed;
        for (size_t at = 0, step = 7; at < signal->size(); at += step, step = step * 2 + 3) {
          r.push(signal->data() + at, std::min(step, signal->size() - at), streamed);
        }
        r.finish(streamed);
        std::vector<double> whole;
        r.reset();
        r.push_all(signal->data(), signal->size(), whole);
        size_t zeros = 0;
        bool same_zeros = streamed.size() == direct.size() && whole == streamed;
        for (size_t i = 0; same_zeros && i < direct.size(); ++i) {
          same_zeros = (direct[i] == 0.0) == (streamed[i] == 0.0);
          zeros += direct[i] == 0.0;
        }
        check(same_zeros && zeros > (signal == &x ? 100 : direct.size() - 1) &&
                  test::max_difference_of_rms(streamed, direct) < 1e-9,
              "resampler " + std::to_string(p[0]) + "->" + std::to_string(p[1]) + (signal == &x ? " gaps" : " silence") +
                  ": exact zeros where the direct form's are, and only there (" + std::to_string(zeros) + " of them)");
      }
    }
  }

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
    // Pushed from arrays the way the pipeline reads (push_within: each push preceded in its
    // array by the pushes before it from the same array), the arrays of uneven lengths, some
    // starting just before, at or just after where an FFT block's inputs start, each
    // overwritten with NaNs once its pushes are done: the same samples. In between, the
    // stream holds at most one block's inputs of its own.
    {
      const auto lx = noise(100003, 17);
      const auto lwhole = resample(lx.data(), lx.size(), p[0], p[1]);
      const auto d = ResamplerDesign::get(p[0], p[1]);
      const auto& plan = d->fft;
      std::vector<size_t> starts;
      for (size_t at = 5, len = 26; at < lx.size(); at += len, len = len * 2 + 11) starts.push_back(at);
      if (plan) {
        const long long offsets[] = {1, 0, 3};
        for (int j = 1; j <= 3; ++j) {
          const long long at = (j * plan->block + plan->s_lo) * d->down + offsets[j - 1];
          if (at > 0 && size_t(at) < lx.size()) starts.push_back(size_t(at));
        }
      }
      std::sort(starts.begin(), starts.end());
      starts.erase(std::unique(starts.begin(), starts.end()), starts.end());
      starts.push_back(lx.size());
      Resampler rw(p[0], p[1]);
      std::vector<double> within;
      size_t pos = 0, push_len = 1, most_held = 0;
      for (size_t end : starts) {
        std::vector<double> array(lx.begin() + long(pos), lx.begin() + long(end));
        for (size_t at = 0; at < array.size(); at += push_len, push_len = push_len > 6000 ? 1 : push_len * 2 + 3) {
          rw.push_within(array.data() + at, at, std::min(push_len, array.size() - at), within);
        }
        // Once an array is long enough that the blocks read in it, what the stream holds of its
        // own is the next block's inputs at most.
        if (plan && array.size() >= 2 * size_t(plan->n_in)) most_held = std::max(most_held, rw.held_samples());
        std::fill(array.begin(), array.end(), std::nan(""));
        pos = end;
      }
      rw.finish(within);
      check(within == lwhole && (!d->fft || (most_held > 0 && most_held < size_t(d->fft->n_in))),
            "resampler " + std::to_string(p[0]) + "->" + std::to_string(p[1]) +
                " push_within (blocks read in the caller's array) gives push()'s samples, holding " +
                std::to_string(most_held) + " samples of its own at most");
    }
    // The whole signal in one call, read in place (push_all), on a stream used before: the
    // same samples again.
    std::vector<double> at_once;
    r.reset();
    r.push_all(x.data(), x.size(), at_once);
    check(at_once == whole, "resampler " + std::to_string(p[0]) + "->" + std::to_string(p[1]) +
                                " push_all gives push() and finish()'s samples");
    // After a push(), push_all() is the rest of the stream.
    std::vector<double> in_two;
    r.reset();
    r.push(x.data(), 12345, in_two);
    r.push_all(x.data() + 12345, x.size() - 12345, in_two);
    check(in_two == whole, "resampler " + std::to_string(p[0]) + "->" + std::to_string(p[1]) +
                               " push_all after push() ends the same stream");
    check(int64_t(whole.size()) == resampled_length(int64_t(x.size()), p[0], p[1]),
          "resampler " + std::to_string(p[0]) + "->" + std::to_string(p[1]) + " length rule");
    // Reset (as the pipeline reuses one per worker for the 16 kHz outputs), it starts over
    // as a fresh one: another signal, cut off mid-block, then reset and fed a third.
    {
      const auto other = noise(20011, 8), third = noise(17389, 9);
      r.reset();
      std::vector<double> discard;
      r.push(other.data(), other.size() / 2, discard);
      r.reset();
      std::vector<double> reused;
      r.push(third.data(), third.size(), reused);
      r.finish(reused);
      check(reused == resample(third.data(), third.size(), p[0], p[1]),
            "resampler " + std::to_string(p[0]) + "->" + std::to_string(p[1]) + " after reset() equals a fresh one");
    }
    // DC passes with unit gain away from the edges.
    std::vector<double> dc(20000, 1.0);
    const auto y = resample(dc.data(), dc.size(), p[0], p[1]);
    check(std::fabs(y[y.size() / 2] - 1.0) < 1e-7, "resampler " + std::to_string(p[0]) + "->" +
                                                         std::to_string(p[1]) + " unit DC gain");
  }
  // dot_many (the resampler's CPU loop) gives exactly dot()'s bits (the GPU's arithmetic).
  {
    bool same = true;
    for (int n : {1, 31, 32, 33, 288, 352, 704, 705}) {
      const auto h = noise(size_t(4 * n), unsigned(n)), x = noise(size_t(4 * n), unsigned(n + 7));
      const double* hs[4] = {h.data(), h.data() + n, h.data() + 2 * n, h.data() + 3 * n};
      const double* xs[4] = {x.data(), x.data() + n, x.data() + 2 * n, x.data() + 3 * n};
      double got[4];
      kernels::dot_many<4>(hs, xs, n, got);
      for (int m = 0; m < 4; ++m) same = same && got[m] == kernels::dot(hs[m], xs[m], n);
    }
    check(same, "four interleaved dot products give dot()'s bits (lengths 1 to 705)");
  }
  // hop_squares_group (the slicer's CPU loop) gives exactly hop_squares()'s bits (the GPU's),
  // and the frames the streaming cut makes from hops are frame_rms_at()'s (the GPU's).
  {
    // Noise with all 53 bits in use (24-bit values square exactly, and their sums then round
    // the same in almost any order).
    auto x = noise(40000, 11);
    for (size_t i = 0; i < x.size(); ++i) x[i] = x[i] * 1.2345678901234567 + 1e-3 * std::sin(0.1 * double(i));
    bool same = true;
    for (long long hop : {1, 3, 441, 600, 662}) {
      double got[kHopGroup];
      hop_squares_group(x.data(), 37, hop, got);
      for (int j = 0; j < kHopGroup; ++j) same = same && got[j] == kernels::hop_squares(x.data(), 37 + j * hop, 37 + (j + 1) * hop);
    }
    check(same, "a group of hops' sums of squares at once gives hop_squares()'s bits (hops of 1, 3, 441, 600 and 662)");
  }
  // The resampler's FFT form against its direct form, for the pairs that have one: the same
  // sums but for the stop band's aliases, which the direct form folds in and the FFT form
  // leaves out (each below the stop band's −182 dB).
  {
    const int pairs[][2] = {{48000, 40000}, {40000, 16000}, {32000, 16000}, {48000, 16000}, {16000, 48000},
                            {48000, 32000}, {44100, 40000}, {22050, 40000}, {44100, 48000}, {11025, 16000},
                            {96000, 44100}, {8000, 44100}, {192000, 40000}, {44100, 16000}};
    for (const auto& p : pairs) {
      const bool has_fft = ResamplerDesign::get(p[0], p[1])->fft != nullptr;
      const double rel = fastest_against_direct(p[0], p[1], size_t(p[0]) + 1237);
      char line[200];
      std::snprintf(line, sizeof line, "resampler %d->%d: the FFT form equals the direct form (max |difference| %.1e of the RMS; bound 1e-9)",
                    p[0], p[1], rel);
      check(has_fft && rel < 1e-9, line);
    }
  }
  // The cascade form (a sharp band stage by FFT, then a short step) against the direct
  // form, for pairs whose sizes the FFT form cannot take: the same response within the step's
  // ripple, edges included (the pad carries both stages' ringing).
  {
    const int pairs[][2] = {{44101, 40000}, {22051, 48000}, {12345, 16000}, {96001, 44100}, {8000, 44101}};
    for (const auto& p : pairs) {
      const auto d = ResamplerDesign::get(p[0], p[1]);
      const double rel = fastest_against_direct(p[0], p[1], size_t(p[0]) / 2 + 1237);
      char line[240];
      std::snprintf(line, sizeof line, "resampler %d->%d: the cascade form (step up %lld, %d-tap step) equals the direct form (max |difference| %.1e of the RMS; bound 1e-9)",
                    p[0], p[1], d->cascade ? (long long)(d->cascade->step->rate_in / p[0]) : 0LL,
                    d->cascade ? d->cascade->step->taps : 0, rel);
      check(d->cascade && rel < 1e-9, line);
    }
  }
  // High-pass. Stretches too short for the block scan run sample by sequential sample: their
  // one pass over the three sections gives the bits of one section after another.
  {
    const auto x = noise(300007, 21);
    std::vector<double> one = x;
    Highpass hp(48000);
    const size_t sequential_max = size_t(Highpass::kLanes * Highpass::kBlock);  // 8 full blocks and a last
    for (size_t at = 0, step = 1; at < one.size(); at += step, step = step * 2 + 1) {
      step = std::min(step, sequential_max);
      hp.process(one.data() + at, std::min(step, one.size() - at));
    }
    check(one == sections_in_turn(x, 48000), "high-pass over short stretches equals its sections one after another, bit for bit");
  }
  // High-pass: longer stretches run as a block scan with the blocks in vector lanes. Against
  // the sections one after another on speech-like signal, streamed in stretches of uneven
  // lengths (from just past the scan's threshold to whole seconds, the state carried from one
  // to the next); and the same stretches give the same bits again.
  for (int rate : {16000, 32000, 40000, 48000}) {
    const auto x = speech_with_noise(size_t(rate) * 9 + 101, rate, unsigned(rate / 1000 + 5));
    const auto seq = sections_in_turn(x, rate);
    auto streamed = [&]() {
      std::vector<double> y = x;
      Highpass hp(rate);
      size_t step = size_t(Highpass::kLanes * Highpass::kBlock) + 1;
      for (size_t at = 0; at < y.size(); at += step, step = step * 3 / 2 + 17) {
        hp.process(y.data() + at, std::min(step, y.size() - at));
      }
      return y;
    };
    const auto scan = streamed();
    const double err = test::max_difference_of_rms(scan, seq);
    char line[160];
    std::snprintf(line, sizeof line,
                  "high-pass block scan at %d Hz equals the sequential filter within 1e-11 of the RMS (max |difference| %.1e)",
                  rate, err);
    check(err < 1e-11 && err > 0, line);
    check(streamed() == scan, "high-pass block scan at " + std::to_string(rate) + " Hz: the same stretches, the same bits");
  }
  // High-pass: DC is removed, a 1 kHz tone passes.
  {
    Highpass hp(40000);
    std::vector<double> dc(40000 * 2, 1.0);
    hp.process(dc.data(), dc.size());
    check(std::fabs(dc.back()) < 1e-6, "high-pass removes DC");
  }
  // High-pass: the design and the scan's tables are made once per rate and shared (a file's
  // filter is not designed again), and a filter on shared tables filters as the first did.
  {
    const auto speech = [] {
      std::vector<double> x(40000);
      for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.001 * double(i)) + 0.3 * std::sin(0.37 * double(i) + 1.0);
      return x;
    };
    std::vector<double> first = speech(), second = speech();
    Highpass a(40000);
    a.process(first.data(), first.size());
    Highpass b(40000), c(48000);
    b.process(second.data(), second.size());
    check(Highpass::tables(40000) == Highpass::tables(40000) && Highpass::tables(48000) != Highpass::tables(40000) &&
              &a.design() == &b.design() && &c.design() != &a.design() && first == second &&
              c.design().b == HighpassDesign::butterworth(48000).b && a.design().a == HighpassDesign::butterworth(40000).a,
          "high-pass: one design and one set of tables per rate, shared by its filters, which filter alike");
  }
  // Roots to about 30 digits (the high-pass design's factoring). x³ − x²/2 − 2x + 1 =
  // (x² − 2)(x − 1/2): √2 in double-double is 1.4142135623730951 − 9.667293313452913e-17.
  {
    const auto r = polish_roots({1.0, -0.5, -2.0, 1.0}, 0.0, {{1.4, 0.1}, {-1.4, -0.1}, {0.6, 0.05}});
    bool found = false;
    for (const PreciseRoot& x : r) {
      if (x.re == 1.4142135623730951 && std::fabs(x.re_lo + 9.667293313452913e-17) < 1e-31 && std::fabs(x.im) < 1e-30) found = true;
    }
    check(found, "polish_roots finds sqrt(2) to double-double precision");
    // Five roots exactly at 1 come out exactly (the shifted polynomial is w⁵).
    bool exact = true;
    for (const PreciseRoot& x : polish_roots({1, -5, 10, -10, 5, -1}, 1.0)) exact = exact && x.re == 1 && x.re_lo == 0 && x.im == 0;
    check(exact, "polish_roots: a five-fold root at the center comes out exact");
    // (x − 1)⁵ + e: five roots on a circle of radius e^(1/5) about 1, at angles π(2k + 1)/5.
    const double last = -1 + 1e-15, e = last + 1;  // e exactly, by Sterbenz's lemma
    const auto spread = polish_roots({1, -5, 10, -10, 5, last}, 1.0);
    double worst = 0;
    for (int k = 0; k < 5; ++k) {
      const std::complex<long double> want = std::polar((long double)std::pow((long double)e, 0.2L), (long double)M_PI * (2 * k + 1) / 5);
      double nearest = INFINITY;
      for (const PreciseRoot& x : spread) {
        const long double dr = ((long double)x.re - 1 + (long double)x.re_lo) - want.real(), di = (long double)x.im - want.imag();
        nearest = std::min(nearest, double(std::sqrt(dr * dr + di * di)));
      }
      worst = std::max(worst, nearest);
    }
    char line[160];
    std::snprintf(line, sizeof line, "polish_roots: a root cluster 1e-3 about its center, each root within 1e-17 (worst %.1e)", worst);
    check(worst < 1e-17, line);
  }
  // High-pass: the sections are the reference's own filter, the transfer function (b, a) as
  // rounded to float64 (poles moved ~1e-7, zeros spread ~1e-4 from the exact Butterworth's).
  // Against that transfer function run in long double (its float64 run adds rounding noise
  // of its own at 102–143 dB): 173–216 dB here. Sections of the exact Butterworth reach
  // 134–149 dB at 32–48 kHz (173 at 16 kHz, where the rounding moves the roots least).
  for (int rate : {16000, 32000, 40000, 44100, 48000}) {
    const HighpassDesign d = HighpassDesign::butterworth(rate);
    const auto x = speech_with_noise(size_t(rate) * 6, rate, unsigned(rate / 1000 + 9));
    std::vector<double> tf(x.size());
    long double z[HighpassSpec::kOrder] = {};
    for (size_t i = 0; i < x.size(); ++i) {
      const long double v = x[i], y = z[0] + (long double)d.b[0] * v;
      for (int k = 0; k + 1 < HighpassSpec::kOrder; ++k) z[k] = z[k + 1] + v * (long double)d.b[k + 1] - y * (long double)d.a[k + 1];
      z[HighpassSpec::kOrder - 1] = v * (long double)d.b[HighpassSpec::kOrder] - y * (long double)d.a[HighpassSpec::kOrder];
      tf[i] = double(y);
    }
    const double snr = test::snr_db(tf, sections_in_turn(x, rate));
    char line[160];
    std::snprintf(line, sizeof line, "high-pass sections at %d Hz are the reference's rounded transfer function: SNR %.1f dB (bound 160)", rate, snr);
    check(snr >= 160, line);
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
  // Automatic cut: the streaming cutter hands out exactly the batch slicer's segments, from
  // the same RMS frames bit for bit.
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
  // Spare buffers between files: the smallest spare that holds what is asked, else the
  // largest; at most kMaxSpares kept, the largest of those given back; each comes back empty.
  {
    using Spares = SpareBuffers<std::vector<int>>;  // a type no stage uses: this thread's list starts empty
    auto grown = [](size_t capacity) {
      std::vector<int> v;
      v.reserve(capacity);
      v.push_back(1);
      return v;
    };
    for (size_t c : {100, 1000, 10000, 50}) Spares::give_back(grown(c));
    Spares::give_back(grown(20));    // full, and smaller than any kept: dropped
    Spares::give_back(grown(5000));  // full: replaces the 50
    const auto a = Spares::take(500), b = Spares::take(), c = Spares::take(20000), d = Spares::take(5), e = Spares::take();
    check(a.capacity() == 1000 && b.capacity() == 10000 && c.capacity() == 5000 && d.capacity() == 100 &&
              e.capacity() == 0 && a.empty() && b.empty() && c.empty() && d.empty(),
          "spare buffers: the smallest that fits, else the largest; the largest kept when full; handed out empty");
    Spares::give_back(grown(300));
    Spares::give_back(grown(400));
    const long kept = Spares::kept();
    Spares::release();
    check(kept == 2 && Spares::kept() == 0 && Spares::take().capacity() == 0,
          "spare buffers: release() frees a thread's spares (" + std::to_string(kept) + " kept before)");
  }
  // A cutter starts from the buffer the one before it on the same thread grew (a file's
  // stages do not grow their buffers, and fault their pages in, all over again).
  {
    size_t grew = 0, started = 1;
    std::thread([&] {
      const auto x = bursts(40000, {5, 0.2, 4, 0.6, 7}, 9);
      {
        AutomaticCutter first(40000);
        first.push(x.data(), x.size(), [](const Segment&, const double*) {});
        grew = first.input().capacity();
      }
      AutomaticCutter second(40000);
      started = second.input().capacity();
      if (!second.input().empty()) started = 0;
    }).join();
    check(grew > 0 && started == grew, "a second automatic cut on a thread starts with the first one's buffer (" +
                                           std::to_string(started) + " samples of room, grown to " +
                                           std::to_string(grew) + ")");
  }
  // FFT: the real transform against a direct DFT, both in float64, sizes 8 to 4096.
  {
    const auto [worst_forward, worst_inverse] = worst_errors({8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096}, fft_against_dft);
    const bool ok = worst_forward <= 1e-13 && worst_inverse <= 1e-13;
    char line[200];
    std::snprintf(line, sizeof line, "real FFT matches a direct DFT for n = 8..4096 (worst relative error forward %.1e, inverse %.1e; bound 1e-13)",
                  worst_forward, worst_inverse);
    check(ok, line);
  }
  // The mixed-radix transforms against a direct DFT: powers of two, each odd radix alone and
  // together, and the resampler's sizes (48 and 40 kHz blocks, 44.1 kHz's 441·2^k).
  {
    const auto [worst_forward, worst_inverse] =
        worst_errors({8, 64, 12, 20, 28, 36, 100, 196, 420, 768, 640, 1372, 1764}, mixed_against_dft);
    const bool ok = worst_forward <= 1e-13 && worst_inverse <= 1e-13;
    char line[240];
    std::snprintf(line, sizeof line, "mixed-radix FFTs (real and complex, sizes 8 to 1764 with factors 3, 5 and 7) match a direct DFT (worst relative error forward %.1e, inverse %.1e; bound 1e-13)",
                  worst_forward, worst_inverse);
    check(ok, line);
    check(!MixedRealFft::supported(22) && !MixedRealFft::supported(6) && !MixedComplexFft::supported(2 * 11 * 4) &&
              MixedRealFft::supported(441 * 4),
          "mixed-radix FFT sizes: a power of two of at least 4 times 3s, 5s and 7s only");
  }
  // Four lanes and eight (vector_lanes(): the FFT's radix-4 steps and the mixed-radix passes,
  // timed once per process) give the same bits: FFTs of every size, mixed-radix ones with
  // each odd factor, and the pairs that run in the FFT form (44.1 kHz's sizes hold 3s and 7s).
  {
    const int timed = vector_lanes();
    check(timed == 4 || timed == 8, "vector lanes timed: " + std::to_string(timed));
    bool ok = true;
    std::string where;
    auto both = [&](auto run) {
      set_vector_lanes(4);
      const auto four = run();
      set_vector_lanes(8);
      const auto eight = run();
      return four.size() == eight.size() && std::memcmp(four.data(), eight.data(), four.size() * sizeof(double)) == 0;
    };
    // Every value a transform's forward and inverse give for noise of its size.
    auto round_trip = [](auto& fft, size_t bins, const std::vector<double>& x) {
      std::vector<double> re(bins), im(bins), back(x.size()), all;
      fft.forward(x.data(), re.data(), im.data());
      fft.inverse(re.data(), im.data(), back.data());
      for (auto* v : {&re, &im, &back}) all.insert(all.end(), v->begin(), v->end());
      return all;
    };
    for (int n = 8; n <= 8192; n *= 2) {
      const auto x = noise(size_t(n), 17);
      const bool same = both([&] {
        RealFft fft(n);
        return round_trip(fft, size_t(fft.bins()), x);
      });
      if (!same) ok = false, where += " fft " + std::to_string(n);
    }
    for (int n : {24, 40, 56, 96 * 7, 441 * 16, 400 * 32}) {
      const auto x = noise(size_t(n), 23);
      const bool same = both([&] {
        MixedRealFft fft(n);
        return round_trip(fft, size_t(fft.packed_size()), x);
      });
      if (!same) ok = false, where += " mixed fft " + std::to_string(n);
    }
    const auto signal = noise(96000 * 2 + 77, 19);
    for (const auto& pair : {std::pair{48000, 40000}, std::pair{44100, 40000}, std::pair{40000, 16000}, std::pair{16000, 40000}}) {
      const bool same = both([&] { return resample(signal.data(), signal.size(), pair.first, pair.second); });
      if (!same) ok = false, where += " " + std::to_string(pair.first) + "->" + std::to_string(pair.second);
    }
    set_vector_lanes(0);
    check(ok, "FFT and resampler: the same bits at four and eight vector lanes" + (ok ? "" : " (differ:" + where + ")"));
  }
  // The FFT's other entry points against the plain ones, bit for bit (each has its own
  // vectorized load or store): a windowed forward against the forward of the product, a
  // strided forward against the forward of the gathered samples, and an inverse keeping
  // `count` samples at a stride against the first `count` of the whole inverse.
  {
    bool ok = true;
    for (int n : {8, 16, 32, 512, 1024, 2048}) {
      RealFft fft(n);
      const int bins = fft.bins();
      const auto x = noise(size_t(n), 11);
      std::vector<double> window(static_cast<size_t>(n)), product(static_cast<size_t>(n));
      for (int i = 0; i < n; ++i) {
        window[size_t(i)] = kernels::hann_periodic(i, n);
        product[size_t(i)] = x[size_t(i)] * window[size_t(i)];
      }
      std::vector<double> re1(static_cast<size_t>(bins)), im1(static_cast<size_t>(bins)), re2(static_cast<size_t>(bins)),
          im2(static_cast<size_t>(bins));
      fft.forward(x.data(), re1.data(), im1.data(), window.data());
      fft.forward(product.data(), re2.data(), im2.data());
      ok = ok && std::memcmp(re1.data(), re2.data(), sizeof(double) * size_t(bins)) == 0 &&
           std::memcmp(im1.data(), im2.data(), sizeof(double) * size_t(bins)) == 0;
    }
    check(ok, "real FFT: the windowed forward gives the plain transform's bits (n = 8..2048)");
  }
  // The vector loops' fixed arrays start on a cache line (AlignedVector): on malloc's 16
  // bytes, half of them straddled boundaries and ran up to 30% slower.
  {
    bool ok = true;
    auto on_line = [](const void* p) { return reinterpret_cast<std::uintptr_t>(p) % kVectorAlignment == 0; };
    std::vector<AlignedVector<double>> held;  // kept, so that each allocation lands elsewhere
    for (size_t n = 1; n <= 5000; n += 37) {
      held.emplace_back(n, 1.0);
      ok = ok && on_line(held.back().data());
    }
    AlignedVector<double> grown;
    for (int i = 0; i < 3000; ++i) {
      grown.push_back(i);
      ok = ok && on_line(grown.data());
    }
    check(ok, "AlignedVector storage starts on a 64-byte line, whatever the size and after growing");
  }
  // The mask's exponential (shared with the GPU, so no library call): against std::exp over
  // its whole range, at every half-ln 2 boundary of its reduction and in between, and clamped
  // outside [−700, 700].
  {
    double worst = 0;
    auto test_at = [&](double z) {
      const double want = std::exp(std::min(700.0, std::max(-700.0, z)));
      worst = std::max(worst, std::fabs(kernels::exp_clamped(z) - want) / want);
    };
    for (double u : noise(200000, 5)) test_at(1400.0 * u);  // uniform over [−700, 700)
    for (int k = -1010; k <= 1010; ++k) {
      const double edge = (k + 0.5) * 0.6931471805599453;
      for (double d : {-1e-12, 0.0, 1e-12}) test_at(edge + d);
    }
    for (double z : {0.0, -0.0, 1e-300, -1e-300, 1e-9, -1e-9, 1.0, -1.0, 699.9, -699.9, 700.0, -700.0}) test_at(z);
    const bool clamped = kernels::exp_clamped(800.0) == kernels::exp_clamped(700.0) &&
                         kernels::exp_clamped(-1e6) == kernels::exp_clamped(-700.0);
    char line[160];
    std::snprintf(line, sizeof line, "the mask's exponential: within 3e-16 of std::exp over [-700, 700], clamped outside (worst %.1e)", worst);
    check(worst < 3e-16 && clamped, line);
  }
  // Noise reduction: the streaming stage against the direct implementation of §6, on signals
  // of one short window, just over one window, and over two windows (so two chunk joins), and
  // one of a twentieth of a second (its span's frames less than one block of the backward pass).
  {
    const DenoiseDesign d = DenoiseDesign::make(40000, 0.7);
    check(d.freq_half == 6 && d.time_half == 7 && std::fabs(d.floor_b - 0.0031948840959973783) < 1e-15,
          "noise reduction figures at 40 kHz (g_f 6 bins, g_t 7 frames, b)");
    struct Case { size_t n; int sr; double p; unsigned seed; };
    const Case cases[] = {{1600000, 40000, 0.7, 11}, {615000, 40000, 0.7, 12}, {250000, 32000, 1.0, 13}, {3000, 48000, 0.7, 15}};
    for (const Case& c : cases) {
      const auto x = speech_with_noise(c.n, c.sr, c.seed);
      const auto t0 = std::chrono::steady_clock::now();
      const auto want = reference_nr::denoise(x, c.sr, c.p);
      const auto t1 = std::chrono::steady_clock::now();
      size_t held = 0, held2 = 0;
      const auto got = denoise_streamed(x, c.sr, c.p, c.seed, &held);
      const auto t2 = std::chrono::steady_clock::now();
      const auto again = denoise_streamed(x, c.sr, c.p, c.seed * 7u + 1u, &held2);
      double err = 0, change = 0;
      bool same_length = got.size() == x.size() && want.size() == x.size();
      for (size_t i = 0; same_length && i < x.size(); ++i) {
        err = std::max(err, std::fabs(got[i] - want[i]));
        change = std::max(change, std::fabs(want[i] - x[i]));
      }
      const double snr = same_length ? test::snr_db(want, got) : 0;
      char line[300];
      std::snprintf(line, sizeof line,
                    "noise reduction of %zu samples at %d Hz, strength %.1f, matches the direct implementation "
                    "(max |difference| %.1e, bound 1e-12; SNR %.0f dB; reference %.1f s, stage %.2f s)",
                    c.n, c.sr, c.p, err, snr, std::chrono::duration<double>(t1 - t0).count(),
                    std::chrono::duration<double>(t2 - t1).count());
      check(same_length && err <= 1e-12 && change > 1e-3, line);
      check(again == got, "noise reduction streams bit-identically whatever the block sizes (" + std::to_string(c.n) + " samples)");
      check(std::max(held, held2) <= size_t(DenoiseSpec::kChunk + 2 * DenoiseSpec::kPadding),
            "noise reduction holds at most one window with its context (" + std::to_string(std::max(held, held2)) + " samples)");
    }
  }
  // The CPU gate on single chunks where the backward pass's blocks meet the span's edges: its
  // mask frames a whole number of blocks, one frame more, and a span reaching as near the
  // chunk's end as allowed (the backward pass then starts inside a block).
  {
    const int sr = 40000;
    const double p = 0.7;
    const DenoiseDesign d = DenoiseDesign::make(sr, p);
    SpectralGate gate(d);
    const int64_t len = 200000, from = 4000, block = SpectralGate::kBlockFrames;
    std::vector<int64_t> counts;
    for (int64_t remainder : {int64_t(0), int64_t(1)}) {
      for (int64_t count = 20000;; ++count) {
        const GateFrames g = GateFrames::of(d, len, from, count);
        if ((g.m_hi - g.m_lo + 1) % block == remainder) {
          counts.push_back(count);
          break;
        }
      }
    }
    counts.push_back(len - DenoiseSpec::kFftSize - from);
    const GateFrames last = GateFrames::of(d, len, from, counts.back());
    const auto x = speech_with_noise(size_t(len), sr, 21);
    double worst = 0;
    for (int64_t count : counts) {
      std::vector<double> got(static_cast<size_t>(count));
      gate.run(x.data(), len, from, count, got.data());
      const auto want = reference_nr::chunk(x, sr, p, size_t(from), size_t(count));
      for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::fabs(got[i] - want[i]));
    }
    char line[220];
    std::snprintf(line, sizeof line,
                  "noise reduction gate where its backward blocks meet the span's edges matches the direct "
                  "implementation (max |difference| %.1e, bound 1e-12)",
                  worst);
    check(worst <= 1e-12 && last.m_hi == last.frames - 1, line);
  }
  // WAV writer: samples come back as float32, over several buffers' worth; a NaN or an
  // infinity anywhere is refused, and the unfinished file is removed.
  {
    char dir[] = "/tmp/voxprep-core-test-XXXXXX";
    check(mkdtemp(dir) != nullptr, "scratch folder for the WAV writer");
    const std::string file = std::string(dir) + "/out.wav";
    const auto x = noise(200003, 31);
    {
      WavWriter w(file, 40000);
      for (size_t at = 0, step = 1; at < x.size(); at += step, step = step * 3 + 1) {
        w.write(x.data() + at, std::min(step, x.size() - at));
      }
      w.finish();
      w.wait();
      check(std::rename(w.temp_path().c_str(), file.c_str()) == 0, "WAV writer: the finished file is there");
    }
    WavReader r(file);
    std::vector<double> back;
    while (r.read_mono(back, 65536) > 0) {
    }
    bool same = back.size() == x.size();
    for (size_t i = 0; same && i < x.size(); ++i) same = back[i] == double(float(x[i]));
    check(same && r.info().sample_rate == 40000, "WAV writer: samples read back as float32, in order");
    for (double bad : {std::nan(""), HUGE_VAL, -HUGE_VAL}) {
      std::vector<double> y = x;
      y[150001] = bad;
      std::string temp;
      bool refused = false;
      try {
        WavWriter w(std::string(dir) + "/bad.wav", 40000);
        temp = w.temp_path();
        w.write(y.data(), 100000);
        w.write(y.data() + 100000, y.size() - 100000);
        w.finish();
      } catch (const std::runtime_error& e) {
        refused = std::string(e.what()).find("non-finite") != std::string::npos;
      }
      check(refused && !temp.empty() && access(temp.c_str(), F_OK) != 0,
            "WAV writer refuses a " + std::to_string(bad) + " sample and leaves no file");
    }
    // Writing runs behind: a file that cannot be created fails when its set publishes, as a
    // WriteError with the reason, and takes the set's other (good) file with it.
    {
      const auto y = noise(50000, 32);
      const std::string good = std::string(dir) + "/good.wav", bad = std::string(dir) + "/missing/bad.wav";
      std::string reason;
      bool threw_write_error = false;
      {
        OutputSet set;
        for (const std::string& f : {good, bad}) {
          WavWriter w(f, 40000);
          w.write(y.data(), y.size());
          w.finish();
          set.add(w);
        }
        try {
          set.publish();
        } catch (const WriteError& e) {
          threw_write_error = true;
          reason = e.what();
        }
      }
      check(threw_write_error && reason == "cannot create " + temp_path_for(bad) + ": No such file or directory" &&
                access(good.c_str(), F_OK) != 0 && access(temp_path_for(good).c_str(), F_OK) != 0,
            "WAV writer: a file that cannot be created fails its set when it publishes, and the set leaves nothing (" +
                reason + ")");
      // And a writer that saw its failure says so at the next write (one past kHoldFrames,
      // which creates its file as soon as it streams).
      const auto longer = noise(WavWriter::kHoldFrames + 10, 33);
      WavWriter w(bad, 40000);
      w.write(longer.data(), longer.size());
      bool early = false;
      try {
        w.wait();
      } catch (const WriteError&) {
        try {
          w.write(y.data(), 10);
        } catch (const WriteError& e) {
          early = std::string(e.what()).find("cannot create") == 0;
        }
      }
      check(early, "WAV writer: after a failure, the next write throws it");
    }
    // Float buffers go round: forty held files, written one after another, allocate only as
    // many buffers as are in flight at once behind the writing thread.
    {
      const auto y = noise(100000, 36);
      const size_t before = WavWriter::float_buffers_allocated();
      {
        OutputSet set;  // not published: removed at the end
        for (int k = 0; k < 40; ++k) {
          WavWriter w(std::string(dir) + "/round" + std::to_string(k) + ".wav", 40000);
          w.write(y.data(), 60000);
          w.write(y.data() + 60000, 40000);
          w.finish();
          set.add(w);
        }
        set.failure();
      }
      const size_t made = WavWriter::float_buffers_allocated() - before;
      check(made >= 1 && made <= 8, "WAV writer: 40 files written with " + std::to_string(made) +
                                        " float buffers allocated (at most 8)");
    }
    // A piece's two outputs, at the training rate and at 16 kHz, one pair after another: each
    // file takes the kept buffer that fits it, so the two buffers keep their own sizes (taken
    // last-in-first-out, the 16 kHz buffer went to the next training-rate file, which grew it).
    {
      WavWriter::release_spare_buffers();
      const auto y = noise(120000, 37);
      const size_t before = WavWriter::float_buffers_allocated();
      {
        OutputSet set;  // not published: removed at the end
        for (int k = 0; k < 10; ++k) {
          // Both files take their buffers before either is written (as a piece's two are).
          WavWriter high(std::string(dir) + "/pair" + std::to_string(k) + ".wav", 40000);
          WavWriter low(std::string(dir) + "/pair" + std::to_string(k) + "_16k.wav", 16000);
          high.write(y.data(), 120000);
          low.write(y.data(), 48000);
          for (WavWriter* w : {&high, &low}) {
            w->finish();
            set.add(*w);
          }
          high.wait();
          low.wait();
        }
      }
      const size_t made = WavWriter::float_buffers_allocated() - before, bytes = WavWriter::spare_buffer_bytes_kept();
      check(made == 2 && WavWriter::spare_buffers_kept() == 2 && bytes == 4 * (120000 + 48000),
            "WAV writer: pairs of 120 000- and 48 000-sample files keep one buffer of each size (" + std::to_string(made) +
                " allocated, " + std::to_string(bytes) + " bytes kept)");
    }
    // A file written whole comes with its checksum, the same as read back from the disk; a
    // streamed one (past kHoldFrames) with none. Both hold their samples.
    {
      const std::string held = std::string(dir) + "/held.wav", streamed = std::string(dir) + "/streamed.wav";
      const auto a = noise(WavWriter::kHoldFrames, 34), b = noise(WavWriter::kHoldFrames + 1, 35);
      OutputSet set;
      for (const auto& [f, x] : {std::pair{held, &a}, std::pair{streamed, &b}}) {
        WavWriter w(f, 16000);
        for (size_t at = 0; at < x->size(); at += 70001) w.write(x->data() + at, std::min<size_t>(70001, x->size() - at));
        w.finish();
        set.add(w);
      }
      set.publish();
      const auto sums = set.checksums();
      const FileChecksum on_disk = checksum_file(held);
      check(sums.size() == 1 && sums[0].first == held && sums[0].second.size == on_disk.size &&
                sums[0].second.xxh64 == on_disk.xxh64 && on_disk.size == 58 + 4 * a.size(),
            "WAV writer: a file written whole has its checksum, the one read back from the disk");
      bool same = true;
      for (const auto& [f, x] : {std::pair{held, &a}, std::pair{streamed, &b}}) {
        WavReader r(f);
        std::vector<double> back;
        while (r.read_mono(back, 65536) > 0) {
        }
        same = same && back.size() == x->size() && r.info().sample_rate == 16000;
        for (size_t i = 0; same && i < x->size(); ++i) same = back[i] == double(float((*x)[i]));
        std::remove(f.c_str());
      }
      check(same, "WAV writer: held and streamed files read back as written");
    }
    // OutputSet::written(): false while its files' operations wait on the writing thread (held
    // up here by an operation posted first), true once they have run, and without waiting.
    {
      const std::string first = std::string(dir) + "/first.wav", second = std::string(dir) + "/second.wav";
      std::promise<void> gate;
      std::shared_future<void> open = gate.get_future().share();
      IoThread::for_writing().post([open] { open.wait(); }, 0);
      OutputSet set;
      for (const std::string& f : {first, second}) {
        WavWriter w(f, 16000);
        const auto x = noise(1000, 36);
        w.write(x.data(), x.size());
        w.finish();
        set.add(w);
      }
      const bool pending = !set.written();
      gate.set_value();
      const bool ok = set.failure().empty();
      check(pending && ok && set.written(), "output set: not written while its writes wait, written once they have run");
      set.publish();
      std::remove(first.c_str());
      std::remove(second.c_str());
    }
    std::remove(file.c_str());
    rmdir(dir);
  }
  // The helper thread behind the writers: operations run in the order posted, and a post
  // waits while the data in flight would pass the bound.
  {
    IoThread behind;
    std::vector<int> order;
    std::promise<void> all_run;
    for (int i = 0; i < 100; ++i) behind.post([&order, i] { order.push_back(i); }, 1);
    behind.post([&all_run] { all_run.set_value(); }, 0);
    all_run.get_future().wait();
    bool in_order = order.size() == 100;
    for (int i = 0; in_order && i < 100; ++i) in_order = order[size_t(i)] == i;
    check(in_order, "write-behind: operations run in the order posted");
    std::mutex m;
    std::condition_variable cv;
    bool release = false;
    std::atomic<bool> second_posted{false};
    behind.post([&] {
      std::unique_lock<std::mutex> lock(m);
      cv.wait(lock, [&] { return release; });
    }, IoThread::kMaxBytesInFlight);
    std::thread poster([&] {
      behind.post([] {}, 1);
      second_posted = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const bool held = !second_posted;  // the first holds the whole bound until it has run
    {
      std::lock_guard<std::mutex> lock(m);
      release = true;
    }
    cv.notify_all();
    poster.join();
    check(held && second_posted, "write-behind: a post waits while the bound is reached, and goes once it frees");
  }
  // The manifest's checksum: XXH64 against values `xxhsum -H1` (xxHash 0.8.1) printed for
  // bytes (7·i + 3) mod 256, fed whole and in uneven pieces (every stripe boundary case), and
  // read from a file.
  {
    const std::pair<size_t, const char*> vectors[] = {
        {0, "ef46db3751d8e999"},  {1, "1f25c8d0bc1f4bb6"},  {3, "31d2363f52e564c9"},    {4, "9bb64b7d66ee9fda"},
        {7, "9a7b149959ce60d8"},  {8, "dab99d95c6f90092"},  {31, "a2aa5f33cc4a6119"},   {32, "23c3c17ef790fd97"},
        {33, "50a7cfc7ba588784"}, {100, "a61f8d4c170fe531"}, {1000, "5f235fa033f1a3fb"}, {1048577, "1a6c95bba854aa22"}};
    char dir[] = "/tmp/voxprep-core-test-XXXXXX";
    check(mkdtemp(dir) != nullptr, "scratch folder for the checksums");
    const std::string file = std::string(dir) + "/bytes";
    for (const auto& [n, want] : vectors) {
      std::vector<unsigned char> bytes(std::max<size_t>(n, 1));  // (data() of an empty vector may be null)
      for (size_t i = 0; i < n; ++i) bytes[i] = uint8_t(7 * i + 3);
      Xxh64 whole;
      whole.update(bytes.data(), n);
      Xxh64 pieces;
      for (size_t at = 0, step = 1; at < n; at += step, step = step % 37 + 5) pieces.update(bytes.data() + at, std::min(step, n - at));
      std::FILE* f = std::fopen(file.c_str(), "wb");
      const bool wrote = f && std::fwrite(bytes.data(), 1, n, f) == n && std::fclose(f) == 0;
      const FileChecksum c = checksum_file(file);
      check(wrote && xxh64_hex(whole.digest()) == want && xxh64_hex(pieces.digest()) == want && c.size == n &&
                xxh64_hex(c.xxh64) == want,
            "XXH64 of " + std::to_string(n) + " bytes, whole, in pieces and from a file: " + want);
    }
    std::remove(file.c_str());
    std::string reason;
    try {
      checksum_file(file);
    } catch (const std::runtime_error& e) {
      reason = e.what();
    }
    check(reason == "No such file or directory", "checksum of a missing file: the reason (" + reason + ")");
    // What --resume keeps: a regular file of the recorded size, checksum and (for an input)
    // modification time.
    {
      std::FILE* f = std::fopen(file.c_str(), "wb");
      const bool wrote = f && std::fputs("voxprep", f) >= 0 && std::fclose(f) == 0;
      const FileChecksum c = checksum_file(file);
      const std::optional<FileStamp> stamp = stamp_now(file);
      check(wrote && stamp && file_matches(file, c, std::nullopt) && file_matches(file, c, stamp->mtime_ns),
            "file_matches: the file as recorded, without and with its modification time");
      check(!file_matches(file, c, stamp->mtime_ns + 1), "file_matches: another modification time");
      check(!file_matches(file, FileChecksum{c.size + 1, c.xxh64}, std::nullopt), "file_matches: another size");
      check(!file_matches(file, FileChecksum{c.size, c.xxh64 ^ 1}, std::nullopt), "file_matches: another checksum");
      check(!file_matches(dir, c, std::nullopt), "file_matches: a folder");
      // copy_verified: the copy in place when it is as recorded; else the reason, and no copy
      // nor temporary left.
      const std::string copy = std::string(dir) + "/copy";
      copy_verified(file, copy, c);
      check(file_matches(copy, c, std::nullopt), "copy_verified: the copy is the file");
      std::remove(copy.c_str());
      std::string refused;
      try {
        copy_verified(file, copy, FileChecksum{c.size, c.xxh64 ^ 1});
      } catch (const std::runtime_error& e) {
        refused = e.what();
      }
      check(refused.find("it is not what its shard recorded (7 bytes, expected 7; checksum") == 0 &&
                !stamp_now(copy) && !stamp_now(temp_path_for(copy)),
            "copy_verified: another checksum refused (" + refused + "), nothing left");
      std::remove(file.c_str());
      check(!file_matches(file, c, std::nullopt), "file_matches: a missing file");
    }
    rmdir(dir);
  }
  // The engine's claim order: the largest files first when lanes share a batch (ties in job
  // order, a missing file as an empty one), job order for one lane.
  {
    char dir[] = "/tmp/voxprep-core-test-XXXXXX";
    check(mkdtemp(dir) != nullptr, "scratch folder for the claim order");
    const size_t sizes[] = {100, 400, 200, 0, 200, 500};  // job 3: no such file
    std::vector<FileJob> jobs;
    bool wrote = true;
    for (size_t i = 0; i < 6; ++i) {
      FileJob job;
      job.path = std::string(dir) + "/f" + std::to_string(i) + ".wav";
      if (sizes[i] > 0) {
        std::FILE* f = std::fopen(job.path.c_str(), "wb");
        const std::vector<unsigned char> bytes(sizes[i], 1);
        const bool full = f && std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
        wrote = f && std::fclose(f) == 0 && full && wrote;
      }
      jobs.push_back(job);
    }
    check(wrote, "claim order: files of 100 to 500 bytes written");
    check(claim_order(jobs, 2) == std::vector<size_t>{5, 1, 2, 4, 0, 3},
          "claim order with two lanes: the largest first, ties in job order, a missing file last");
    check(claim_order(jobs, 1) == std::vector<size_t>{0, 1, 2, 3, 4, 5}, "claim order with one lane: job order");
    for (const FileJob& job : jobs) std::remove(job.path.c_str());
    rmdir(dir);
  }
  // The reader's checksum of the whole file, from the bytes it read for processing (and the
  // chunks after the data, read at the end): the same as reading the file again, whether read
  // through once or rewound for a second pass; none where a partial frame at the end was
  // read but not counted.
  {
    char dir[] = "/tmp/voxprep-core-test-XXXXXX";
    check(mkdtemp(dir) != nullptr, "scratch folder for the reader's checksums");
    const std::string file = std::string(dir) + "/input.wav";
    auto write_file = [&](const std::vector<unsigned char>& b) {
      std::FILE* f = std::fopen(file.c_str(), "wb");
      return f && std::fwrite(b.data(), 1, b.size(), f) == b.size() && std::fclose(f) == 0;
    };
    std::vector<double> out;
    for (int kind : {0, 1, 2, 3, 6}) {  // (form 4, float, holds NaN bit patterns)
      std::vector<unsigned char> b = seed_wav(kind);
      tag(b, "LIST");  // a trailing chunk, odd-sized and padded
      put32(b, 5);
      b.insert(b.end(), 6, 'y');
      const bool wrote = write_file(b);
      const FileChecksum want = checksum_file(file);
      WavReader once(file);
      while (once.read_mono(out, 7) > 0) {
      }
      const auto read_through = once.whole_file_checksum();
      WavReader twice(file);
      twice.read_mono(out, 10);
      twice.rewind();
      while (twice.read_mono(out, 64) > 0) {
      }
      const auto rewound = twice.whole_file_checksum();
      check(wrote && read_through && read_through->size == want.size && read_through->xxh64 == want.xxh64 && rewound &&
                rewound->size == want.size && rewound->xxh64 == want.xxh64,
            "the reader's whole-file checksum equals the file's (WAV form " + std::to_string(kind) + ", read through and rewound)");
    }
    // 24-bit stereo (6-byte frames) whose data stops 3 bytes into a frame at the file's end:
    // the reader stops at the last whole frame, and the checksum still takes in every byte.
    std::vector<unsigned char> b = seed_wav(1);
    b.resize(b.size() - 3);
    bool wrote = write_file(b);
    WavReader partial(file);
    while (partial.read_mono(out, 5) > 0) {
    }
    const auto short_file = partial.whole_file_checksum();
    const FileChecksum want = checksum_file(file);
    check(wrote && short_file && short_file->size == want.size && short_file->xxh64 == want.xxh64,
          "the reader's whole-file checksum of a file ending inside a frame equals the file's");
    // A decoder's stream (here `cat` of the same file) is not the file: no checksum.
    WavReader decoded(file, {"cat", file});
    while (decoded.read_mono(out, 5) > 0) {
    }
    check(!decoded.whole_file_checksum(), "no whole-file checksum from a decoder's stream");
    std::remove(file.c_str());
    rmdir(dir);
  }
  // Decoding to mono, per sample format and channel count, against the conversion written out
  // sample by sample here: the same bits, the clipped frames counted exactly, and the first
  // non-finite frame named exactly, with reads of sizes that cross the decoder's chunks of 256
  // frames (and end on a 24-bit file's last frame, which it reads on its own).
  {
    struct Form {
      int format, bits, channels;
    };
    const Form forms[] = {{1, 8, 1}, {1, 16, 1}, {1, 16, 2}, {1, 24, 1}, {1, 24, 2}, {1, 24, 3},
                          {1, 32, 2}, {3, 32, 1}, {3, 32, 2}, {3, 64, 1}, {3, 64, 6}};
    const size_t frames = 1000;
    unsigned state = 77;
    auto rnd = [&]() { state = state * 1103515245u + 12345u; return (state >> 8) & 0xFFFFFF; };
    // The file's bytes for one form; `values` gets each sample's value and `bad_at` (float
    // forms) puts a NaN into that frame's last channel.
    auto make = [&](const Form& f, std::vector<double>& values, long bad_at) {
      const int bytes = f.bits / 8;
      std::vector<unsigned char> b;
      tag(b, "RIFF");
      put32(b, uint32_t(36 + frames * size_t(f.channels * bytes)));
      tag(b, "WAVE");
      tag(b, "fmt ");
      put32(b, 16);
      put16(b, uint16_t(f.format));
      put16(b, uint16_t(f.channels));
      put32(b, 40000);
      put32(b, uint32_t(40000 * f.channels * bytes));
      put16(b, uint16_t(f.channels * bytes));
      put16(b, uint16_t(f.bits));
      tag(b, "data");
      put32(b, uint32_t(frames * size_t(f.channels * bytes)));
      values.clear();
      for (size_t i = 0; i < frames * size_t(f.channels); ++i) {
        // Now and then a sample at full scale, and in some frames every channel at once.
        const bool full = rnd() % 50 == 0 || i / size_t(f.channels) % 97 == 13;
        const bool last_channel = i % size_t(f.channels) == size_t(f.channels - 1);
        if (f.format == 3) {
          double v = full ? (rnd() % 2 ? 1.0 : -1.0) : (double(rnd()) / double(1 << 23) - 1.0) * 0.999;
          if (long(i / size_t(f.channels)) == bad_at && last_channel) v = std::nan("");
          if (f.bits == 32) {
            const float x = float(v);
            uint32_t u;
            std::memcpy(&u, &x, 4);
            put32(b, u);
            values.push_back(double(x));
          } else {
            uint64_t u;
            std::memcpy(&u, &v, 8);
            put32(b, uint32_t(u));
            put32(b, uint32_t(u >> 32));
            values.push_back(v);
          }
        } else {
          const int64_t top = int64_t(1) << (f.bits - 1);
          int64_t s;
          // At full scale: the format's extremes, and either side of where clipping starts.
          const int64_t clip_from = f.bits == 8 ? top - 1 : top / 32768 * 32767;
          const int64_t edges[] = {top - 1, -top, clip_from, -clip_from, clip_from - 1, -(clip_from - 1)};
          if (full) s = edges[rnd() % 6];
          else if (f.bits == 32) s = (int64_t(rnd()) - (1 << 23)) * 256;  // 24 random bits over the range
          else s = int64_t(rnd() % uint32_t(2 * top)) - top;
          const uint64_t u = f.bits == 8 ? uint64_t(s + 128) : uint64_t(s);
          for (int k = 0; k < bytes; ++k) b.push_back(uint8_t(u >> (8 * k)));
          values.push_back(f.bits == 8 ? double(s) / 128.0 : double(s) / double(top));
        }
      }
      return b;
    };
    for (const Form& f : forms) {
      const std::string name = "WAV decoding (format " + std::to_string(f.format) + ", " + std::to_string(f.bits) +
                               "-bit, " + std::to_string(f.channels) + " channel(s))";
      std::vector<double> values;
      std::vector<unsigned char> b = make(f, values, -1);
      std::vector<double> want(frames);
      int64_t want_clipped = 0;
      for (size_t i = 0; i < frames; ++i) {
        double sum = 0.0;
        bool clipped = false;
        for (int c = 0; c < f.channels; ++c) {
          const double v = values[i * size_t(f.channels) + size_t(c)];
          clipped = clipped || std::fabs(v) >= (f.bits == 8 ? 127.0 / 128.0 : 32767.0 / 32768.0);  // the format's full scale
          sum += v;
        }
        want[i] = f.channels == 1 ? sum : sum / f.channels;
        want_clipped += clipped;
      }
      bool same = true;
      for (size_t piece : {size_t(1), size_t(7), size_t(255), size_t(300), frames}) {
        std::FILE* file = fmemopen(b.data(), b.size(), "rb");
        std::vector<double> got;
        int64_t clipped = -1;
        try {
          WavReader r(file, int64_t(b.size()));
          while (r.read_mono(got, piece) > 0) {
          }
          clipped = r.clipped_frames();
        } catch (const std::exception&) {
        }
        std::fclose(file);
        same = same && got.size() == want.size() && clipped == want_clipped;
        for (size_t i = 0; same && i < frames; ++i) same = std::memcmp(&got[i], &want[i], sizeof(double)) == 0;
      }
      check(same && want_clipped > 0, name + ": the mean of the channels, bit for bit, and the " +
                                          std::to_string(want_clipped) + " clipped frames, read 1, 7, 255, 300 or 1000 at a time");
      if (f.format != 3) continue;
      bool named = true;
      for (long bad_at : {0L, 255L, 256L, 700L, 999L}) {
        std::vector<unsigned char> with_nan = make(f, values, bad_at);
        std::FILE* file = fmemopen(with_nan.data(), with_nan.size(), "rb");
        std::string message;
        try {
          WavReader r(file, int64_t(with_nan.size()));
          std::vector<double> got;
          while (r.read_mono(got, 333) > 0) {
          }
        } catch (const std::exception& e) {
          message = e.what();
        }
        std::fclose(file);
        const std::string said = "at frame " + std::to_string(bad_at);
        const size_t at = message.find(said), end = at + said.size();
        named = named && at != std::string::npos && (end == message.size() || !std::isdigit(uint8_t(message[end])));
      }
      check(named, name + ": a NaN is refused, naming its frame (0, 255, 256, 700, 999)");
    }
  }
  // G.711 stops short of 1: its largest codes (µ-law ±32124, A-law ±32256 of 32768) are its
  // full scale, and count as clipped.
  {
    bool ok = true;
    for (const int format : {7, 6}) {
      const std::vector<unsigned char> codes = format == 7 ? std::vector<unsigned char>{0x80, 0x00, 0xFF, 0x81, 0x80}
                                                           : std::vector<unsigned char>{0xAA, 0x2A, 0xD5, 0xAB, 0x2A};
      std::vector<unsigned char> b;
      tag(b, "RIFF");
      put32(b, uint32_t(36 + codes.size()));
      tag(b, "WAVE");
      tag(b, "fmt ");
      put32(b, 16);
      put16(b, uint16_t(format));
      put16(b, 1);
      put32(b, 8000);
      put32(b, 8000);
      put16(b, 1);
      put16(b, 8);
      tag(b, "data");
      put32(b, uint32_t(codes.size()));
      b.insert(b.end(), codes.begin(), codes.end());
      std::FILE* file = fmemopen(b.data(), b.size(), "rb");
      try {
        WavReader r(file, int64_t(b.size()));
        std::vector<double> got;
        while (r.read_mono(got, 2) > 0) {
        }
        ok = ok && got.size() == codes.size() && r.clipped_frames() == 3;
      } catch (const std::exception&) {
        ok = false;
      }
      std::fclose(file);
    }
    check(ok, "WAV decoding: µ-law and A-law samples at their largest codes count as clipped, the others not");
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
