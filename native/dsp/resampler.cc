#include "dsp/resampler.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <numeric>
#include <stdexcept>
#include <string>

#include "dsp/kernels.h"

namespace voxprep {
namespace {

constexpr double kPi = 3.14159265358979323846;
// Above this many table entries (doubles) coefficients are computed per output instead.
constexpr int64_t kMaxTableEntries = int64_t{1} << 21;

// Modified Bessel function of the first kind, order 0 (power series; converges fast for
// the window shapes used here).
double bessel_i0(double x) {
  double sum = 1.0, term = 1.0, q = x * x / 4.0;
  for (int k = 1; k < 200; ++k) {
    term *= q / (double(k) * double(k));
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

// The run loop over tabulated phases: one dot product per output. Cloned for the vector
// extensions the CPU may have (picked at load time); every clone computes the same bits.
__attribute__((target_clones("avx512f", "avx2", "default")))
void run_polyphase(const double* table, int taps, int64_t up, int64_t down, int lead, const double* buf,
                   int64_t buf_base, int64_t first, int64_t last, double* out) {
  // floor(k·down/up) and its remainder, stepped without a division per output.
  long long j0, phase;
  kernels::polyphase_position(first, up, down, &j0, &phase);
  const int64_t step = down / up, carry = down % up;
  auto advance = [&] {
    j0 += step;
    phase += carry;
    if (phase >= up) {
      phase -= up;
      ++j0;
    }
  };
  // Four outputs at a time (the same bits as one at a time: see dot_many).
  constexpr int kGroup = 4;
  int64_t k = first;
  for (; k + kGroup <= last; k += kGroup) {
    const double* rows[kGroup];
    const double* windows[kGroup];
    for (int m = 0; m < kGroup; ++m) {
      rows[m] = table + phase * taps;
      windows[m] = buf + (j0 - lead + 1 - buf_base);
      advance();
    }
    kernels::dot_many<kGroup>(rows, windows, taps, out + (k - first));
  }
  for (; k < last; ++k) {
    out[k - first] = kernels::polyphase_output(table, taps, phase, buf + (j0 - lead + 1 - buf_base));
    advance();
  }
}

}  // namespace

int64_t resampled_length(int64_t n, int rate_in, int rate_out) {
  const double ratio = double(rate_out) / double(rate_in);
  return int64_t(std::ceil(double(n) * ratio));
}

int64_t computed_length(int64_t n, int rate_in, int rate_out) {
  return int64_t(double(n) * double(rate_out) / double(rate_in) + 0.5);
}

double ResamplerDesign::coefficient(double t) const {
  if (std::fabs(t) > half) return 0.0;
  const double x = 2.0 * cutoff * t;
  const double sinc = x == 0.0 ? 1.0 : std::sin(kPi * x) / (kPi * x);
  const double r = t / half;
  const double window = bessel_i0(beta * std::sqrt(std::max(0.0, 1.0 - r * r))) / bessel_i0(beta);
  return 2.0 * cutoff * sinc * window;
}

std::shared_ptr<const ResamplerDesign> ResamplerDesign::get(int rate_in, int rate_out) {
  static std::mutex mutex;
  static std::map<std::pair<int, int>, std::shared_ptr<const ResamplerDesign>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto key = std::make_pair(rate_in, rate_out);
  auto found = cache.find(key);
  if (found != cache.end()) return found->second;

  auto d = std::make_shared<ResamplerDesign>();
  d->rate_in = rate_in;
  d->rate_out = rate_out;
  const int64_t g = std::gcd(int64_t(rate_in), int64_t(rate_out));
  d->up = rate_out / g;
  d->down = rate_in / g;
  // Everything in cycles per input sample; the band edges are relative to the lower Nyquist.
  const double lower_nyquist = 0.5 * std::min(rate_in, rate_out) / double(rate_in);
  d->cutoff = ResamplerSpec::kDesignCutoff * lower_nyquist;
  const double transition = ResamplerSpec::kDesignTransition * lower_nyquist;
  const double a = ResamplerSpec::kDesignAttenuationDb;
  d->beta = 0.1102 * (a - 8.7);
  // Kaiser's length estimate: N − 1 = (A − 7.95) / (2.285 · Δω).
  const double length = (a - 7.95) / (2.285 * 2.0 * kPi * transition);
  d->half = int(std::ceil(length / 2.0));
  d->taps = (2 * d->half + kernels::kDotLanes - 1) / kernels::kDotLanes * kernels::kDotLanes;
  d->lead = d->taps - d->half;
  if (d->up * d->taps <= kMaxTableEntries) {
    d->table.resize(size_t(d->up * d->taps));
    for (int64_t p = 0; p < d->up; ++p) {
      const double frac = double(p) / double(d->up);
      for (int i = 0; i < d->taps; ++i) {
        d->table[size_t(p * d->taps + i)] = d->coefficient(d->lead - 1 - i + frac);
      }
    }
  }
  cache.emplace(key, d);
  return d;
}

Resampler::Resampler(int rate_in, int rate_out) : rate_in_(rate_in), rate_out_(rate_out) {
  if (rate_in <= 0 || rate_out <= 0) throw std::invalid_argument("sample rate must be positive");
  if (rate_in != rate_out) design_ = ResamplerDesign::get(rate_in, rate_out);
  reset();
}

void Resampler::reset() {
  n_in_ = n_out_ = 0;
  buf_.clear();
  if (design_) {
    // The signal is zero before its first sample.
    buf_.assign(size_t(design_->lead), 0.0);
    buf_base_ = -design_->lead;
  } else {
    buf_base_ = 0;
  }
}

void Resampler::push(const double* in, size_t n, std::vector<double>& out) {
  if (!design_) {
    out.insert(out.end(), in, in + n);
    n_in_ += int64_t(n);
    n_out_ += int64_t(n);
    return;
  }
  buf_.insert(buf_.end(), in, in + n);
  n_in_ += int64_t(n);
  // Output k needs inputs up to floor(k·down/up) + half; produce every k that has them.
  const ResamplerDesign& d = *design_;
  const int64_t last_needed = n_in_ - 1 - d.half;  // largest usable floor(k·down/up)
  const int64_t limit = last_needed < 0 ? 0 : (last_needed * d.up) / d.down + 1;
  produce(out, limit);
}

void Resampler::finish(std::vector<double>& out) {
  if (!design_) return;
  const int64_t target = resampled_length(n_in_, rate_in_, rate_out_);
  const int64_t computed = std::min(target, computed_length(n_in_, rate_in_, rate_out_));
  // The signal is zero after its last sample.
  buf_.insert(buf_.end(), size_t(design_->taps + 1), 0.0);
  produce(out, computed);
  out.insert(out.end(), size_t(target - n_out_), 0.0);
  n_out_ = target;
}

void Resampler::produce(std::vector<double>& out, int64_t limit_out) {
  const ResamplerDesign& d = *design_;
  const int64_t first = n_out_;
  if (limit_out <= first) return;
  const size_t at = out.size();
  out.resize(at + size_t(limit_out - first));
  if (!d.table.empty()) {
    run_polyphase(d.table.data(), d.taps, d.up, d.down, d.lead, buf_.data(), buf_base_, first, limit_out, out.data() + at);
  } else {
    std::vector<double> row(size_t(d.taps));
    for (int64_t k = first; k < limit_out; ++k) {
      const int64_t pos = k * d.down;
      const int64_t j0 = pos / d.up;
      const double frac = double(pos % d.up) / double(d.up);
      for (int i = 0; i < d.taps; ++i) row[size_t(i)] = d.coefficient(d.lead - 1 - i + frac);
      out[at + size_t(k - first)] = kernels::dot(row.data(), buf_.data() + (j0 - d.lead + 1 - buf_base_), d.taps);
    }
  }
  n_out_ = limit_out;
  // Drop input no later output can reach, in large steps to keep erasing cheap.
  const int64_t keep_from = (n_out_ * d.down) / d.up - d.lead + 1;
  const int64_t drop = keep_from - buf_base_;
  if (drop > 65536 && drop * 2 > int64_t(buf_.size())) {
    buf_.erase(buf_.begin(), buf_.begin() + drop);
    buf_base_ += drop;
  }
}

std::vector<double> resample(const double* in, size_t n, int rate_in, int rate_out) {
  Resampler r(rate_in, rate_out);
  std::vector<double> out;
  r.push(in, n, out);
  r.finish(out);
  return out;
}

}  // namespace voxprep
