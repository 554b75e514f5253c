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
// each), four j at a time in the lanes of a vector (m is a multiple of 4), s and P − s in
// pairs: with θ = 2π·r·s/P, x_s·e^(−iθ) + x_(P−s)·e^(iθ) = cos θ·(x_s + x_(P−s)) −
// i·sin θ·(x_s − x_(P−s)).

// Forward, real input: row 0 gets u0[j] = Σ x_s; row r (1 ≤ r ≤ P/2) the twiddled
// u_r[j] = e^(−2πi·r·j/n)·Σ x_s·e^(−2πi·r·s/P). Rows r > P/2 are the conjugates.
template <int P>
inline __attribute__((always_inline)) void real_forward(const double* __restrict x, int m,
                                                        const double* __restrict tw_re,
                                                        const double* __restrict tw_im, double* __restrict u) {
  const Roots<P> w = roots<P>();
  for (int j = 0; j < m; j += 4) {
    Vec4 sum[P / 2 + 1], dif[P / 2 + 1];
    const Vec4 x0 = load4(x + j);
    Vec4 total = x0;
    for (int s = 1; s <= P / 2; ++s) {
      const Vec4 a = load4(x + j + s * m), b = load4(x + j + (P - s) * m);
      sum[s] = a + b;
      dif[s] = a - b;
      total = total + sum[s];
    }
    store4(u + j, total);
    for (int r = 1; r <= P / 2; ++r) {
      Vec4 a = x0, b = Vec4{};
      for (int s = 1; s <= P / 2; ++s) {
        a = a + w.c[(r * s) % P] * sum[s];
        b = b - w.s[(r * s) % P] * dif[s];
      }
      const Vec4 tr = load4(tw_re + (r - 1) * m + j), ti = load4(tw_im + (r - 1) * m + j);
      double* row = u + (2 * r - 1) * m;
      store4(row + j, a * tr - b * ti);
      store4(row + m + j, a * ti + b * tr);
    }
  }
}

// Inverse, real output: from v0 (row 0's inverse, scaled by 1/m) and V_r (row r's, unscaled),
// x[j + s·m] = v0[j]/P + Σ_r scale · Re(e^(2πi·r·s/P)·e^(2πi·r·j/n)·V_r[j]), scale = 2/n.
template <int P>
inline __attribute__((always_inline)) void real_inverse(const double* __restrict v, int m, double scale,
                                                        const double* __restrict tw_re,
                                                        const double* __restrict tw_im, double* __restrict x) {
  const Roots<P> w = roots<P>();
  const double inv_p = 1.0 / P;
  for (int j = 0; j < m; j += 4) {
    Vec4 pr[P / 2 + 1], pi[P / 2 + 1];
    const Vec4 v0 = load4(v + j) * inv_p;
    Vec4 x0 = v0;
    for (int r = 1; r <= P / 2; ++r) {
      const double* row = v + (2 * r - 1) * m;
      const Vec4 vr = load4(row + j), vi = load4(row + m + j);
      const Vec4 tr = load4(tw_re + (r - 1) * m + j), ti = load4(tw_im + (r - 1) * m + j);
      pr[r] = scale * (vr * tr + vi * ti);
      pi[r] = scale * (vi * tr - vr * ti);
      x0 = x0 + pr[r];
    }
    store4(x + j, x0);
    for (int s = 1; s <= P / 2; ++s) {
      Vec4 e = v0, f = Vec4{};
      for (int r = 1; r <= P / 2; ++r) {
        e = e + w.c[(r * s) % P] * pr[r];
        f = f + w.s[(r * s) % P] * pi[r];
      }
      store4(x + j + s * m, e - f);
      store4(x + j + (P - s) * m, e + f);
    }
  }
}

