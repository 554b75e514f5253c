#include "dsp/resampler.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <map>
#include <mutex>
#include <numeric>
#include <stdexcept>
#include <string>

#include "dsp/kernels.h"
#include "dsp/mixed_fft.h"
#include "dsp/stream_buffer.h"
#include "dsp/vec4.h"

namespace voxprep {
namespace {

constexpr double kPi = 3.14159265358979323846;
// Above this many table entries (doubles) coefficients are computed per output instead.
constexpr int64_t kMaxTableEntries = int64_t{1} << 21;
// The FFT form's block: at least this many times the filter's reach, in steps of `down`
// inputs (4 to 12 ran about as fast; 16 slower). Transforms of more points than
// kMaxTransform leave the pair to the cascade.
constexpr int kSpanFactor = 6;
constexpr int64_t kMaxTransform = int64_t{1} << 22;

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

// Output k's place in the input: j0 = floor(k·down/up) and the phase (k·down) mod up,
// stepped from output to output without a division.
struct PolyphaseCursor {
  PolyphaseCursor(int64_t first, int64_t up, int64_t down) : up(up), step(down / up), carry(down % up) {
    kernels::polyphase_position(first, up, down, &j0, &phase);
  }
  void advance() {
    j0 += step;
    phase += carry;
    if (phase >= up) {
      phase -= up;
      ++j0;
    }
  }
  long long j0 = 0, phase = 0;
  const int64_t up, step, carry;
};

// The run loop over tabulated phases: one dot product per output. Cloned for the vector
// extensions the CPU may have (picked at load time); every clone computes the same bits.
__attribute__((target_clones("avx512f", "avx2", "default")))
void run_polyphase(const double* table, int taps, int64_t up, int64_t down, int lead, const double* buf,
                   int64_t buf_base, int64_t first, int64_t last, double* out) {
  PolyphaseCursor at(first, up, down);
  // Four outputs at a time (the same bits as one at a time: see dot_many).
  constexpr int kGroup = 4;
  int64_t k = first;
  for (; k + kGroup <= last; k += kGroup) {
    const double* rows[kGroup];
    const double* windows[kGroup];
    for (int m = 0; m < kGroup; ++m) {
      rows[m] = table + at.phase * taps;
      windows[m] = buf + (at.j0 - lead + 1 - buf_base);
      at.advance();
    }
    kernels::dot_many<kGroup>(rows, windows, taps, out + (k - first));
  }
  for (; k < last; ++k) {
    out[k - first] = kernels::polyphase_output(table, taps, at.phase, buf + (at.j0 - lead + 1 - buf_base));
    at.advance();
  }
}

// The cascade's step: the same positions as run_polyphase, for rows of one lane width
// (kDotLanes = 32 taps, as the step is designed) that no GPU twin shares, so each row is
// summed its own way: in two four-lane sums, and four outputs' sums reduced together (a
// transposition, so that the lanes end up holding the four outputs) instead of each on its
// own: at 32 taps the reductions cost more than the products. The row length is a constant,
// so the loops unroll whole.
//
// The step's table (200 or 400 rows) does not fit the first-level cache, and consecutive
// outputs use rows far apart. So the outputs go in tiles of 4·up, row by row: outputs k,
// k + up, k + 2·up and k + 3·up share a row (their windows `down` inputs apart), which is
// read once for the four, while the tile's inputs stay in cache. Each output's sum is the
// same whichever four outputs it is reduced with: the same bits as in output order (1.3×
// faster alone, measured against that order on 44.1 kHz's step).
namespace short_rows {
constexpr int kTaps = kernels::kDotLanes;
static_assert(kTaps % 8 == 0, "rows of whole 8-lane groups");
// Row · window in four lanes.
inline __attribute__((always_inline)) Vec4 row_sum(const double* h, const double* x) {
  Vec4 a = load4(h) * load4(x), b = load4(h + 4) * load4(x + 4);
  for (int i = 8; i < kTaps; i += 8) {
    a = a + load4(h + i) * load4(x + i);
    b = b + load4(h + i + 4) * load4(x + i + 4);
  }
  return a + b;
}
// Lane o of the result: the total of s_o's lanes. Pairwise lane sums of outputs 0 and 1, 2
// and 3, then the halves added.
inline __attribute__((always_inline)) Vec4 totals(Vec4 s0, Vec4 s1, Vec4 s2, Vec4 s3) {
  const Vec4 p01 = __builtin_shufflevector(s0, s1, 0, 4, 2, 6) + __builtin_shufflevector(s0, s1, 1, 5, 3, 7);
  const Vec4 p23 = __builtin_shufflevector(s2, s3, 0, 4, 2, 6) + __builtin_shufflevector(s2, s3, 1, 5, 3, 7);
  return __builtin_shufflevector(p01, p23, 0, 1, 4, 5) + __builtin_shufflevector(p01, p23, 2, 3, 6, 7);
}
}  // namespace short_rows

__attribute__((target_clones("avx2", "default")))
void run_short_rows(const double* table, int64_t up, int64_t down, int lead, const double* buf, int64_t buf_base,
                    int64_t first, int64_t last, double* out) {
  using short_rows::kTaps;
  using short_rows::row_sum;
  using short_rows::totals;
  int64_t k = first;
  for (; k + 4 * up <= last; k += 4 * up) {
    PolyphaseCursor at(k, up, down);
    for (int64_t r = 0; r < up; ++r, at.advance()) {
      const double* h = table + at.phase * kTaps;
      const double* x = buf + (at.j0 - lead + 1 - buf_base);
      const Vec4 v = totals(row_sum(h, x), row_sum(h, x + down), row_sum(h, x + 2 * down), row_sum(h, x + 3 * down));
      double* o = out + (k + r - first);
      o[0] = v[0], o[up] = v[1], o[2 * up] = v[2], o[3 * up] = v[3];
    }
  }
  // What is left, less than a tile, in output order.
  PolyphaseCursor at(k, up, down);
  for (; k + 4 <= last; k += 4) {
    Vec4 s[4];
    for (int o = 0; o < 4; ++o, at.advance()) {
      s[o] = row_sum(table + at.phase * kTaps, buf + (at.j0 - lead + 1 - buf_base));
    }
    store4(out + (k - first), totals(s[0], s[1], s[2], s[3]));
  }
  for (; k < last; ++k, at.advance()) {
    const Vec4 s0 = row_sum(table + at.phase * kTaps, buf + (at.j0 - lead + 1 - buf_base));
    out[k - first] = (s0[0] + s0[1]) + (s0[2] + s0[3]);
  }
}

// The FFT form's one step between its transforms: output slot s = gain_re[s] · X_re[source[s]]
// + i · gain_im[s] · X_im[source[s]] (the gain, with the sign of a conjugation folded into
// the imaginary part's). Cloned for the vector gathers the CPU may have; the same bits in
// every clone.
__attribute__((target_clones("avx512f", "avx2", "default")))
void apply_response(const int32_t* __restrict source, const double* __restrict gain_re,
                    const double* __restrict gain_im, int slots, const double* __restrict x_re,
                    const double* __restrict x_im, double* __restrict y_re, double* __restrict y_im) {
  for (int s = 0; s < slots; ++s) {
    y_re[s] = gain_re[s] * x_re[source[s]];
    y_im[s] = gain_im[s] * x_im[source[s]];
  }
}

int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// The FFT form, where both transform sizes have the form MixedRealFft takes (up and down
// each a power of two times 3s, 5s and 7s: every pair among the common rates 8, 11.025, 16,
// 22.05, 32, 44.1, 48 kHz … and the training rates, and the cascade's band stages).
std::shared_ptr<const ResamplerDesign::FftPlan> make_fft_plan(const ResamplerDesign& d) {
  const int64_t L = d.up, M = d.down;
  if (L > 8192 || M > 8192 || !MixedRealFft::supported(int(8 * L)) || !MixedRealFft::supported(int(8 * M))) {
    return nullptr;
  }
  // Output k = r + L·m (r < L) is centred on input a_r + M·m, a_r = floor(r·M/L); its taps
  // reach inputs a_r − lead + 1 … a_r − lead + taps, that is M·(m + s) + q for s from s_lo to
  // s_hi (q < M): a block of outputs m0·L … (m0 + B)·L − 1 needs the inputs from
  // (m0 + s_lo)·M on, n·M of them, n = B + s_hi − s_lo.
  int64_t s_lo = INT64_MAX, s_hi = INT64_MIN;
  for (int64_t r = 0; r < L; ++r) {
    const int64_t a = r * M / L;
    s_lo = std::min(s_lo, floor_div(a - d.lead + 1, M));
    s_hi = std::max(s_hi, floor_div(a - d.lead + d.taps, M));
  }
  auto plan = std::make_shared<ResamplerDesign::FftPlan>();
  plan->span = int(s_hi - s_lo);
  plan->s_lo = s_lo;
  // A larger block wastes less on the span; a smaller one stays in the faster caches.
  int64_t n = 4;
  while (n < kSpanFactor * (plan->span + 1)) n *= 2;
  if (n * std::max(L, M) > kMaxTransform) return nullptr;
  plan->n = int(n);
  plan->block = int(n) - plan->span;
  plan->n_in = int(n * M);
  plan->n_out = int(n * L);
  plan->out_from = int(-s_lo * L);

  // The response at the transform's bins: the prototype h (an even function of time t in
  // input samples, zero beyond `half`) has the transform H(f) = ∫ h(t)·cos(2πft) dt, here
  // ½·Σ h(t)·cos(2πft) over half samples t ∈ ℤ/2, which differs from the integral by H's
  // values 2, 4, … cycles per sample away: deep in the stop band. A block's outputs are the
  // inverse transform of Y[c] = (L/M)·H(c/N)·X[c] (N = n·M): the direct form's sums but for
  // the aliases the direct form folds in from the stop band (bins past the lower Nyquist
  // frequency, each at most the stop band's −182 dB: below 1e-9 of the signal), which this
  // form leaves out. H at the bins c/N is one real FFT of h on that grid, 2·N points.
  constexpr int64_t K = 2;
  const int64_t points = int64_t(plan->n_in) * K, reach = int64_t(d.half) * K;
  if (points > INT32_MAX || 2 * reach >= points) return nullptr;
  MixedRealFft grid_fft{int(points)};
  std::vector<double> g(static_cast<size_t>(points), 0.0);
  for (int64_t i = 0; i <= reach; ++i) {
    const double v = d.coefficient(double(i) / double(K));
    g[size_t(i)] = v;
    if (i > 0) g[size_t(points - i)] = v;
  }
  std::vector<double> g_re(static_cast<size_t>(grid_fft.packed_size())), g_im(g_re.size());
  grid_fft.forward(g.data(), g_re.data(), g_im.data());
  const int bins = plan->n_out / 2;  // output bins 0 … n_out/2; inputs past N/2 get none
  std::vector<double> response(static_cast<size_t>(bins + 1), 0.0);
  for (int c = 0; c <= bins && 2 * c <= plan->n_in; ++c) {
    bool conjugated;
    response[size_t(c)] = double(L) / double(M) * g_re[size_t(grid_fft.slot(c, conjugated))] / double(K);
  }
  // Each slot of the inverse's packed spectrum: which bin it holds, and from where in the
  // forward's packed spectrum that bin comes.
  const MixedRealFft in(plan->n_in), out(plan->n_out);
  plan->slots = out.packed_size();
  plan->source.assign(size_t(plan->slots), 0);
  plan->gain_re.assign(size_t(plan->slots), 0.0);
  plan->gain_im.assign(size_t(plan->slots), 0.0);
  for (int c = 0; c < plan->n_out; ++c) {
    bool stored_conjugated;
    const int slot = out.slot(c, stored_conjugated);
    if (stored_conjugated) continue;  // not the bin this slot holds
    // Y[c] = conj Y[n_out − c] past the middle (a real output).
    const bool mirrored = 2 * c > plan->n_out;
    const int bin = mirrored ? plan->n_out - c : c;
    if (2 * bin > plan->n_in) continue;  // past the input's Nyquist frequency: zero
    bool source_conjugated;
    plan->source[size_t(slot)] = in.slot(bin, source_conjugated);
    const double g = response[size_t(bin)];
    plan->gain_re[size_t(slot)] = g;
    plan->gain_im[size_t(slot)] = mirrored != source_conjugated ? -g : g;
  }
  return plan;
}

}  // namespace

struct Resampler::FftWork {
  explicit FftWork(const ResamplerDesign& d)
      : forward(d.fft->n_in), inverse(d.fft->n_out), block(size_t(d.fft->n_in)),
        x_re(size_t(forward.packed_size())), x_im(size_t(forward.packed_size())),
        y_re(size_t(d.fft->slots)), y_im(size_t(d.fft->slots)), y(size_t(d.fft->n_out)) {}
  MixedRealFft forward, inverse;
  AlignedVector<double> block, x_re, x_im, y_re, y_im, y;
};

int64_t resampled_length(int64_t n, int rate_in, int rate_out) {
  const double ratio = double(rate_out) / double(rate_in);
  return int64_t(std::ceil(double(n) * ratio));
}

int64_t computed_length(int64_t n, int rate_in, int rate_out) {
  return int64_t(double(n) * double(rate_out) / double(rate_in) + 0.5);
}

bool ResamplerDesign::tabulated() const { return up * taps <= kMaxTableEntries; }

const AlignedVector<double>& ResamplerDesign::table() const {
  std::call_once(table_once_, [this] {
    if (!tabulated()) return;
    table_.resize(size_t(up * taps));
    for (int64_t p = 0; p < up; ++p) {
      const double frac = double(p) / double(up);
      for (int i = 0; i < taps; ++i) table_[size_t(p * taps + i)] = coefficient(lead - 1 - i + frac);
    }
  });
  return table_;
}

double ResamplerDesign::coefficient(double t) const {
  if (std::fabs(t) > half) return 0.0;
  const double x = 2.0 * cutoff * t;
  const double sinc = x == 0.0 ? 1.0 : std::sin(kPi * x) / (kPi * x);
  const double r = t / half;
  const double window = bessel_i0(beta * std::sqrt(std::max(0.0, 1.0 - r * r))) / i0_beta;
  return 2.0 * cutoff * sinc * window;
}

namespace {

// A Kaiser-windowed sinc design for rate_in → rate_out with the given cut-off (−6 dB) and
// transition width, both in cycles per input sample, and stop-band attenuation; tabulated
// where the table fits.
std::shared_ptr<ResamplerDesign> kaiser_design(int rate_in, int rate_out, double cutoff, double transition,
                                               double a) {
  auto d = std::make_shared<ResamplerDesign>();
  d->rate_in = rate_in;
  d->rate_out = rate_out;
  const int64_t g = std::gcd(int64_t(rate_in), int64_t(rate_out));
  d->up = rate_out / g;
  d->down = rate_in / g;
  d->cutoff = cutoff;
  d->transition = transition;
  d->beta = 0.1102 * (a - 8.7);
  d->i0_beta = bessel_i0(d->beta);
  // Kaiser's length estimate: N − 1 = (A − 7.95) / (2.285 · Δω).
  const double length = (a - 7.95) / (2.285 * 2.0 * kPi * transition);
  d->half = int(std::ceil(length / 2.0));
  // The row must reach t = half at phase 0 (the window's last nonzero value): 2·half + 1
  // taps at least, rounded up to whole dot-product lanes.
  d->taps = (2 * d->half + 1 + kernels::kDotLanes - 1) / kernels::kDotLanes * kernels::kDotLanes;
  d->lead = d->taps - d->half;
  return d;
}

// The cascade form of a design without an FFT form (see ResamplerDesign::Cascade).
std::shared_ptr<const ResamplerDesign::Cascade> make_cascade(const ResamplerDesign& d) {
  const int band_hz_x2 = std::min(d.rate_in, d.rate_out);  // twice the band edge, in Hz
  // Step up by 2 unless the input rate already leaves the step a transition as wide as its
  // pass band (rate_in ≥ 2·rate_out). Either way the step's transition, from the band edge
  // to the first image (mid_rate − band edge), is at least half its input rate.
  const int u = d.rate_in >= 2 * d.rate_out ? 1 : 2;
  if (int64_t(d.rate_in) * u > INT32_MAX) return nullptr;
  const int mid_rate = d.rate_in * u;
  auto c = std::make_shared<ResamplerDesign::Cascade>();
  // The band stage: this design's prototype (same cut-off and transition per input sample).
  auto band = kaiser_design(d.rate_in, mid_rate, d.cutoff, d.transition, ResamplerSpec::kDesignAttenuationDb);
  band->fft = make_fft_plan(*band);
  // The step: cut-off half-way between the band edge and the first image, which it rejects,
  // as long as one row of dot-product lanes allows (2·half + 1 = lanes − 1 taps): over 230 dB
  // of attenuation, so that its ripple stays near float64 rounding.
  const double step_transition = double(mid_rate - band_hz_x2) / double(mid_rate);
  const double step_db = 7.95 + 2.285 * 2.0 * kPi * step_transition * (kernels::kDotLanes - 2);
  auto step = kaiser_design(mid_rate, d.rate_out, 0.5, step_transition, step_db);
  if (!band->fft || !step->tabulated()) return nullptr;
  // Each side: the band stage's ringing (half inputs) and the step's reach (half mid-rate
  // samples, half / u inputs), rounded up to a whole number of `down` inputs so that the
  // step's output grid stays on rate_out's (pad / rate_in = (pad / down) · up / rate_out).
  const int64_t reach = band->half + (step->half + u - 1) / u + 2;
  c->pad = (reach + d.down - 1) / d.down * d.down;
  c->band = std::move(band);
  c->step = std::move(step);
  return c;
}

}  // namespace

std::shared_ptr<const ResamplerDesign> ResamplerDesign::get(int rate_in, int rate_out) {
  // Leaked on purpose, as the engine is: a worker may still look a design up while a process
  // that is exiting runs the static destructors.
  static std::mutex mutex;
  static auto* cache = new std::map<std::pair<int, int>, std::shared_ptr<const ResamplerDesign>>();
  std::lock_guard<std::mutex> lock(mutex);
  auto key = std::make_pair(rate_in, rate_out);
  auto found = cache->find(key);
  if (found != cache->end()) return found->second;

  // Everything in cycles per input sample; the band edges are relative to the lower Nyquist.
  const double lower_nyquist = 0.5 * std::min(rate_in, rate_out) / double(rate_in);
  auto d = kaiser_design(rate_in, rate_out, ResamplerSpec::kDesignCutoff * lower_nyquist,
                         ResamplerSpec::kDesignTransition * lower_nyquist, ResamplerSpec::kDesignAttenuationDb);
  d->fft = make_fft_plan(*d);
  if (!d->fft) d->cascade = make_cascade(*d);
  cache->emplace(key, d);
  return d;
}

Resampler::Resampler(std::shared_ptr<const ResamplerDesign> stage)
    : design_(std::move(stage)), rate_in_(design_->rate_in), rate_out_(design_->rate_out) {
  short_rows_ = design_->taps == kernels::kDotLanes && design_->tabulated();
  if (design_->fft) fft_ = std::make_shared<FftWork>(*design_);
  reset();
}

Resampler::Resampler(int rate_in, int rate_out, Form form) : rate_in_(rate_in), rate_out_(rate_out) {
  if (rate_in <= 0 || rate_out <= 0) throw std::invalid_argument("sample rate must be positive");
  if (rate_in != rate_out) design_ = ResamplerDesign::get(rate_in, rate_out);
  if (design_ && form == Form::kFastest) {
    if (design_->fft) {
      fft_ = std::make_shared<FftWork>(*design_);
    } else if (design_->cascade) {
      band_.reset(new Resampler(design_->cascade->band));
      step_.reset(new Resampler(design_->cascade->step));
    }
    exact_silence_ = fft_ || band_;
  }
  reset();
}

void Resampler::reset() {
  n_in_ = n_out_ = 0;
  buf_.clear();
  zero_from_ = kBeforeSignal;  // the signal is zero before its first sample
  zero_runs_.clear();
  if (band_) {
    band_->reset();
    step_->reset();
    const ResamplerDesign::Cascade& c = *design_->cascade;
    skip_ = c.pad / design_->down * design_->up;
    // The zeros before the signal. What the step makes of them alone lies before output 0
    // (it needs inputs past them), so it is all dropped here.
    const std::vector<double> zeros(size_t(c.pad), 0.0);
    std::vector<double> early;
    band_to_step(zeros.data(), zeros.size(), false, early);
    if (int64_t(early.size()) > skip_) throw std::logic_error("resampler cascade: the pad made outputs past output 0");
    skip_ -= int64_t(early.size());
    return;
  }
  if (design_) {
    // The signal is zero before its first sample.
    buf_.assign(size_t(design_->lead), 0.0);
    buf_base_ = -design_->lead;
  } else {
    buf_base_ = 0;
  }
}

// Runs `produce` (which appends outputs), the zero runs of `in` noted first, and then sets
// to 0 the outputs it made whose whole support lies in one.
template <class Out, class Produce>
void Resampler::silenced(const double* in, size_t n, Out& out, bool ended, Produce produce) {
  const size_t at = out.size();
  const int64_t first = n_out_;
  note_zero_runs(in, n);
  produce();
  silence_outputs(out, at, first, ended);
}

template <class Out>
void Resampler::push(const double* in, size_t n, Out& out) {
  silenced(in, n, out, false, [&] { push_samples(in, n, out); });
}

template <class Out>
void Resampler::finish(Out& out) {
  silenced(nullptr, 0, out, true, [&] { finish_samples(out); });
}

template <class Out>
void Resampler::push_all(const double* in, size_t n, Out& out) {
  silenced(in, n, out, true, [&] { push_all_samples(in, n, out); });
}

template <class Out>
void Resampler::push_within(const double* in, size_t behind, size_t n, Out& out) {
  const int64_t from = n_in_ - int64_t(behind);  // the array's first sample, in the stream
  // Where the array does not reach back to the next block's first input (the first push of
  // an array, and the stream's start), the blocks read from the copy.
  if (!fft_ || from > next_block_input()) return push(in, n, out);
  silenced(in, n, out, false, [&] {
    n_in_ += int64_t(n);
    const double* array = in - behind;
    produce_blocks(out, false, 0, Input{array, from, n_in_ - from});
    // From the next block's first input on: what it will need, at most a block's worth.
    const int64_t keep = next_block_input();
    buf_.clear();
    append_samples(buf_, array + (keep - from), size_t(n_in_ - keep));
    buf_base_ = keep;
  });
}

int64_t Resampler::next_block_input() const {
  return (n_out_ / design_->up + design_->fft->s_lo) * design_->down;
}

namespace {
// The first i in [from, n) with x[i] != 0, else n: 64 samples at a time by a vectorized
// test, then one by one within the 64 that hold it.
__attribute__((target_clones("avx2", "default")))
size_t next_nonzero(const double* x, size_t from, size_t n) {
  constexpr size_t kStep = 64;
  size_t i = from;
  for (; i + kStep <= n; i += kStep) {
    int found = 0;
    for (size_t k = 0; k < kStep; ++k) found |= x[i + k] != 0.0;
    if (found) break;
  }
  for (; i < n; ++i) {
    if (x[i] != 0.0) return i;
  }
  return n;
}
// Where the zeros that [from, n) ends in begin: n when x[n − 1] != 0, from when all are zero.
__attribute__((target_clones("avx2", "default")))
size_t trailing_zeros_from(const double* x, size_t from, size_t n) {
  constexpr size_t kStep = 64;
  size_t i = n;
  for (; i >= from + kStep; i -= kStep) {
    int found = 0;
    for (size_t k = 1; k <= kStep; ++k) found |= x[i - k] != 0.0;
    if (found) break;
  }
  for (; i > from; --i) {
    if (x[i - 1] != 0.0) return i;
  }
  return from;
}
}  // namespace

void Resampler::note_zero_runs(const double* in, size_t n) {
  if (!exact_silence_) return;
  const int64_t base = n_in_;  // stream position of in[0]
  // Shorter runs cannot hold an output's whole support (2·half inputs at least).
  const size_t shortest = size_t(std::max(1, 2 * design_->half));
  size_t from = 0;
  if (zero_from_ != kNoRun) {
    // The run the last block ended in (or the zeros before the signal) goes on to here.
    from = next_nonzero(in, 0, n);
    if (from == n) return;  // and on into the next block
    if (zero_from_ == kBeforeSignal || base + int64_t(from) - zero_from_ >= int64_t(shortest)) {
      zero_runs_.emplace_back(zero_from_, base + int64_t(from));
    }
    zero_from_ = kNoRun;
  }
  // The zeros the block ends in stay open for the next block.
  const size_t end = trailing_zeros_from(in, from, n);
  if (end < n) zero_from_ = base + int64_t(end);
  // Between, every run long enough to matter holds one of every `shortest`-th sample from
  // `from` on: only those are looked at (speech holds few exact zeros, and the scan had been
  // a pass over every input at memory speed), and each zero found is followed out to its
  // run's ends. in[from − 1] (if any) and in[end − 1] are not zero.
  for (size_t probe = from + shortest - 1; probe < end; probe += shortest) {
    if (in[probe] != 0.0) continue;
    size_t first = probe;
    while (first > from && in[first - 1] == 0.0) --first;
    const size_t after = next_nonzero(in, probe, end);
    if (after - first >= shortest) zero_runs_.emplace_back(base + int64_t(first), base + int64_t(after));
    probe = after - 1;  // the next probe `shortest` after the run's first nonzero sample
    from = after;
  }
}

template <class Out>
void Resampler::silence_outputs(Out& out, size_t at, int64_t first, bool ended) {
  if (!exact_silence_) return;
  const ResamplerDesign& d = *design_;
  const int64_t last = n_out_;  // outputs [first, last) are out[at ...]
  // Output k sits at τ = k·down/up inputs; its coefficients are nonzero for the inputs j with
  // |τ − j| ≤ half. It is exactly zero when all of those lie in a zero run [a, b): when
  // k·down > (a − 1 + half)·up and k·down < (b − half)·up.
  // The last output a run ending at b holds whole.
  auto last_inside = [&](int64_t b) { return -floor_div(-(b - d.half) * d.up, d.down) - 1; };
  auto silence = [&](int64_t a, int64_t b) {
    const int64_t k_lo = a == kBeforeSignal ? first : floor_div((a - 1 + d.half) * d.up, d.down) + 1;
    const int64_t k_hi = b == kAfterSignal ? last - 1 : last_inside(b);
    for (int64_t k = std::max(k_lo, first); k <= std::min(k_hi, last - 1); ++k) out[at + size_t(k - first)] = 0.0;
  };
  for (const auto& [a, b] : zero_runs_) silence(a, b);
  // The run the input ends in: as far as the input goes, or for ever once it has ended.
  if (zero_from_ != kNoRun) silence(zero_from_, ended ? kAfterSignal : n_in_);
  // After the end the signal is zero.
  if (ended && zero_from_ == kNoRun) silence(n_in_, kAfterSignal);
  // Runs that no later output can reach.
  zero_runs_.erase(std::remove_if(zero_runs_.begin(), zero_runs_.end(),
                                  [&](const std::pair<int64_t, int64_t>& r) { return last_inside(r.second) < last; }),
                   zero_runs_.end());
}

template <class Out>
void Resampler::push_samples(const double* in, size_t n, Out& out) {
  if (!design_) {
    append_samples(out, in, n);
    n_in_ += int64_t(n);
    n_out_ += int64_t(n);
    return;
  }
  if (band_) {
    n_in_ += int64_t(n);
    const size_t at = out.size();
    band_to_step(in, n, false, out);
    return from_step(out, at, INT64_MAX);
  }
  append_samples(buf_, in, n);
  took(n, out);
}

template <class Out>
void Resampler::took(size_t n, Out& out) {
  n_in_ += int64_t(n);
  if (fft_) {
    produce_blocks(out, false, 0, buffered());
    // Drop the input before the next block's first.
    return trim(next_block_input());
  }
  // Output k needs inputs up to floor(k·down/up) + half; produce every k that has them.
  const ResamplerDesign& d = *design_;
  const int64_t last_needed = n_in_ - 1 - d.half;  // largest usable floor(k·down/up)
  const int64_t limit = last_needed < 0 ? 0 : (last_needed * d.up) / d.down + 1;
  produce(out, limit);
}

template <class Out>
void Resampler::band_to_step(const double* in, size_t n, bool last, Out& out) {
  // The band stage appends its outputs straight to the step's input, which takes them as
  // pushed, and the step appends to `out`: no copy in between.
  SampleBuffer& into = step_->buf_;
  const size_t before = into.size();
  band_->push(in, n, into);
  if (last) band_->finish(into);
  step_->took(into.size() - before, out);
  if (last) step_->finish(out);
}

template <class Out>
void Resampler::push_all_samples(const double* in, size_t n, Out& out) {
  if (!fft_ || n_in_ != 0) {
    push_samples(in, n, out);
    return finish_samples(out);
  }
  // The FFT form reads the caller's samples in place (zeros around them), in the same
  // blocks as push() and finish() would: the same bits, without copying the input.
  n_in_ = int64_t(n);
  // Room for every whole block (the last is appended whole, then cut) and the zeros after.
  const int64_t computed = computed_at_end(), per_block = design_->up * design_->fft->block;
  const int64_t blocks = (computed + per_block - 1) / per_block * per_block;
  out.reserve(out.size() + size_t(std::max(blocks, resampled_length(n_in_, rate_in_, rate_out_))));
  produce_blocks(out, true, computed, Input{in, 0, int64_t(n)});
  pad_to_length(out);
}

int64_t Resampler::computed_at_end() const {
  return std::min(resampled_length(n_in_, rate_in_, rate_out_), computed_length(n_in_, rate_in_, rate_out_));
}

template <class Out>
void Resampler::pad_to_length(Out& out) {
  // Zeros past what the reference computes, up to the length rule.
  const int64_t target = resampled_length(n_in_, rate_in_, rate_out_);
  out.insert(out.end(), size_t(target - n_out_), 0.0);
  n_out_ = target;
}

template <class Out>
void Resampler::finish_samples(Out& out) {
  if (!design_) return;
  const int64_t computed = computed_at_end();
  if (band_) {
    // The signal is zero after its last sample: the pad carries the band stage's ringing.
    const std::vector<double> zeros(size_t(design_->cascade->pad), 0.0);
    const size_t at = out.size();
    band_to_step(zeros.data(), zeros.size(), true, out);
    from_step(out, at, computed);
  } else if (fft_) {
    produce_blocks(out, true, computed, buffered());
  } else {
    // The signal is zero after its last sample.
    buf_.insert(buf_.end(), size_t(design_->taps + 1), 0.0);
    produce(out, computed);
  }
  pad_to_length(out);
}

template <class Out>
void Resampler::produce(Out& out, int64_t limit_out) {
  const ResamplerDesign& d = *design_;
  const int64_t first = n_out_;
  if (limit_out <= first) return;
  const size_t at = out.size();
  out.resize(at + size_t(limit_out - first));
  if (short_rows_) {
    run_short_rows(d.table().data(), d.up, d.down, d.lead, buf_.data(), buf_base_, first, limit_out, out.data() + at);
  } else if (d.tabulated()) {
    run_polyphase(d.table().data(), d.taps, d.up, d.down, d.lead, buf_.data(), buf_base_, first, limit_out, out.data() + at);
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
  trim((n_out_ * d.down) / d.up - d.lead + 1);
}

template <class Out>
void Resampler::produce_blocks(Out& out, bool last, int64_t limit_out, const Input& in) {
  const ResamplerDesign& d = *design_;
  const ResamplerDesign::FftPlan& p = *d.fft;
  FftWork& w = *fft_;
  const int64_t L = d.up, M = d.down;
  // Blocks are anchored at output 0 (n_out_ is a multiple of L·B until the end), so a block's
  // inputs, and so its bits, do not depend on how the stream was cut into pushes.
  while (true) {
    const int64_t m0 = n_out_ / L;
    const int64_t first_in = (m0 + p.s_lo) * M;
    const int64_t last_in = first_in + p.n_in - 1;
    if (last ? n_out_ >= limit_out : last_in >= n_in_) break;
    const double* x;
    if (first_in >= in.base && last_in < in.base + in.size) {
      x = in.data + (first_in - in.base);  // read in place
    } else {
      // The part of the block the input has, zeros around it (the stream's edges).
      double* b = w.block.data();
      const int64_t from = std::clamp(in.base - first_in, int64_t{0}, int64_t{p.n_in});
      const int64_t to = std::clamp(in.base + in.size - first_in, from, int64_t{p.n_in});
      std::fill(b, b + from, 0.0);
      if (to > from) std::copy(in.data + (first_in + from - in.base), in.data + (first_in + to - in.base), b + from);
      std::fill(b + to, b + p.n_in, 0.0);
      x = b;
    }
    w.forward.forward(x, w.x_re.data(), w.x_im.data());
    apply_response(p.source.data(), p.gain_re.data(), p.gain_im.data(), p.slots, w.x_re.data(), w.x_im.data(),
                   w.y_re.data(), w.y_im.data());
    w.inverse.inverse(w.y_re.data(), w.y_im.data(), w.y.data());
    // The block's outputs, and at the end no more than the limit.
    const int64_t take = last ? std::min<int64_t>(L * p.block, limit_out - n_out_) : L * p.block;
    append_samples(out, w.y.data() + p.out_from, size_t(take));
    n_out_ += take;
  }
}

template <class Out>
void Resampler::from_step(Out& out, size_t at, int64_t limit) {
  const int64_t made = int64_t(out.size() - at);
  const int64_t dropped = std::min(skip_, made);
  skip_ -= dropped;
  if (dropped > 0) out.erase(out.begin() + long(at), out.begin() + long(at) + dropped);
  const int64_t take = std::max<int64_t>(0, std::min(made - dropped, limit - n_out_));
  out.resize(at + size_t(take));
  n_out_ += take;
}

void Resampler::trim(int64_t keep_from) {
  // Drop input no later output can reach.
  drop_front(buf_, buf_base_, keep_from);
}

template void Resampler::push(const double*, size_t, std::vector<double>&);
template void Resampler::push(const double*, size_t, SampleBuffer&);
template void Resampler::finish(std::vector<double>&);
template void Resampler::finish(SampleBuffer&);
template void Resampler::push_all(const double*, size_t, std::vector<double>&);
template void Resampler::push_all(const double*, size_t, SampleBuffer&);
template void Resampler::push_within(const double*, size_t, size_t, std::vector<double>&);
template void Resampler::push_within(const double*, size_t, size_t, SampleBuffer&);

std::vector<double> resample(const double* in, size_t n, int rate_in, int rate_out, Resampler::Form form) {
  Resampler r(rate_in, rate_out, form);
  std::vector<double> out;
  r.push(in, n, out);
  r.finish(out);
  return out;
}

}  // namespace voxprep
