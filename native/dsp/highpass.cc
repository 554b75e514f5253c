#include "dsp/highpass.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <map>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "dsp/kernels.h"
#include "dsp/polynomial.h"

namespace voxprep {
namespace {

using cplx = std::complex<double>;
constexpr double kPi = 3.14159265358979323846;

// Coefficients of the monic polynomial with the given roots, multiplied out one root at a
// time in order (numpy.poly's order, which fixes the rounding).
std::vector<double> poly(const std::vector<cplx>& roots) {
  std::vector<cplx> c{1.0};
  for (const cplx& r : roots) {
    std::vector<cplx> next(c.size() + 1, 0.0);
    for (size_t i = 0; i < c.size(); ++i) {
      next[i] += c[i];
      next[i + 1] += -r * c[i];
    }
    c.swap(next);
  }
  std::vector<double> real(c.size());
  for (size_t i = 0; i < c.size(); ++i) real[i] = c[i].real();
  return real;
}

// The filter b(z)/a(z) as sections: each upper-half-plane pole with its conjugate, the
// farthest from the unit circle first, then the real pole; the zeros shared out as two
// quadratic factors (conjugate pairs first, then real zeros paired outermost first) and one
// linear factor; the gain b[0] in the first section. `approx_poles` seed the root search.
std::array<kernels::Biquad, HighpassSpec::kSections> sections_of(const std::array<double, HighpassSpec::kOrder + 1>& b,
                                                                 const std::array<double, HighpassSpec::kOrder + 1>& a,
                                                                 const std::vector<cplx>& approx_poles) {
  const std::vector<double> bc(b.begin(), b.end()), ac(a.begin(), a.end());
  // Roots whose imaginary part is below this are taken as real (a conjugate pair that close
  // gives the same quadratic either way, to far below float64 rounding).
  constexpr double kReal = 1e-20;
  auto upper_and_real = [&](const std::vector<PreciseRoot>& roots, std::vector<PreciseRoot>& upper,
                            std::vector<PreciseRoot>& real) {
    size_t lower = 0;
    for (const PreciseRoot& r : roots) {
      if (r.im > kReal) upper.push_back(r);
      else if (r.im < -kReal) ++lower;
      else real.push_back(r);
    }
    if (lower != upper.size()) throw std::logic_error("high-pass: roots not in conjugate pairs");
    std::sort(real.begin(), real.end(), [](const PreciseRoot& x, const PreciseRoot& y) { return x.re < y.re; });
  };

  std::vector<PreciseRoot> pole_pairs, real_poles;
  upper_and_real(polish_roots(ac, 1.0, approx_poles), pole_pairs, real_poles);
  if (pole_pairs.size() != 2 || real_poles.size() != 1) throw std::logic_error("high-pass: unexpected pole layout");
  std::sort(pole_pairs.begin(), pole_pairs.end(), [](const PreciseRoot& x, const PreciseRoot& y) {
    return std::hypot(x.re, x.im) < std::hypot(y.re, y.im);
  });

  // The zeros: five at z = 1 before rounding, spread around it (or some still on it) after.
  std::vector<PreciseRoot> zero_pairs, real_zeros;
  upper_and_real(polish_roots(bc, 1.0), zero_pairs, real_zeros);
  std::vector<std::array<double, 2>> zero_quadratics;
  for (const PreciseRoot& r : zero_pairs) zero_quadratics.push_back(conjugate_quadratic(r));
  size_t lo = 0, hi = real_zeros.size();
  while (zero_quadratics.size() < 2 && hi - lo >= 2) zero_quadratics.push_back(real_quadratic(real_zeros[lo++], real_zeros[--hi]));
  if (zero_quadratics.size() != 2 || hi - lo != 1) throw std::logic_error("high-pass: unexpected zero layout");

  std::array<kernels::Biquad, HighpassSpec::kSections> sections{};
  for (size_t k = 0; k < 2; ++k) {
    const std::array<double, 2> p = conjugate_quadratic(pole_pairs[k]);
    sections[k] = kernels::Biquad{{1.0, zero_quadratics[k][0], zero_quadratics[k][1]}, {1.0, p[0], p[1]}};
  }
  sections[2] = kernels::Biquad{{1.0, -real_zeros[lo].re, 0.0}, {1.0, -real_poles[0].re, 0.0}};
  for (double& c : sections[0].b) c *= b[0];
  return sections;
}

}  // namespace

HighpassDesign HighpassDesign::butterworth(double sample_rate, double cutoff_hz, int order) {
  if (order != HighpassSpec::kOrder) throw std::invalid_argument("high-pass order is fixed at 5");
  if (!(cutoff_hz > 0 && cutoff_hz < sample_rate / 2)) {
    throw std::invalid_argument("high-pass cutoff must lie between 0 and the Nyquist frequency");
  }
  // Analog prototype poles on the unit circle's left half.
  std::vector<cplx> poles;
  for (int m = -order + 1; m < order; m += 2) {
    poles.push_back(-std::exp(cplx(0.0, kPi * m / (2.0 * order))));
  }
  // Pre-warp (scipy works with fs = 2 after normalizing the cutoff to Nyquist).
  const double fs = 2.0;
  const double wn = 2.0 * cutoff_hz / sample_rate;
  const double warped = 2.0 * fs * std::tan(kPi * wn / fs);
  // Low-pass to high-pass: poles p → ω/p, `order` zeros at the origin, gain 1/Re(∏−p).
  cplx prod_neg_p = 1.0;
  for (const cplx& p : poles) prod_neg_p *= -p;
  double gain = 1.0 / prod_neg_p.real();
  for (cplx& p : poles) p = warped / p;
  // Bilinear transform: s-plane zeros at 0 map to z = 1.
  const double fs2 = 2.0 * fs;
  cplx prod_fs2_minus_z = std::pow(cplx(fs2), order);
  cplx prod_fs2_minus_p = 1.0;
  for (const cplx& p : poles) prod_fs2_minus_p *= fs2 - p;
  gain *= (prod_fs2_minus_z / prod_fs2_minus_p).real();
  std::vector<cplx> zpoles;
  for (const cplx& p : poles) zpoles.push_back((fs2 + p) / (fs2 - p));
  std::vector<cplx> zzeros(size_t(order), cplx(1.0));

  HighpassDesign d;
  const std::vector<double> bnum = poly(zzeros), aden = poly(zpoles);
  for (int i = 0; i <= order; ++i) {
    d.b[size_t(i)] = gain * bnum[size_t(i)];
    d.a[size_t(i)] = aden[size_t(i)];
  }

  // Sections: the reference's filter is the transfer function (b, a) as rounded to float64,
  // and with its poles within 1 % of z = 1 and its five zeros at z = 1, that rounding moves
  // the poles by ~1e-7 and spreads the zeros by ~1e-4: a filter measurably different from
  // the exact Butterworth near and below the cut-off (about −95 dB of the signal there). So
  // the sections are factors of the rounded polynomials themselves, their roots found to
  // about 30 digits: the reference's filter, without the rounding noise its 6-coefficient
  // recursion adds.
  d.sections = sections_of(d.b, d.a, zpoles);
  return d;
}

namespace {

constexpr int kLanes = Highpass::kLanes;

// One sample through the three sections, states as in Highpass::state_ (two per section).
inline double cascade_step(const kernels::Biquad* sections, double* z, double x) {
  const double v = kernels::biquad_step(sections[0], z, x);
  const double w = kernels::biquad_step(sections[1], z + 2, v);
  return kernels::biquad_step(sections[2], z + 4, w);
}

// Three sections over `len` steps of kLanes blocks side by side (in[i·kLanes + j] is sample i
// of block j, and so is out[i·kLanes + j] of its output), from and updating the states z (row
// r of kLanes values: state r of every block, as in Highpass::state_). Each lane runs
// cascade_step, so a lane's bits are the sequential run's.
__attribute__((target_clones("avx512f", "avx2", "default")))
void cascade_lanes_run(const kernels::Biquad* sections, double* __restrict z, const double* __restrict in,
                       double* __restrict out, long long len) {
  // Coefficients and states in locals (as in run_sequential): in memory, every store to
  // `out` could change them for all the compiler knows.
  const kernels::Biquad s[3] = {sections[0], sections[1], sections[2]};
  double zl[Highpass::kStates][kLanes];  // state by state, each a row over the lanes
  for (int r = 0; r < Highpass::kStates; ++r) {
    for (int j = 0; j < kLanes; ++j) zl[r][j] = z[r * kLanes + j];
  }
  for (long long i = 0; i < len; ++i) {
    const double* x = in + i * kLanes;
    for (int j = 0; j < kLanes; ++j) {
      double lane[Highpass::kStates];
      for (int r = 0; r < Highpass::kStates; ++r) lane[r] = zl[r][j];
      out[i * kLanes + j] = cascade_step(s, lane, x[j]);
      for (int r = 0; r < Highpass::kStates; ++r) zl[r][j] = lane[r];
    }
  }
  for (int r = 0; r < Highpass::kStates; ++r) {
    for (int j = 0; j < kLanes; ++j) z[r * kLanes + j] = zl[r][j];
  }
}

// kLanes blocks of `len` samples (len a multiple of kLanes), block j at blocks[j], side by
// side: out[i·kLanes + j] = blocks[j][i]. By square tiles, which compilers turn into register
// shuffles; element by element, the strided side made this cost more than the filter.
__attribute__((target_clones("avx512f", "avx2", "default")))
void interleave(const double* const* blocks, double* __restrict out, long long len) {
  for (long long i0 = 0; i0 < len; i0 += kLanes) {
    double tile[kLanes][kLanes];
    for (int j = 0; j < kLanes; ++j) {
      for (int k = 0; k < kLanes; ++k) tile[j][k] = blocks[j][i0 + k];
    }
    for (int k = 0; k < kLanes; ++k) {
      for (int j = 0; j < kLanes; ++j) out[(i0 + k) * kLanes + j] = tile[j][k];
    }
  }
}

// The inverse of interleave, adding what each block's start state contributes:
// blocks[j][i] = in[i·kLanes + j] + Σ_k response[k][i] · start[k][j] (k in order), for the
// first `used` blocks; response is Highpass::Tables::state_response (rows of `len`). The sum in the
// lanes, where the blocks lie side by side, and the same operations in the same order on every
// instruction set.
__attribute__((target_clones("avx512f", "avx2", "default")))
void deinterleave_adding(const double* __restrict in, const double* __restrict response,
                         const double (*__restrict start)[kLanes], double* const* blocks, int used, long long len) {
  static_assert(Highpass::kStates == 6, "six states");
  for (long long i0 = 0; i0 < len; i0 += kLanes) {
    double tile[kLanes][kLanes];
    for (int k = 0; k < kLanes; ++k) {
      const long long n = i0 + k;
      const double r0 = response[n], r1 = response[len + n], r2 = response[2 * len + n], r3 = response[3 * len + n],
                   r4 = response[4 * len + n], r5 = response[5 * len + n];
      for (int j = 0; j < kLanes; ++j) {
        const double add = ((((r0 * start[0][j] + r1 * start[1][j]) + r2 * start[2][j]) + r3 * start[3][j]) +
                            r4 * start[4][j]) + r5 * start[5][j];
        tile[j][k] = in[n * kLanes + j] + add;
      }
    }
    for (int j = 0; j < used; ++j) {
      for (int k = 0; k < kLanes; ++k) blocks[j][i0 + k] = tile[j][k];
    }
  }
}

}  // namespace

std::shared_ptr<const Highpass::Tables> Highpass::tables(double sample_rate) {
  static_assert(HighpassSpec::kSections == 3, "the runs below take three sections");
  // Leaked on purpose, like the resampler's designs: a worker may still look one up while an
  // exiting process runs the static destructors.
  static std::mutex mutex;
  static auto* cache = new std::map<double, std::shared_ptr<const Tables>>();
  std::lock_guard<std::mutex> lock(mutex);
  auto found = cache->find(sample_rate);
  if (found != cache->end()) return found->second;

  auto t = std::make_shared<Tables>();
  t->design = HighpassDesign::butterworth(sample_rate);
  const kernels::Biquad* sections = t->design.sections.data();
  // Column k of M: where unit state k goes over kBlock samples of zero input.
  for (int k = 0; k < kStates; ++k) {
    std::array<double, kStates> z{};
    z[size_t(k)] = 1.0;
    for (long long i = 0; i < kBlock; ++i) cascade_step(sections, z.data(), 0.0);
    for (int r = 0; r < kStates; ++r) t->carry[size_t(r * kStates + k)] = z[size_t(r)];
  }
  // Row k of the state response: the outputs from unit state k over a block of zero input.
  t->state_response.resize(size_t(kStates * kBlock));
  for (int k = 0; k < kStates; ++k) {
    std::array<double, kStates> z{};
    z[size_t(k)] = 1.0;
    for (long long i = 0; i < kBlock; ++i) {
      t->state_response[size_t(k * kBlock + i)] = cascade_step(sections, z.data(), 0.0);
    }
  }
  t->zeros.assign(size_t(kBlock), 0.0);
  cache->emplace(sample_rate, t);
  return t;
}

Highpass::Highpass(double sample_rate) : tables_(tables(sample_rate)) {}

void Highpass::process(double* x, size_t n) {
  // Long stretches in pieces, so that the scan's copy of the samples stays small (and in
  // cache) however much the caller passes at once.
  constexpr size_t kPiece = size_t(kLanes * kBlock) * 32;
  for (; n > kPiece; x += kPiece, n -= kPiece) process_stretch(x, kPiece);
  process_stretch(x, n);
}

void Highpass::process_stretch(double* x, size_t n) {
  const long long blocks = (static_cast<long long>(n) + kBlock - 1) / kBlock;
  // Below kLanes full blocks before the last, the lanes would run partly empty: sequential.
  if (blocks - 1 < kLanes) {
    run_sequential(x, n);
    return;
  }
  run_blocks(x, blocks - 1);
  // The last block from its carried start state (left in state_), alone.
  const size_t done = size_t((blocks - 1) * kBlock);
  run_sequential(x + done, n - done);
}

void Highpass::run_sequential(double* x, size_t n) {
  // All sections in one pass, sample by sample: each section's recursion is a chain of its
  // own, so the three overlap in the pipeline (one section after another would wait out each
  // chain's latency in turn). Each section sees the same inputs in the same order: the same
  // bits as running them one after another. Coefficients and states are copied into locals:
  // left in the object, the compiler must assume that writing x[i] may change them and keeps
  // them in memory, which puts a store and a reload into every step of each chain.
  const std::array<kernels::Biquad, HighpassSpec::kSections> s = tables_->design.sections;
  std::array<double, kStates> z = state_;
  for (size_t i = 0; i < n; ++i) x[i] = cascade_step(s.data(), z.data(), x[i]);
  state_ = z;
}

void Highpass::run_blocks(double* x, long long full_blocks) {
  const long long groups = (full_blocks + kLanes - 1) / kLanes;
  const size_t group_cells = size_t(kBlock) * kLanes;
  lanes_in_.resize(group_cells);
  lanes_out_.resize(group_cells);
  const Tables& t = *tables_;
  const kernels::Biquad* sections = t.design.sections.data();
  std::array<double, kStates> st = state_;  // the next block's true start state
  for (long long g = 0; g < groups; ++g) {
    const int used = int(std::min<long long>(kLanes, full_blocks - g * kLanes));
    double* at[kLanes];       // the group's blocks (the first `used`)
    const double* from[kLanes];  // and zeros for the lanes past them
    for (int j = 0; j < kLanes; ++j) {
      at[j] = j < used ? x + (g * kLanes + j) * kBlock : nullptr;
      from[j] = j < used ? at[j] : t.zeros.data();
    }
    // 1. The group's blocks side by side from zero state; lanes past the last full block run
    // on zeros and are not used.
    interleave(from, lanes_in_.data(), kBlock);
    double end[kStates][kLanes] = {};
    cascade_lanes_run(sections, &end[0][0], lanes_in_.data(), lanes_out_.data(), kBlock);
    // 2. The carry through the group's blocks.
    double start[kStates][kLanes] = {};
    for (int j = 0; j < used; ++j) {
      std::array<double, kStates> next{};
      for (int r = 0; r < kStates; ++r) {
        start[r][j] = st[size_t(r)];
        double v = 0;
        for (int k = 0; k < kStates; ++k) v += t.carry[size_t(r * kStates + k)] * st[size_t(k)];
        next[size_t(r)] = v + end[r][j];
      }
      st = next;
    }
    // 3. The outputs back in place, with what each block's start state adds.
    deinterleave_adding(lanes_out_.data(), t.state_response.data(), start, at, used, kBlock);
  }
  // The last block's start state.
  state_ = st;
}

}  // namespace voxprep
