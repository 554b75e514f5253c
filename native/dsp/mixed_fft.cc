#include "dsp/mixed_fft.h"

#include <cmath>
#include <cstdint>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>

#include "dsp/vec4.h"

namespace voxprep {
namespace {

constexpr double kPi = 3.14159265358979323846;

// cos and sin of 2πk/P, k < P.
template <int P>
struct Roots {
  double c[P], s[P];
  Roots() {
    for (int k = 0; k < P; ++k) {
      c[k] = std::cos(2.0 * kPi * k / P);
      s[k] = std::sin(2.0 * kPi * k / P);
    }
  }
};
template <int P>
const Roots<P>& roots() {
  static const Roots<P> r;
  return r;
}

// The passes below take the points j, j + m, …, j + (P − 1)·m together (a row's j-th point
// each), V's lanes of j at a time (four or eight; m is a multiple of them), s and P − s in
// pairs: with θ = 2π·r·s/P, x_s·e^(−iθ) + x_(P−s)·e^(iθ) = cos θ·(x_s + x_(P−s)) −
// i·sin θ·(x_s − x_(P−s)).

// The two sums each pass forms over its pairs for one k (an output row, or an output
// point): c_sum + Σ cos(2π·k·t/P)·c_in[t] and Σ sin(2π·k·t/P)·s_in[t], t = 1 … P/2.
template <int P, class V>
inline __attribute__((always_inline)) void pair_sums(const Roots<P>& w, int k, const V* c_in, const V* s_in, V& c_sum,
                                                     V& s_sum) {
  s_sum = V{};
  for (int t = 1; t <= P / 2; ++t) {
    c_sum = c_sum + w.c[(k * t) % P] * c_in[t];
    s_sum = s_sum + w.s[(k * t) % P] * s_in[t];
  }
}

// Forward, real input: row 0 gets u0[j] = Σ x_s; row r (1 ≤ r ≤ P/2) the twiddled
// u_r[j] = e^(−2πi·r·j/n)·Σ x_s·e^(−2πi·r·s/P). Rows r > P/2 are the conjugates.
template <int P, class V>
inline __attribute__((always_inline)) void real_forward(const double* __restrict x, int m,
                                                        const double* __restrict tw_re,
                                                        const double* __restrict tw_im, double* __restrict u) {
  const Roots<P> w = roots<P>();
  for (int j = 0; j < m; j += lanes_of<V>) {
    V sum[P / 2 + 1], dif[P / 2 + 1];
    const V x0 = load_lanes<V>(x + j);
    V total = x0;
    for (int s = 1; s <= P / 2; ++s) {
      const V a = load_lanes<V>(x + j + s * m), b = load_lanes<V>(x + j + (P - s) * m);
      sum[s] = a + b;
      dif[s] = a - b;
      total = total + sum[s];
    }
    store_lanes(u + j, total);
    for (int r = 1; r <= P / 2; ++r) {
      V a = x0, b;
      pair_sums(w, r, sum, dif, a, b);
      b = -b;
      const V tr = load_lanes<V>(tw_re + (r - 1) * m + j), ti = load_lanes<V>(tw_im + (r - 1) * m + j);
      double* row = u + (2 * r - 1) * m;
      store_lanes(row + j, a * tr - b * ti);
      store_lanes(row + m + j, a * ti + b * tr);
    }
  }
}

// Inverse, real output: from v0 (row 0's inverse, scaled by 1/m) and V_r (row r's, unscaled),
// x[j + s·m] = v0[j]/P + Σ_r scale · Re(e^(2πi·r·s/P)·e^(2πi·r·j/n)·V_r[j]), scale = 2/n.
template <int P, class V>
inline __attribute__((always_inline)) void real_inverse(const double* __restrict v, int m, double scale,
                                                        const double* __restrict tw_re,
                                                        const double* __restrict tw_im, double* __restrict x) {
  const Roots<P> w = roots<P>();
  const double inv_p = 1.0 / P;
  for (int j = 0; j < m; j += lanes_of<V>) {
    V pr[P / 2 + 1], pi[P / 2 + 1];
    const V v0 = load_lanes<V>(v + j) * inv_p;
    V x0 = v0;
    for (int r = 1; r <= P / 2; ++r) {
      const double* row = v + (2 * r - 1) * m;
      const V vr = load_lanes<V>(row + j), vi = load_lanes<V>(row + m + j);
      const V tr = load_lanes<V>(tw_re + (r - 1) * m + j), ti = load_lanes<V>(tw_im + (r - 1) * m + j);
      pr[r] = scale * (vr * tr + vi * ti);
      pi[r] = scale * (vi * tr - vr * ti);
      x0 = x0 + pr[r];
    }
    store_lanes(x + j, x0);
    for (int s = 1; s <= P / 2; ++s) {
      V e = v0, f;
      pair_sums(w, s, pr, pi, e, f);
      store_lanes(x + j + s * m, e - f);
      store_lanes(x + j + (P - s) * m, e + f);
    }
  }
}

// Forward, complex input a + i·b: row r (0 ≤ r < P; real parts at u + 2r·m, imaginary at
// u + (2r + 1)·m) gets e^(−2πi·r·j/n)·Σ x_s·e^(−2πi·r·s/P); rows r and P − r from the same
// sums: A − i·B and A + i·B.
template <int P, class V>
inline __attribute__((always_inline)) void complex_forward(const double* __restrict a, const double* __restrict b,
                                                           int m, const double* __restrict tw_re,
                                                           const double* __restrict tw_im, double* __restrict u) {
  const Roots<P> w = roots<P>();
  for (int j = 0; j < m; j += lanes_of<V>) {
    V sr[P / 2 + 1], si[P / 2 + 1], dr[P / 2 + 1], di[P / 2 + 1];
    const V x0r = load_lanes<V>(a + j), x0i = load_lanes<V>(b + j);
    V tr0 = x0r, ti0 = x0i;
    for (int s = 1; s <= P / 2; ++s) {
      const V ar = load_lanes<V>(a + j + s * m), ai = load_lanes<V>(b + j + s * m);
      const V br = load_lanes<V>(a + j + (P - s) * m), bi = load_lanes<V>(b + j + (P - s) * m);
      sr[s] = ar + br, si[s] = ai + bi;
      dr[s] = ar - br, di[s] = ai - bi;
      tr0 = tr0 + sr[s], ti0 = ti0 + si[s];
    }
    store_lanes(u + j, tr0);
    store_lanes(u + m + j, ti0);
    for (int r = 1; r <= P / 2; ++r) {
      V Ar = x0r, Ai = x0i, Br, Bi;
      pair_sums(w, r, sr, dr, Ar, Br);
      pair_sums(w, r, si, di, Ai, Bi);
      const V lo_r = Ar + Bi, lo_i = Ai - Br;  // row r: A − i·B
      const V hi_r = Ar - Bi, hi_i = Ai + Br;  // row P − r: A + i·B
      const V t1r = load_lanes<V>(tw_re + (r - 1) * m + j), t1i = load_lanes<V>(tw_im + (r - 1) * m + j);
      const V t2r = load_lanes<V>(tw_re + (P - r - 1) * m + j), t2i = load_lanes<V>(tw_im + (P - r - 1) * m + j);
      store_lanes(u + 2 * r * m + j, lo_r * t1r - lo_i * t1i);
      store_lanes(u + (2 * r + 1) * m + j, lo_r * t1i + lo_i * t1r);
      store_lanes(u + 2 * (P - r) * m + j, hi_r * t2r - hi_i * t2i);
      store_lanes(u + (2 * (P - r) + 1) * m + j, hi_r * t2i + hi_i * t2r);
    }
  }
}

// Inverse, complex output, unscaled: with W_r[j] = e^(2πi·r·j/n)·V_r[j] (V_r: row r's inverse),
// x[j + s·m] = Σ_r e^(2πi·r·s/P)·W_r[j]; points s and P − s from the same sums: E + i·F and
// E − i·F.
template <int P, class V>
inline __attribute__((always_inline)) void complex_inverse(const double* __restrict v, int m,
                                                           const double* __restrict tw_re,
                                                           const double* __restrict tw_im, double* __restrict a,
                                                           double* __restrict b) {
  const Roots<P> w = roots<P>();
  for (int j = 0; j < m; j += lanes_of<V>) {
    V sr[P / 2 + 1], si[P / 2 + 1], dr[P / 2 + 1], di[P / 2 + 1];
    const V w0r = load_lanes<V>(v + j), w0i = load_lanes<V>(v + m + j);
    V x0r = w0r, x0i = w0i;
    for (int r = 1; r <= P / 2; ++r) {
      const V v1r = load_lanes<V>(v + 2 * r * m + j), v1i = load_lanes<V>(v + (2 * r + 1) * m + j);
      const V v2r = load_lanes<V>(v + 2 * (P - r) * m + j), v2i = load_lanes<V>(v + (2 * (P - r) + 1) * m + j);
      // conj(twiddle)·V
      const V t1r = load_lanes<V>(tw_re + (r - 1) * m + j), t1i = load_lanes<V>(tw_im + (r - 1) * m + j);
      const V t2r = load_lanes<V>(tw_re + (P - r - 1) * m + j), t2i = load_lanes<V>(tw_im + (P - r - 1) * m + j);
      const V w1r = v1r * t1r + v1i * t1i, w1i = v1i * t1r - v1r * t1i;
      const V w2r = v2r * t2r + v2i * t2i, w2i = v2i * t2r - v2r * t2i;
      sr[r] = w1r + w2r, si[r] = w1i + w2i;
      dr[r] = w1r - w2r, di[r] = w1i - w2i;
      x0r = x0r + sr[r], x0i = x0i + si[r];
    }
    store_lanes(a + j, x0r);
    store_lanes(b + j, x0i);
    for (int s = 1; s <= P / 2; ++s) {
      V Er = w0r, Ei = w0i, Fr, Fi;
      pair_sums(w, s, sr, dr, Er, Fr);
      pair_sums(w, s, si, di, Ei, Fi);
      store_lanes(a + j + s * m, Er - Fi);
      store_lanes(b + j + s * m, Ei + Fr);
      store_lanes(a + j + (P - s) * m, Er + Fi);
      store_lanes(b + j + (P - s) * m, Ei - Fr);
    }
  }
}

// Each pass for p = 3, 5 or 7 at `lanes` (4, or 8 where vector_lanes() says so and m is a
// multiple of 8) doubles a time, cloned per instruction set: the same operations in each lane
// at either width and in every clone (no fused multiply-adds, see CMakeLists.txt), so the
// same bits.
#define VOXPREP_PASS(name, params, args)                                                  \
  __attribute__((target_clones("avx512f", "avx2", "default"))) void name##_pass params { \
    if (lanes == 8) {                                                                     \
      if (p == 3) return name<3, Vec8> args;                                              \
      if (p == 5) return name<5, Vec8> args;                                              \
      return name<7, Vec8> args;                                                          \
    }                                                                                     \
    if (p == 3) return name<3, Vec4> args;                                                \
    if (p == 5) return name<5, Vec4> args;                                                \
    return name<7, Vec4> args;                                                            \
  }
VOXPREP_PASS(real_forward, (int lanes, int p, const double* x, int m, const double* tw_re, const double* tw_im, double* u),
             (x, m, tw_re, tw_im, u))
VOXPREP_PASS(real_inverse,
             (int lanes, int p, const double* v, int m, double scale, const double* tw_re, const double* tw_im, double* x),
             (v, m, scale, tw_re, tw_im, x))
VOXPREP_PASS(complex_forward,
             (int lanes, int p, const double* a, const double* b, int m, const double* tw_re, const double* tw_im, double* u),
             (a, b, m, tw_re, tw_im, u))
VOXPREP_PASS(complex_inverse,
             (int lanes, int p, const double* v, int m, const double* tw_re, const double* tw_im, double* a, double* b),
             (v, m, tw_re, tw_im, a, b))
#undef VOXPREP_PASS

int lanes_for(int m) { return m % 8 == 0 ? vector_lanes() : 4; }

// The first pass's radix: the smallest odd factor of n (3, 5 or 7), or 1 for a power of two;
// 0 when n is not of the form the transforms take.
int first_radix(int n) {
  if (n <= 0) return 0;
  int rest = n;
  for (int p : {3, 5, 7}) {
    while (rest % p == 0) rest /= p;
  }
  if (rest < 4 || (rest & (rest - 1)) != 0) return 0;
  for (int p : {3, 5, 7}) {
    if (n % p == 0) return p;
  }
  return 1;
}

int checked_radix(int n) {
  const int p = first_radix(n);
  if (p == 0) {
    throw std::invalid_argument("FFT size " + std::to_string(n) +
                                ": must be a power of two (at least 4) times a product of 3s, 5s and 7s");
  }
  return p;
}

std::shared_ptr<const PassTwiddles> twiddles_for(int n, int p) {
  // Leaked on purpose, as RealFft's plans are.
  static std::mutex mutex;
  static auto* cache = new std::map<int, std::shared_ptr<const PassTwiddles>>();
  std::lock_guard<std::mutex> lock(mutex);
  std::shared_ptr<const PassTwiddles>& cached = (*cache)[n];
  if (cached) return cached;
  const int m = n / p;
  auto t = std::make_shared<PassTwiddles>();
  t->re.resize(size_t(p - 1) * size_t(m));
  t->im.resize(t->re.size());
  for (int r = 1; r < p; ++r) {
    for (int j = 0; j < m; ++j) {
      // The angle from r·j mod n, exactly.
      const double angle = -2.0 * kPi * double((int64_t(r) * j) % n) / double(n);
      t->re[size_t((r - 1) * m + j)] = std::cos(angle);
      t->im[size_t((r - 1) * m + j)] = std::sin(angle);
    }
  }
  cached = t;
  return cached;
}

}  // namespace