// Forward, complex input a + i·b: row r (0 ≤ r < P; real parts at u + 2r·m, imaginary at
// u + (2r + 1)·m) gets e^(−2πi·r·j/n)·Σ x_s·e^(−2πi·r·s/P); rows r and P − r from the same
// sums: A − i·B and A + i·B.
template <int P>
inline __attribute__((always_inline)) void complex_forward(const double* __restrict a, const double* __restrict b,
                                                           int m, const double* __restrict tw_re,
                                                           const double* __restrict tw_im, double* __restrict u) {
  const Roots<P> w = roots<P>();
  for (int j = 0; j < m; j += 4) {
    Vec4 sr[P / 2 + 1], si[P / 2 + 1], dr[P / 2 + 1], di[P / 2 + 1];
    const Vec4 x0r = load4(a + j), x0i = load4(b + j);
    Vec4 tr0 = x0r, ti0 = x0i;
    for (int s = 1; s <= P / 2; ++s) {
      const Vec4 ar = load4(a + j + s * m), ai = load4(b + j + s * m);
      const Vec4 br = load4(a + j + (P - s) * m), bi = load4(b + j + (P - s) * m);
      sr[s] = ar + br, si[s] = ai + bi;
      dr[s] = ar - br, di[s] = ai - bi;
      tr0 = tr0 + sr[s], ti0 = ti0 + si[s];
    }
    store4(u + j, tr0);
    store4(u + m + j, ti0);
    for (int r = 1; r <= P / 2; ++r) {
      Vec4 Ar = x0r, Ai = x0i, Br = Vec4{}, Bi = Vec4{};
      for (int s = 1; s <= P / 2; ++s) {
        const double c = w.c[(r * s) % P], sn = w.s[(r * s) % P];
        Ar = Ar + c * sr[s], Ai = Ai + c * si[s];
        Br = Br + sn * dr[s], Bi = Bi + sn * di[s];
      }
      const Vec4 lo_r = Ar + Bi, lo_i = Ai - Br;  // row r: A − i·B
      const Vec4 hi_r = Ar - Bi, hi_i = Ai + Br;  // row P − r: A + i·B
      const Vec4 t1r = load4(tw_re + (r - 1) * m + j), t1i = load4(tw_im + (r - 1) * m + j);
      const Vec4 t2r = load4(tw_re + (P - r - 1) * m + j), t2i = load4(tw_im + (P - r - 1) * m + j);
      store4(u + 2 * r * m + j, lo_r * t1r - lo_i * t1i);
      store4(u + (2 * r + 1) * m + j, lo_r * t1i + lo_i * t1r);
      store4(u + 2 * (P - r) * m + j, hi_r * t2r - hi_i * t2i);
      store4(u + (2 * (P - r) + 1) * m + j, hi_r * t2i + hi_i * t2r);
    }
  }
}

