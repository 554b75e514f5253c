#include "dsp/polynomial.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace voxprep {
namespace {

// Double-double numbers: hi + lo with |lo| ≤ half an ulp of hi (error-free transformations;
// std::fma gives the exact product's rounding error).
struct DD {
  double hi = 0, lo = 0;
};

DD two_sum(double a, double b) {
  const double s = a + b, v = s - a;
  return {s, (a - (s - v)) + (b - v)};
}
DD fast_two_sum(double a, double b) {  // |a| ≥ |b|
  const double s = a + b;
  return {s, b - (s - a)};
}
DD operator+(DD x, DD y) {
  DD s = two_sum(x.hi, y.hi);
  const DD t = two_sum(x.lo, y.lo);
  s = fast_two_sum(s.hi, s.lo + t.hi);
  return fast_two_sum(s.hi, s.lo + t.lo);
}
DD operator-(DD x) { return {-x.hi, -x.lo}; }
DD operator-(DD x, DD y) { return x + (-y); }
DD operator*(DD x, DD y) {
  const double p = x.hi * y.hi;
  const double e = std::fma(x.hi, y.hi, -p) + (x.hi * y.lo + x.lo * y.hi);
  return fast_two_sum(p, e);
}
DD operator/(DD x, DD y) {
  // Long division, three quotient digits.
  const double q1 = x.hi / y.hi;
  DD r = x - y * DD{q1};
  const double q2 = r.hi / y.hi;
  r = r - y * DD{q2};
  const double q3 = r.hi / y.hi;
  return fast_two_sum(q1, q2) + DD{q3};
}

struct CDD {
  DD re, im;
};
CDD operator+(CDD a, CDD b) { return {a.re + b.re, a.im + b.im}; }
CDD operator-(CDD a, CDD b) { return {a.re - b.re, a.im - b.im}; }
CDD operator*(CDD a, CDD b) { return {a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re}; }
CDD operator/(CDD a, CDD b) {
  const DD d = b.re * b.re + b.im * b.im;
  return {(a.re * b.re + a.im * b.im) / d, (a.im * b.re - a.re * b.im) / d};
}
double magnitude(CDD a) { return std::hypot(a.re.hi, a.im.hi); }

}  // namespace

std::vector<PreciseRoot> polish_roots(const std::vector<double>& c, double center,
                                      const std::vector<std::complex<double>>& guesses) {
  if (c.size() < 2 || c[0] == 0) throw std::invalid_argument("polish_roots: bad polynomial");
  // The polynomial in w = x − center, q[j] the coefficient of w^j: Horner's Taylor shift in
  // double-double. For coefficients of one or two orders of magnitude and center 1 it is
  // exact (every partial sum is a multiple of the smallest coefficient's ulp, well within
  // 106 bits), so a root exactly at the center shows as q[0] == 0 and is taken out exactly.
  const size_t degree = c.size() - 1;
  std::vector<DD> q(c.size());
  for (size_t k = 0; k <= degree; ++k) q[degree - k] = DD{c[k]};
  for (size_t i = 0; i < degree; ++i) {
    for (size_t j = degree - 1; j + 1 > i; --j) q[j] = q[j] + q[j + 1] * DD{center};
  }
  std::vector<CDD> w;
  size_t lowest = 0;
  while (lowest < degree && q[lowest].hi == 0 && q[lowest].lo == 0) {
    w.push_back(CDD{});
    ++lowest;
  }
  const size_t m = degree - lowest;  // roots left to find, of Σ q[lowest + j]·w^j
  if (guesses.size() != degree && guesses.size() != 0) throw std::invalid_argument("polish_roots: one guess per root");
  std::vector<CDD> z(m);
  if (m > 0) {
    // Start from the guesses (in x) not taken by exact roots, or from a circle of the roots'
    // mean size |q_low / q_high|^(1/m).
    const double radius = std::pow(std::fabs(q[lowest].hi / q[degree].hi), 1.0 / double(m));
    for (size_t i = 0; i < m; ++i) {
      const std::complex<double> g = guesses.empty()
                                         ? radius * std::exp(std::complex<double>(0.0, 0.4 + 6.283185307179586 * double(i) / double(m)))
                                         : guesses[lowest + i] - center;
      z[i] = {DD{g.real()}, DD{g.imag()}};
    }
  }
  const CDD one{DD{1.0}, DD{}};
  // Aberth–Ehrlich: each root steps by Q/Q' corrected for the pull of the others. Once the
  // roots separate, the steps shrink cubically until they reach the arithmetic's noise, where
  // they stop shrinking: iterate until then.
  double best = m == 0 ? 0 : INFINITY;
  int stalled = 0;
  for (int iter = 0; m > 0 && iter < 300 && stalled < 3; ++iter) {
    double worst = 0, size = 0;
    for (size_t i = 0; i < m; ++i) {
      CDD p{q[degree], DD{}}, dp{};
      for (size_t j = degree; j-- > lowest;) {
        dp = dp * z[i] + p;
        p = p * z[i] + CDD{q[j], DD{}};
      }
      if (magnitude(p) == 0) continue;  // exactly on a root
      const CDD ratio = p / dp;
      CDD pull{};
      for (size_t j = 0; j < m; ++j) {
        if (j != i) pull = pull + one / (z[i] - z[j]);
      }
      const CDD step = ratio / (one - ratio * pull);
      z[i] = z[i] - step;
      worst = std::max(worst, magnitude(step));
      size = std::max(size, magnitude(z[i]));
    }
    const double relative = worst / size;
    if (relative < 1e-30) {
      best = relative;
      break;
    }
    stalled = relative < best || relative > 1e-12 ? 0 : stalled + 1;
    best = std::min(best, relative);
  }
  if (!(best < 1e-12)) throw std::runtime_error("polish_roots: the iteration did not settle");
  w.insert(w.end(), z.begin(), z.end());
  std::vector<PreciseRoot> roots;
  for (const CDD& r : w) {
    const DD re = DD{center} + r.re;
    roots.push_back({re.hi, re.lo, r.im.hi, r.im.lo});
  }
  return roots;
}

std::array<double, 2> conjugate_quadratic(const PreciseRoot& r) {
  const DD re{r.re, r.re_lo}, im{r.im, r.im_lo};
  const DD sum = re + re, product = re * re + im * im;
  return {-sum.hi, product.hi};
}

std::array<double, 2> real_quadratic(const PreciseRoot& r, const PreciseRoot& s) {
  const DD a{r.re, r.re_lo}, b{s.re, s.re_lo};
  const DD sum = a + b, product = a * b;
  return {-sum.hi, product.hi};
}

}  // namespace voxprep