bool MixedComplexFft::supported(int n) { return first_radix(n) != 0; }

MixedComplexFft::MixedComplexFft(int n) : n_(n), p_(checked_radix(n)), m_(n / p_) {
  if (p_ == 1) {
    leaf_ = std::make_unique<RealFft>(2 * n);
    return;
  }
  rows_ = std::make_unique<MixedComplexFft>(m_);
  tw_ = twiddles_for(n_, p_);
  u_.resize(2 * size_t(n_));
}

int MixedComplexFft::slot(int c) const {
  if (p_ == 1) return c;
  return (c % p_) * m_ + rows_->slot(c / p_);
}

void MixedComplexFft::forward(const double* a, const double* b, double* re, double* im) {
  if (p_ == 1) return leaf_->complex_forward(a, b, re, im);
  complex_forward_pass(lanes_for(m_), p_, a, b, m_, tw_->re.data(), tw_->im.data(), u_.data());
  for (int r = 0; r < p_; ++r) {
    const double* row = u_.data() + 2 * size_t(r) * size_t(m_);
    rows_->forward(row, row + m_, re + r * m_, im + r * m_);
  }
}

void MixedComplexFft::inverse(const double* re, const double* im, double* a, double* b) {
  if (p_ == 1) return leaf_->complex_inverse(re, im, a, b);
  for (int r = 0; r < p_; ++r) {
    double* row = u_.data() + 2 * size_t(r) * size_t(m_);
    rows_->inverse(re + r * m_, im + r * m_, row, row + m_);
  }
  complex_inverse_pass(lanes_for(m_), p_, u_.data(), m_, tw_->re.data(), tw_->im.data(), a, b);
}

