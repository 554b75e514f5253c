// Roots of a real polynomial to about 30 digits, for filter design: where a polynomial's
// roots sit close together (the high-pass's poles within 1 % of z = 1, its zeros within
// 1e-4 of each other), float64 arithmetic finds them only to a few digits, while the
// filter's response near its band edge depends on them to many more.
#pragma once

#include <array>
#include <complex>
#include <vector>

namespace voxprep {

// A root kept as the unevaluated sums re + re_lo and im + im_lo (double-double).
struct PreciseRoot {
  double re = 0, re_lo = 0, im = 0, im_lo = 0;
};

// The roots of c[0]·x^degree + c[1]·x^(degree−1) + … + c[degree] (c[0] ≠ 0, coefficients
// taken exactly as given), found by the Aberth–Ehrlich iteration in double-double
// arithmetic on the polynomial in x − center: roots clustered about `center` are then
// small numbers of their own size, found to many digits relative to their distance from
// it, and roots exactly at `center` (a zero at z = 1 that survived rounding) come out
// exactly. Starts from `guesses` (one per root, distinct) or, when empty, from a circle
// about the center. Throws if it does not settle.
std::vector<PreciseRoot> polish_roots(const std::vector<double>& c, double center,
                                      const std::vector<std::complex<double>>& guesses = {});

// Monic quadratics x² + q[0]·x + q[1], computed in double-double and rounded once: with the
// roots r and conj(r), or with the two real roots r and s.
std::array<double, 2> conjugate_quadratic(const PreciseRoot& r);
std::array<double, 2> real_quadratic(const PreciseRoot& r, const PreciseRoot& s);

}  // namespace voxprep
