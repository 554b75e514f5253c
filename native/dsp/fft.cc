#include "dsp/fft.h"

#include <cmath>
#include <map>
#include <mutex>
#include <stdexcept>

namespace voxprep {
namespace {

constexpr double kPi = 3.14159265358979323846;

// The first two butterfly passes of an m-point complex FFT (decimation in time, m ≥ 4),
// fused with the bit-reversal reordering: each group of four points is read where `load`
// finds point k of the reordered input (load(rev[k], re, im)), combined in registers (the two
// passes' twiddles are 1 and −i: no multiplications) and stored once.
template <class Load>
inline __attribute__((always_inline)) void gather_first_passes(const int* rev, int m, double* re, double* im,
                                                               Load load) {
  for (int k = 0; k < m; k += 4) {
    double r0, i0, r1, i1, r2, i2, r3, i3;
    load(rev[k], r0, i0);
    load(rev[k + 1], r1, i1);
    load(rev[k + 2], r2, i2);
    load(rev[k + 3], r3, i3);
    const double a0r = r0 + r1, a0i = i0 + i1;
    const double a1r = r0 - r1, a1i = i0 - i1;
    const double a2r = r2 + r3, a2i = i2 + i3;
    const double a3r = r2 - r3, a3i = i2 - i3;
    re[k] = a0r + a2r;
    im[k] = a0i + a2i;
    re[k + 2] = a0r - a2r;
    im[k + 2] = a0i - a2i;
    // −i · a3 = a3i − i · a3r
    re[k + 1] = a1r + a3i;
    im[k + 1] = a1i - a3r;
    re[k + 3] = a1r - a3i;
    im[k + 3] = a1i + a3r;
  }
}

// One butterfly of a later pass: (a, b) ← (a + w·b, a − w·b), in the one operation order
// every pass uses (so that passes fused in registers keep the bits of passes run alone).
inline __attribute__((always_inline)) void butterfly(double& ar, double& ai, double& br, double& bi, double wr,
                                                     double wi) {
  const double tr = br * wr - bi * wi;
  const double ti = br * wi + bi * wr;
  br = ar - tr;
  bi = ai - ti;
  ar = ar + tr;
  ai = ai + ti;
}

// The remaining butterfly passes, from half-width 4 on, over the output of
// gather_first_passes. The same operations in the same order on every instruction set: the
// same bits. (AVX-512 is left out: on the machines measured, its 8-wide vectors ran these
// short loops slower than AVX2.)
__attribute__((target_clones("avx2", "default")))
void later_passes(double* __restrict re, double* __restrict im, int m, const double* __restrict tw_re,
                  const double* __restrict tw_im) {
  // Later passes two at a time (half-widths h and 2h over each group of 4h points), the
  // values held in registers between the two: each pass's arithmetic exactly as when run
  // alone (the same bits), with half the loads and stores. An odd pass left over runs alone.
  int h = 4;
  for (; 4 * h <= m; h *= 4) {
    const double* w1r = tw_re + (h - 1);
    const double* w1i = tw_im + (h - 1);
    const double* w2r = tw_re + (2 * h - 1);
    const double* w2i = tw_im + (2 * h - 1);
    for (int k = 0; k < m; k += 4 * h) {
      double* ar = re + k;
      double* ai = im + k;
      double* br = ar + h;
      double* bi = ai + h;
      double* cr = ar + 2 * h;
      double* ci = ai + 2 * h;
      double* dr = ar + 3 * h;
      double* di = ai + 3 * h;
#pragma GCC ivdep
      for (int j = 0; j < h; ++j) {
        double a_r = ar[j], a_i = ai[j], b_r = br[j], b_i = bi[j];
        double c_r = cr[j], c_i = ci[j], d_r = dr[j], d_i = di[j];
        // Pass h: (a, b) and (c, d), twiddle w1[j]; pass 2h: (a, c) with w2[j], (b, d) with w2[j + h].
        butterfly(a_r, a_i, b_r, b_i, w1r[j], w1i[j]);
        butterfly(c_r, c_i, d_r, d_i, w1r[j], w1i[j]);
        butterfly(a_r, a_i, c_r, c_i, w2r[j], w2i[j]);
        butterfly(b_r, b_i, d_r, d_i, w2r[j + h], w2i[j + h]);
        ar[j] = a_r;
        ai[j] = a_i;
        br[j] = b_r;
        bi[j] = b_i;
        cr[j] = c_r;
        ci[j] = c_i;
        dr[j] = d_r;
        di[j] = d_i;
      }
    }
  }
  for (; h < m; h *= 2) {
    const double* wr = tw_re + (h - 1);
    const double* wi = tw_im + (h - 1);
    for (int k = 0; k < m; k += 2 * h) {
      double* ar = re + k;
      double* ai = im + k;
      double* br = re + k + h;
      double* bi = im + k + h;
      // The two halves never overlap: no run-time aliasing checks.
#pragma GCC ivdep
      for (int j = 0; j < h; ++j) butterfly(ar[j], ai[j], br[j], bi[j], wr[j], wi[j]);
    }
  }
}

// From Z, the m-point transform of z[j] = x[2j] + i·x[2j+1], to X, the n = 2m point transform
// of the real x: with E = (Z[k] + conj Z[m−k]) / 2 and D = (Z[k] − conj Z[m−k]) / 2 (the
// transforms of the even samples, and i times those of the odd ones), X[k] = E − i·W^k·D,
// W = e^(−2πi/n).
__attribute__((target_clones("avx2", "default")))
void split_forward(const double* __restrict zr, const double* __restrict zi, int m, const double* __restrict wc,
                   const double* __restrict ws, double* __restrict re, double* __restrict im) {
  re[0] = zr[0] + zi[0];
  im[0] = 0;
  re[m] = zr[0] - zi[0];
  im[m] = 0;
  for (int k = 1; k < m; ++k) {
    const double pr = zr[k], pi = zi[k], qr = zr[m - k], qi = zi[m - k];
    const double er = 0.5 * (pr + qr), ei = 0.5 * (pi - qi);
    const double dr = 0.5 * (pr - qr), di = 0.5 * (pi + qi);
    const double c = wc[k], s = ws[k];
    re[k] = er + (c * di + s * dr);
    im[k] = ei - (c * dr - s * di);
  }
}

// The split step backwards: E = (X[k] + conj X[m−k]) / 2, O = conj(W^k)·(X[k] − conj X[m−k]) / 2,
// Z[k] = E + i·O. Bins 0 and m are taken as real.
__attribute__((target_clones("avx2", "default")))
void split_inverse(const double* __restrict re, const double* __restrict im, int m, const double* __restrict wc,
                   const double* __restrict ws, double* __restrict zr, double* __restrict zi) {
  zr[0] = 0.5 * (re[0] + re[m]);
  zi[0] = 0.5 * (re[0] - re[m]);
  for (int k = 1; k < m; ++k) {
    const double pr = re[k], pi = im[k], qr = re[m - k], qi = im[m - k];
    const double er = 0.5 * (pr + qr), ei = 0.5 * (pi - qi);
    const double dr = 0.5 * (pr - qr), di = 0.5 * (pi + qi);
    const double c = wc[k], s = ws[k];
    zr[k] = er - (c * di - s * dr);
    zi[k] = ei + (c * dr + s * di);
  }
}

// out[i] = x[i] · window[i]
__attribute__((target_clones("avx2", "default")))
void apply_window(const double* __restrict x, const double* __restrict window, double* __restrict out, int n) {
  for (int i = 0; i < n; ++i) out[i] = x[i] * window[i];
}

}  // namespace

std::shared_ptr<const RealFft::Plan> RealFft::plan_for(int n) {
  // Few sizes are ever used; each plan is made once (a per-segment transform used to spend
  // more time on its sines and cosines than on a short segment).
  static std::mutex mutex;
  static std::map<int, std::shared_ptr<const Plan>> plans;
  std::lock_guard<std::mutex> lock(mutex);
  std::shared_ptr<const Plan>& cached = plans[n];
  if (cached) return cached;
  const int m = n / 2;
  auto p = std::make_shared<Plan>();
  int bits = 0;
  while ((1 << bits) < m) ++bits;
  p->bitrev.resize(size_t(m));
  for (int k = 0; k < m; ++k) {
    int r = 0;
    for (int b = 0; b < bits; ++b) r |= ((k >> b) & 1) << (bits - 1 - b);
    p->bitrev[size_t(k)] = r;
  }
  // Pass twiddles e^(−iπj/h), j < h, for every half-width h (the first two passes need none,
  // but the table is kept uniform).
  p->tw_re.assign(size_t(m > 1 ? m - 1 : 1), 1.0);
  p->tw_im.assign(p->tw_re.size(), 0.0);
  for (int h = 1; h < m; h *= 2) {
    for (int j = 0; j < h; ++j) {
      const double angle = -kPi * double(j) / double(h);
      p->tw_re[size_t(h - 1 + j)] = std::cos(angle);
      p->tw_im[size_t(h - 1 + j)] = std::sin(angle);
    }
  }
  p->sp_re.resize(size_t(m));
  p->sp_im.resize(size_t(m));
  for (int k = 0; k < m; ++k) {
    const double angle = -2.0 * kPi * double(k) / double(n);
    p->sp_re[size_t(k)] = std::cos(angle);
    p->sp_im[size_t(k)] = std::sin(angle);
  }
  cached = p;
  return cached;
}

RealFft::RealFft(int n) : n_(n), m_(n / 2) {
  if (n < 4 || (n & (n - 1)) != 0) throw std::invalid_argument("FFT size must be a power of two, at least 4");
  plan_ = plan_for(n);
  work_.resize(4 * size_t(m_ + kKeepApart));
}

// Transforms of four points (n = 4, one pass) skip the fused path.
void RealFft::small_transform(double* zr, double* zi) {
  const double r0 = zr[0], i0 = zi[0];
  zr[0] = r0 + zr[1];
  zi[0] = i0 + zi[1];
  zr[1] = r0 - zr[1];
  zi[1] = i0 - zi[1];
}

// The reordering and every butterfly pass into (re, im), point k of the reordered input read
// by load(rev[k], re, im).
template <class Load>
void RealFft::passes_from(Load load, double* re, double* im) {
  const int* rev = plan_->bitrev.data();
  if (m_ == 2) {
    for (int k = 0; k < 2; ++k) load(rev[k], re[k], im[k]);
    small_transform(re, im);
  } else {
    gather_first_passes(rev, m_, re, im, load);
    later_passes(re, im, m_, plan_->tw_re.data(), plan_->tw_im.data());
  }
}

void RealFft::forward(const double* x, double* re, double* im, const double* window) {
  if (!window) return forward_strided(x, 1, re, im);
  // The window applied first, in one vectorized pass: in the reordering's scattered reads
  // it doubled the loads.
  if (windowed_.empty()) windowed_.resize(size_t(n_));
  apply_window(x, window, windowed_.data(), n_);
  const double* y = windowed_.data();
  // z[j] = y[2j] + i·y[2j+1], in bit-reversed order (a permutation that is its own inverse).
  passes_from(
      [&](int j, double& r, double& i) {
        r = y[2 * j];
        i = y[2 * j + 1];
      },
      part(0), part(1));
  split_forward(part(0), part(1), m_, plan_->sp_re.data(), plan_->sp_im.data(), re, im);
}

void RealFft::forward_strided(const double* x, std::ptrdiff_t stride, double* re, double* im) {
  passes_from(
      [&](int j, double& r, double& i) {
        const std::ptrdiff_t at = 2 * std::ptrdiff_t(j) * stride;
        r = x[at];
        i = x[at + stride];
      },
      part(0), part(1));
  split_forward(part(0), part(1), m_, plan_->sp_re.data(), plan_->sp_im.data(), re, im);
}

void RealFft::inverse(const double* re, const double* im, double* x) {
  double* zr = part(0);
  double* zi = part(1);
  double* ur = part(2);
  double* ui = part(3);
  split_inverse(re, im, m_, plan_->sp_re.data(), plan_->sp_im.data(), ur, ui);
  // The inverse transform is the forward one with real and imaginary parts swapped: the
  // passes run into (zi, zr), reading u in bit-reversed order.
  passes_from(
      [&](int j, double& r, double& i) {
        r = ui[j];
        i = ur[j];
      },
      zi, zr);
  const double scale = 1.0 / double(m_);  // a power of two: exact
  for (int k = 0; k < m_; ++k) {
    x[2 * k] = zr[k] * scale;
    x[2 * k + 1] = zi[k] * scale;
  }
}

}  // namespace voxprep
