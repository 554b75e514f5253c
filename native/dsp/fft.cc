#include "dsp/fft.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cmath>
#include <map>
#include <mutex>
#include <stdexcept>

#include "dsp/vec4.h"

namespace voxprep {
namespace {

constexpr double kPi = 3.14159265358979323846;

// Whether an m-point transform's passes after the first two (log2(m) − 2 of them) leave one
// over when paired into radix-4 steps: the first stage then takes three passes instead.
inline bool three_first_passes(int m) {
  int later = 0;
  for (int h = 4; h < m; h *= 2) ++later;
  return later % 2 == 1;
}

// The first two passes over four points a group, for four groups side by side in the lanes:
// points p0 … p3 (in the order the reordering puts them) to outputs o0 … o3. Their twiddles
// are 1 and −i: no multiplications.
struct Quad {
  Vec4 r[4], i[4];
};
inline __attribute__((always_inline)) Quad first_two_passes(Vec4 r0, Vec4 i0, Vec4 r1, Vec4 i1, Vec4 r2, Vec4 i2,
                                                            Vec4 r3, Vec4 i3) {
  const Vec4 a0r = r0 + r1, a0i = i0 + i1;
  const Vec4 a1r = r0 - r1, a1i = i0 - i1;
  const Vec4 a2r = r2 + r3, a2i = i2 + i3;
  const Vec4 a3r = r2 - r3, a3i = i2 - i3;
  Quad o;
  o.r[0] = a0r + a2r, o.i[0] = a0i + a2i;
  o.r[2] = a0r - a2r, o.i[2] = a0i - a2i;
  // −i · a3 = a3i − i · a3r
  o.r[1] = a1r + a3i, o.i[1] = a1i - a3r;
  o.r[3] = a1r - a3i, o.i[3] = a1i + a3r;
  return o;
}

// The first butterfly passes of an m-point complex FFT (decimation in time, m ≥ 16), fused
// with the bit-reversal reordering: two passes (groups of four outputs), or three (groups of
// eight) where the later passes would otherwise leave one over. The group at k = rev(r)
// (r < m/4, or m/8) reads the input points r + rev(e)·m/4 (or m/8) for its outputs e; four
// groups with consecutive r run side by side in the lanes of a vector, so every load reads
// four neighbouring points (load4(j, re, im): points j … j + 3), and transpositions turn the
// lanes into each group's consecutive outputs.
template <class Load4>
inline __attribute__((always_inline)) void first_passes(const int* rev, int m, double* re, double* im, Load4 load4) {
  auto quad = [&](int r, int quarter) {
    Vec4 r0, i0, r1, i1, r2, i2, r3, i3;
    load4(r, r0, i0);
    load4(r + 2 * quarter, r1, i1);
    load4(r + quarter, r2, i2);
    load4(r + 3 * quarter, r3, i3);
    return first_two_passes(r0, i0, r1, i1, r2, i2, r3, i3);
  };
  if (!three_first_passes(m)) {
    const int quarter = m / 4;
    for (int r = 0; r < quarter; r += 4) {
      Quad o = quad(r, quarter);
      transpose4(o.r[0], o.r[1], o.r[2], o.r[3]);
      transpose4(o.i[0], o.i[1], o.i[2], o.i[3]);
      for (int l = 0; l < 4; ++l) {
        store4(re + rev[r + l], o.r[l]);
        store4(im + rev[r + l], o.i[l]);
      }
    }
    return;
  }
  // Outputs 0 … 3 of a group of eight are the two-pass transform of its points r, r + m/2,
  // r + m/4, r + 3m/4; outputs 4 … 7 that of the points m/8 further on; the third pass
  // joins output j of the first with output j of the second, twiddle e^(−iπj/4).
  constexpr double kHalfSqrt2 = 0x1.6a09e667f3bcdp-1;  // √½
  const int eighth = m / 8;
  for (int r = 0; r < eighth; r += 4) {
    Quad a = quad(r, 2 * eighth), b = quad(r + eighth, 2 * eighth);
    // t_j = e^(−iπj/4) · b_j
    const Vec4 t1r = (b.r[1] + b.i[1]) * kHalfSqrt2, t1i = (b.i[1] - b.r[1]) * kHalfSqrt2;
    const Vec4 t2r = b.i[2], t2i = -b.r[2];
    const Vec4 t3r = (b.i[3] - b.r[3]) * kHalfSqrt2, t3i = -(b.r[3] + b.i[3]) * kHalfSqrt2;
    Quad lo, hi;
    lo.r[0] = a.r[0] + b.r[0], lo.i[0] = a.i[0] + b.i[0], hi.r[0] = a.r[0] - b.r[0], hi.i[0] = a.i[0] - b.i[0];
    lo.r[1] = a.r[1] + t1r, lo.i[1] = a.i[1] + t1i, hi.r[1] = a.r[1] - t1r, hi.i[1] = a.i[1] - t1i;
    lo.r[2] = a.r[2] + t2r, lo.i[2] = a.i[2] + t2i, hi.r[2] = a.r[2] - t2r, hi.i[2] = a.i[2] - t2i;
    lo.r[3] = a.r[3] + t3r, lo.i[3] = a.i[3] + t3i, hi.r[3] = a.r[3] - t3r, hi.i[3] = a.i[3] - t3i;
    for (Quad* q : {&lo, &hi}) {
      transpose4(q->r[0], q->r[1], q->r[2], q->r[3]);
      transpose4(q->i[0], q->i[1], q->i[2], q->i[3]);
    }
    for (int l = 0; l < 4; ++l) {
      double* at_re = re + rev[r + l];
      double* at_im = im + rev[r + l];
      store4(at_re, lo.r[l]);
      store4(at_im, lo.i[l]);
      store4(at_re + 4, hi.r[l]);
      store4(at_im + 4, hi.i[l]);
    }
  }
}

// The first passes reading z[j] = y[2j] + i·y[2j+1] (a real signal's samples in pairs).
__attribute__((target_clones("avx2", "default")))
void first_passes_paired(const int* rev, int m, double* re, double* im, const double* __restrict y) {
  first_passes(rev, m, re, im, [&](int j, Vec4& r, Vec4& i) {
    const Vec4 lo = load4(y + 2 * j), hi = load4(y + 2 * j + 4);
    r = __builtin_shufflevector(lo, hi, 0, 2, 4, 6);
    i = __builtin_shufflevector(lo, hi, 1, 3, 5, 7);
  });
}

// The same of y[i] = x[i] · window[i].
__attribute__((target_clones("avx2", "default")))
void first_passes_windowed(const int* rev, int m, double* re, double* im, const double* __restrict x,
                           const double* __restrict window) {
  first_passes(rev, m, re, im, [&](int j, Vec4& r, Vec4& i) {
    const Vec4 lo = load4(x + 2 * j) * load4(window + 2 * j), hi = load4(x + 2 * j + 4) * load4(window + 2 * j + 4);
    r = __builtin_shufflevector(lo, hi, 0, 2, 4, 6);
    i = __builtin_shufflevector(lo, hi, 1, 3, 5, 7);
  });
}

// The same, reading z[j] = a[j] + i·b[j].
__attribute__((target_clones("avx2", "default")))
void first_passes_split(const int* rev, int m, double* re, double* im, const double* __restrict a,
                        const double* __restrict b) {
  first_passes(rev, m, re, im, [&](int j, Vec4& r, Vec4& i) {
    r = load4(a + j);
    i = load4(b + j);
  });
}

// One radix-2 butterfly (short transforms): (a, b) ← (a + w·b, a − w·b).
inline void butterfly(double& ar, double& ai, double& br, double& bi, double wr, double wi) {
  const double tr = br * wr - bi * wi;
  const double ti = br * wi + bi * wr;
  br = ar - tr;
  bi = ai - ti;
  ar = ar + tr;
  ai = ai + ti;
}

// The remaining butterfly passes, from half-width 4 (or 8) on, over the output of
// first_passes, two at a time: the passes of half-widths h and 2h over each group of 4h
// points as one radix-4 step, the values in registers between the two. With ω = e^(−iπj/2h)
// the pair's twiddles are ω² (pass h), ω and −iω (pass 2h); a radix-4 step applies ω², ω and
// ω³ (from its own table) to three inputs and combines them with additions alone: three
// complex multiplications where two radix-2 passes take four. The same operations in the
// same order on every instruction set and at either vector width: the same bits.
template <class V>
inline __attribute__((always_inline)) void radix4_step(double* __restrict ar, double* __restrict ai, int h,
                                                       const double* __restrict w, int j) {
  const double* w1r = w;  // ω
  const double* w1i = w + h;
  const double* w2r = w + 2 * h;  // ω²
  const double* w2i = w + 3 * h;
  const double* w3r = w + 4 * h;  // ω³
  const double* w3i = w + 5 * h;
  double* br = ar + h;
  double* bi = ai + h;
  double* cr = ar + 2 * h;
  double* ci = ai + 2 * h;
  double* dr = ar + 3 * h;
  double* di = ai + 3 * h;
  auto ld = [](const double* p) { return load_lanes<V>(p); };
  const V a_r = ld(ar + j), a_i = ld(ai + j);
  const V br_j = ld(br + j), bi_j = ld(bi + j);
  const V cr_j = ld(cr + j), ci_j = ld(ci + j);
  const V dr_j = ld(dr + j), di_j = ld(di + j);
  // b·ω², c·ω, d·ω³
  const V b_r = br_j * ld(w2r + j) - bi_j * ld(w2i + j);
  const V b_i = br_j * ld(w2i + j) + bi_j * ld(w2r + j);
  const V c_r = cr_j * ld(w1r + j) - ci_j * ld(w1i + j);
  const V c_i = cr_j * ld(w1i + j) + ci_j * ld(w1r + j);
  const V d_r = dr_j * ld(w3r + j) - di_j * ld(w3i + j);
  const V d_i = dr_j * ld(w3i + j) + di_j * ld(w3r + j);
  const V s_r = a_r + b_r, s_i = a_i + b_i;  // a + b·ω²
  const V t_r = a_r - b_r, t_i = a_i - b_i;  // a − b·ω²
  const V u_r = c_r + d_r, u_i = c_i + d_i;  // c·ω + d·ω³
  const V v_r = c_r - d_r, v_i = c_i - d_i;  // c·ω − d·ω³
  store_lanes(ar + j, s_r + u_r);
  store_lanes(ai + j, s_i + u_i);
  store_lanes(cr + j, s_r - u_r);
  store_lanes(ci + j, s_i - u_i);
  // t ∓ i·v
  store_lanes(br + j, t_r + v_i);
  store_lanes(bi + j, t_i - v_r);
  store_lanes(dr + j, t_r - v_i);
  store_lanes(di + j, t_i + v_r);
}

// The passes, `V`'s lanes at a time (four where h is 4, narrower than eight).
template <class V>
inline __attribute__((always_inline)) void later_passes(double* __restrict re, double* __restrict im, int m,
                                                        const double* __restrict radix4) {
  for (int h = three_first_passes(m) ? 8 : 4; h < m; radix4 += 6 * h, h *= 4) {
    for (int k = 0; k < m; k += 4 * h) {
      if (h < lanes_of<V>) {
        for (int j = 0; j < h; j += 4) radix4_step<Vec4>(re + k, im + k, h, radix4, j);
      } else {
        for (int j = 0; j < h; j += lanes_of<V>) radix4_step<V>(re + k, im + k, h, radix4, j);
      }
    }
  }
}
// At `lanes` (4 or 8: vector_lanes()) doubles a time, cloned per instruction set (as the split
// steps below are).
__attribute__((target_clones("avx512f", "avx2", "default")))
void later_passes_at(int lanes, double* __restrict re, double* __restrict im, int m, const double* __restrict radix4) {
  if (lanes == 8) return later_passes<Vec8>(re, im, m, radix4);
  later_passes<Vec4>(re, im, m, radix4);
}

// One bin of the split step: from the pair Z[k] = p, Z[m−k] = q, the bin's twiddle (c, s)
// = W^k. Forward, X[k]; inverse (p, q taken from X), Z[k].
template <bool kForward, class T>
inline __attribute__((always_inline)) void split_bin(T pr, T pi, T qr, T qi, T c, T s, T& out_r, T& out_i) {
  const T er = 0.5 * (pr + qr), ei = 0.5 * (pi - qi);
  const T dr = 0.5 * (pr - qr), di = 0.5 * (pi + qi);
  if (kForward) {
    out_r = er + (c * di + s * dr);
    out_i = ei - (c * dr - s * di);
  } else {
    out_r = er - (c * di - s * dr);
    out_i = ei + (c * dr + s * di);
  }
}

// Bins 1 … m − 1 of the split step, `V`'s lanes at a time (then four, then one by one): the
// partners m − k of k … k + w − 1 are the w values before m − k + 1, in reverse order.
template <class V>
inline __attribute__((always_inline)) V reversed(V v) {
  if constexpr (lanes_of<V> == 8) {
    return __builtin_shufflevector(v, v, 7, 6, 5, 4, 3, 2, 1, 0);
  } else {
    return __builtin_shufflevector(v, v, 3, 2, 1, 0);
  }
}
template <bool kForward, class V>
inline __attribute__((always_inline)) void split_bins(const double* __restrict pr, const double* __restrict pi,
                                                      int m, const double* __restrict wc,
                                                      const double* __restrict ws, double* __restrict out_r,
                                                      double* __restrict out_i) {
  int k = 1;
  auto lanes = [&](auto width) {
    using W = decltype(width);
    constexpr int w = lanes_of<W>;
    for (; k + w <= m; k += w) {
      const W qr = load_lanes<W>(pr + m - k - (w - 1)), qi = load_lanes<W>(pi + m - k - (w - 1));
      W r, i;
      split_bin<kForward>(load_lanes<W>(pr + k), load_lanes<W>(pi + k), reversed(qr), reversed(qi),
                          load_lanes<W>(wc + k), load_lanes<W>(ws + k), r, i);
      store_lanes(out_r + k, r);
      store_lanes(out_i + k, i);
    }
  };
  lanes(V{});
  lanes(Vec4{});
  for (; k < m; ++k) split_bin<kForward>(pr[k], pi[k], pr[m - k], pi[m - k], wc[k], ws[k], out_r[k], out_i[k]);
}

// From Z, the m-point transform of z[j] = x[2j] + i·x[2j+1], to X, the n = 2m point transform
// of the real x: with E = (Z[k] + conj Z[m−k]) / 2 and D = (Z[k] − conj Z[m−k]) / 2 (the
// transforms of the even samples, and i times those of the odd ones), X[k] = E − i·W^k·D,
// W = e^(−2πi/n).
__attribute__((target_clones("avx512f", "avx2", "default")))
void split_forward_at(int lanes, const double* __restrict zr, const double* __restrict zi, int m,
                      const double* __restrict wc, const double* __restrict ws, double* __restrict re,
                      double* __restrict im) {
  re[0] = zr[0] + zi[0];
  im[0] = 0;
  re[m] = zr[0] - zi[0];
  im[m] = 0;
  if (lanes == 8) return split_bins<true, Vec8>(zr, zi, m, wc, ws, re, im);
  split_bins<true, Vec4>(zr, zi, m, wc, ws, re, im);
}

// The split step backwards: E = (X[k] + conj X[m−k]) / 2, O = conj(W^k)·(X[k] − conj X[m−k]) / 2,
// Z[k] = E + i·O. Bins 0 and m are taken as real.
__attribute__((target_clones("avx512f", "avx2", "default")))
void split_inverse_at(int lanes, const double* __restrict re, const double* __restrict im, int m,
                      const double* __restrict wc, const double* __restrict ws, double* __restrict zr,
                      double* __restrict zi) {
  zr[0] = 0.5 * (re[0] + re[m]);
  zi[0] = 0.5 * (re[0] - re[m]);
  if (lanes == 8) return split_bins<false, Vec8>(re, im, m, wc, ws, zr, zi);
  split_bins<false, Vec4>(re, im, m, wc, ws, zr, zi);
}

// x[2k] = zr[k] · scale, x[2k + 1] = zi[k] · scale (m a multiple of 4).
__attribute__((target_clones("avx2", "default")))
void interleave_scaled(const double* __restrict zr, const double* __restrict zi, int m, double scale,
                       double* __restrict x) {
  for (int k = 0; k < m; k += 4) {
    const Vec4 r = load4(zr + k) * scale, i = load4(zi + k) * scale;
    store4(x + 2 * k, __builtin_shufflevector(r, i, 0, 4, 1, 5));
    store4(x + 2 * k + 4, __builtin_shufflevector(r, i, 2, 6, 3, 7));
  }
}

}  // namespace

namespace {
std::atomic<int> g_vector_lanes{0};  // 0: not timed yet
}  // namespace

int vector_lanes() {
  int lanes = g_vector_lanes.load(std::memory_order_relaxed);
  if (lanes == 0) {
    lanes = RealFft::time_vector_lanes();
    int unset = 0;
    // A test's choice (set_vector_lanes) made meanwhile stands.
    if (!g_vector_lanes.compare_exchange_strong(unset, lanes)) lanes = unset;
  }
  return lanes;
}

void set_vector_lanes(int lanes) {
  if (lanes != 0 && lanes != 4 && lanes != 8) throw std::invalid_argument("vector lanes must be 4 or 8 (or 0)");
  g_vector_lanes.store(lanes);
}

int RealFft::time_vector_lanes() {
  // The passes of a 1024-point complex transform (the resampler's transforms are 512 to 4096
  // real points), each width in turn, the best of several rounds each: eight lanes only when
  // clearly faster. A few tenths of a millisecond, once per process.
  const int m = 1024;
  const auto plan = plan_for(2 * m);
  AlignedVector<double> start(2 * size_t(m)), work(2 * size_t(m));
  // Values that stay normal numbers through every round (tiny ones would be denormal and slow).
  for (size_t i = 0; i < start.size(); ++i) start[i] = 1e-100 * (1.0 + double((i * 7919) % 1000) / 1000.0);
  double best[2] = {1e30, 1e30};
  for (int round = 0; round < 6; ++round) {
    for (int wide = 0; wide < 2; ++wide) {
      std::copy(start.begin(), start.end(), work.begin());
      const auto t0 = std::chrono::steady_clock::now();
      for (int rep = 0; rep < 24; ++rep) {
        later_passes_at(wide ? 8 : 4, work.data(), work.data() + m, m, plan->radix4.data());
      }
      best[wide] = std::min(best[wide], std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
  }
  return best[1] < 0.95 * best[0] ? 8 : 4;
}

std::shared_ptr<const RealFft::Plan> RealFft::plan_for(int n) {
  // Few sizes are ever used; each plan is made once (a per-segment transform used to spend
  // more time on its sines and cosines than on a short segment).
  // Leaked on purpose, as the engine is: a worker may still look a plan up while a process
  // that is exiting runs the static destructors.
  static std::mutex mutex;
  static auto* plans = new std::map<int, std::shared_ptr<const Plan>>();
  std::lock_guard<std::mutex> lock(mutex);
  std::shared_ptr<const Plan>& cached = (*plans)[n];
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
  // Radix-2 twiddles e^(−iπj/h), j < h, for every half-width h: short transforms only.
  const int radix2_size = m < kVectorFirstPasses ? m : 1;
  p->tw_re.assign(size_t(radix2_size > 1 ? radix2_size - 1 : 1), 1.0);
  p->tw_im.assign(p->tw_re.size(), 0.0);
  for (int h = 1; h < radix2_size; h *= 2) {
    for (int j = 0; j < h; ++j) {
      const double angle = -kPi * double(j) / double(h);
      p->tw_re[size_t(h - 1 + j)] = std::cos(angle);
      p->tw_im[size_t(h - 1 + j)] = std::sin(angle);
    }
  }
  // Each radix-4 step's twiddles in one block, in the order the step reads them: ω, ω², ω³
  // (real parts, then imaginary), ω = e^(−iπj/2h), j < h, for h = 4 (or 8), 16 (32), …
  for (int h = three_first_passes(m) ? 8 : 4; h < m; h *= 4) {
    for (int power = 1; power <= 3; ++power) {
      for (int part = 0; part < 2; ++part) {
        for (int j = 0; j < h; ++j) {
          const double angle = -kPi * double(power * j) / double(2 * h);
          p->radix4.push_back(part == 0 ? std::cos(angle) : std::sin(angle));
        }
      }
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

// Transforms of up to eight points (n ≤ 16) are too short for the vectorized first passes:
// the reordered points one by one, then every pass a butterfly at a time.
template <class Load>
void RealFft::small_transform(Load load, double* re, double* im) const {
  const int* rev = plan_->bitrev.data();
  for (int k = 0; k < m_; ++k) load(rev[k], re[k], im[k]);
  for (int h = 1; h < m_; h *= 2) {
    for (int k = 0; k < m_; k += 2 * h) {
      for (int j = 0; j < h; ++j) {
        butterfly(re[k + j], im[k + j], re[k + j + h], im[k + j + h], plan_->tw_re[size_t(h - 1 + j)],
                  plan_->tw_im[size_t(h - 1 + j)]);
      }
    }
  }
}

// The reordering and every butterfly pass into (re, im): `first` runs the reordering and the
// first two or three passes, `load` (load(j, re, im): point j of the input) serves short
// transforms.
template <class Load, class First>
void RealFft::passes_from(Load load, First first, double* re, double* im) {
  if (m_ < kVectorFirstPasses) return small_transform(load, re, im);
  first(plan_->bitrev.data(), m_, re, im);
  later_passes_at(vector_lanes(), re, im, m_, plan_->radix4.data());
}

void RealFft::forward(const double* x, double* re, double* im, const double* window) {
  // z[j] = y[2j] + i·y[2j+1] (y = x, or x[i]·window[i]), in bit-reversed order (a permutation
  // that is its own inverse).
  if (window) {
    passes_from(
        [&](int j, double& r, double& i) {
          r = x[2 * j] * window[2 * j];
          i = x[2 * j + 1] * window[2 * j + 1];
        },
        [&](const int* rev, int m, double* zr, double* zi) { first_passes_windowed(rev, m, zr, zi, x, window); },
        part(0), part(1));
  } else {
    passes_from(
        [&](int j, double& r, double& i) {
          r = x[2 * j];
          i = x[2 * j + 1];
        },
        [&](const int* rev, int m, double* zr, double* zi) { first_passes_paired(rev, m, zr, zi, x); }, part(0),
        part(1));
  }
  split_forward_at(vector_lanes(), part(0), part(1), m_, plan_->sp_re.data(), plan_->sp_im.data(), re, im);
}

void RealFft::complex_forward(const double* a, const double* b, double* re, double* im) {
  passes_from(
      [&](int j, double& r, double& i) {
        r = a[j];
        i = b[j];
      },
      [&](const int* rev, int m, double* zr, double* zi) { first_passes_split(rev, m, zr, zi, a, b); }, re, im);
}

void RealFft::complex_inverse(const double* a, const double* b, double* re, double* im) {
  // The forward transform with real and imaginary parts swapped on the way in and out.
  passes_from(
      [&](int j, double& r, double& i) {
        r = b[j];
        i = a[j];
      },
      [&](const int* rev, int m, double* zr, double* zi) { first_passes_split(rev, m, zr, zi, b, a); }, im, re);
}

void RealFft::inverse(const double* re, const double* im, double* x) {
  double* zr = part(0);
  double* zi = part(1);
  double* ur = part(2);
  double* ui = part(3);
  split_inverse_at(vector_lanes(), re, im, m_, plan_->sp_re.data(), plan_->sp_im.data(), ur, ui);
  // The inverse transform is the forward one with real and imaginary parts swapped: the
  // passes run into (zi, zr), reading u in bit-reversed order.
  passes_from(
      [&](int j, double& r, double& i) {
        r = ui[j];
        i = ur[j];
      },
      [&](const int* rev, int m, double* a, double* b) { first_passes_split(rev, m, a, b, ui, ur); }, zi, zr);
  const double scale = 1.0 / double(m_);  // a power of two: exact
  if (m_ % 4 == 0) return interleave_scaled(zr, zi, m_, scale, x);
  for (int k = 0; k < m_; ++k) {
    x[2 * k] = zr[k] * scale;
    x[2 * k + 1] = zi[k] * scale;
  }
}

}  // namespace voxprep