// Inverse, complex output, unscaled: with W_r[j] = e^(2πi·r·j/n)·V_r[j] (V_r: row r's inverse),
// x[j + s·m] = Σ_r e^(2πi·r·s/P)·W_r[j]; points s and P − s from the same sums: E + i·F and
// E − i·F.
template <int P>
inline __attribute__((always_inline)) void complex_inverse(const double* __restrict v, int m,
                                                           const double* __restrict tw_re,
                                                           const double* __restrict tw_im, double* __restrict a,
                                                           double* __restrict b) {
  const Roots<P> w = roots<P>();
  for (int j = 0; j < m; j += 4) {
    Vec4 sr[P / 2 + 1], si[P / 2 + 1], dr[P / 2 + 1], di[P / 2 + 1];
    const Vec4 w0r = load4(v + j), w0i = load4(v + m + j);
    Vec4 x0r = w0r, x0i = w0i;
    for (int r = 1; r <= P / 2; ++r) {
      const Vec4 v1r = load4(v + 2 * r * m + j), v1i = load4(v + (2 * r + 1) * m + j);
      const Vec4 v2r = load4(v + 2 * (P - r) * m + j), v2i = load4(v + (2 * (P - r) + 1) * m + j);
      // conj(twiddle)·V
      const Vec4 t1r = load4(tw_re + (r - 1) * m + j), t1i = load4(tw_im + (r - 1) * m + j);
      const Vec4 t2r = load4(tw_re + (P - r - 1) * m + j), t2i = load4(tw_im + (P - r - 1) * m + j);
      const Vec4 w1r = v1r * t1r + v1i * t1i, w1i = v1i * t1r - v1r * t1i;
      const Vec4 w2r = v2r * t2r + v2i * t2i, w2i = v2i * t2r - v2r * t2i;
      sr[r] = w1r + w2r, si[r] = w1i + w2i;
      dr[r] = w1r - w2r, di[r] = w1i - w2i;
      x0r = x0r + sr[r], x0i = x0i + si[r];
    }
    store4(a + j, x0r);
    store4(b + j, x0i);
    for (int s = 1; s <= P / 2; ++s) {
      Vec4 Er = w0r, Ei = w0i, Fr = Vec4{}, Fi = Vec4{};
      for (int r = 1; r <= P / 2; ++r) {
        const double c = w.c[(r * s) % P], sn = w.s[(r * s) % P];
        Er = Er + c * sr[r], Ei = Ei + c * si[r];
        Fr = Fr + sn * dr[r], Fi = Fi + sn * di[r];
      }
      store4(a + j + s * m, Er - Fi);
      store4(b + j + s * m, Ei + Fr);
      store4(a + j + (P - s) * m, Er + Fi);
      store4(b + j + (P - s) * m, Ei - Fr);
    }
  }
}

// One pass for p = 3, 5 or 7, cloned per instruction set (the same bits in every clone: no
// fused multiply-adds, see CMakeLists.txt).
__attribute__((target_clones("avx512f", "avx2", "default")))
void real_forward_pass(int p, const double* x, int m, const double* tw_re, const double* tw_im, double* u) {
  if (p == 3) return real_forward<3>(x, m, tw_re, tw_im, u);
  if (p == 5) return real_forward<5>(x, m, tw_re, tw_im, u);
  real_forward<7>(x, m, tw_re, tw_im, u);
}
__attribute__((target_clones("avx512f", "avx2", "default")))
void real_inverse_pass(int p, const double* v, int m, double scale, const double* tw_re, const double* tw_im,
                       double* x) {
  if (p == 3) return real_inverse<3>(v, m, scale, tw_re, tw_im, x);
  if (p == 5) return real_inverse<5>(v, m, scale, tw_re, tw_im, x);
  real_inverse<7>(v, m, scale, tw_re, tw_im, x);
}
__attribute__((target_clones("avx512f", "avx2", "default")))
void complex_forward_pass(int p, const double* a, const double* b, int m, const double* tw_re, const double* tw_im,
                          double* u) {
  if (p == 3) return complex_forward<3>(a, b, m, tw_re, tw_im, u);
  if (p == 5) return complex_forward<5>(a, b, m, tw_re, tw_im, u);
  complex_forward<7>(a, b, m, tw_re, tw_im, u);
}
__attribute__((target_clones("avx512f", "avx2", "default")))
void complex_inverse_pass(int p, const double* v, int m, const double* tw_re, const double* tw_im, double* a,
                          double* b) {
  if (p == 3) return complex_inverse<3>(v, m, tw_re, tw_im, a, b);
  if (p == 5) return complex_inverse<5>(v, m, tw_re, tw_im, a, b);
  complex_inverse<7>(v, m, tw_re, tw_im, a, b);
}

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
  complex_forward_pass(p_, a, b, m_, tw_->re.data(), tw_->im.data(), u_.data());
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
  complex_inverse_pass(p_, u_.data(), m_, tw_->re.data(), tw_->im.data(), a, b);
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
  real_forward_pass(p_, x, m_, tw_->re.data(), tw_->im.data(), u);
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
  real_inverse_pass(p_, v, m_, 2.0 / double(n_), tw_->re.data(), tw_->im.data(), x);
}

}  // namespace voxprep