bool MixedRealFft::supported(int n) { return first_radix(n) != 0; }

MixedRealFft::MixedRealFft(int n) : n_(n), p_(checked_radix(n)), m_(n / p_) {
  if (p_ == 1) {
    leaf_ = std::make_unique<RealFft>(n);
    row0_ = packed_ = (n / 2 + 1 + 3) / 4 * 4;
    return;
  }
  row0_fft_ = std::make_unique<MixedRealFft>(m_);
  rows_ = std::make_unique<MixedComplexFft>(m_);
  row0_ = (row0_fft_->packed_size() + 3) / 4 * 4;
  packed_ = row0_ + (p_ / 2) * m_;
  tw_ = twiddles_for(n_, p_);
  u_.resize(size_t(n_));
}

int MixedRealFft::slot(int c, bool& conjugated) const {
  if (p_ == 1) {
    conjugated = 2 * c > n_;
    return conjugated ? n_ - c : c;
  }
  const int r = c % p_, q = c / p_;
  if (r == 0) return row0_fft_->slot(q, conjugated);
  if (r <= p_ / 2) {
    conjugated = false;
    return row0_ + (r - 1) * m_ + rows_->slot(q);
  }
  // X[p·q + r] = conj X[n − p·q − r] = conj X[p·(m − 1 − q) + (p − r)]
  conjugated = true;
  return row0_ + (p_ - r - 1) * m_ + rows_->slot(m_ - 1 - q);
}

void MixedRealFft::forward(const double* x, double* re, double* im) {
  if (p_ == 1) return leaf_->forward(x, re, im);
  double* u = u_.data();
  real_forward_pass(lanes_for(m_), p_, x, m_, tw_->re.data(), tw_->im.data(), u);
  row0_fft_->forward(u, re, im);
  for (int r = 1; r <= p_ / 2; ++r) {
    const double* row = u + (2 * r - 1) * m_;
    const int at = row0_ + (r - 1) * m_;
    rows_->forward(row, row + m_, re + at, im + at);
  }
}

void MixedRealFft::inverse(const double* re, const double* im, double* x) {
  if (p_ == 1) return leaf_->inverse(re, im, x);
  double* v = u_.data();
  row0_fft_->inverse(re, im, v);
  for (int r = 1; r <= p_ / 2; ++r) {
    double* row = v + (2 * r - 1) * m_;
    const int at = row0_ + (r - 1) * m_;
    rows_->inverse(re + at, im + at, row, row + m_);
  }
  real_inverse_pass(lanes_for(m_), p_, v, m_, 2.0 / double(n_), tw_->re.data(), tw_->im.data(), x);
}

}  // namespace voxprep
