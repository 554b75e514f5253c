#include "dsp/highpass.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <stdexcept>
#include <vector>

#include "dsp/kernels.h"

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

  // Sections: each upper-half-plane pole with its conjugate and two of the zeros at z = 1,
  // the farthest from the unit circle first; then the real pole with the last zero.
  std::vector<cplx> upper;
  double real_pole = 0;
  for (const cplx& p : zpoles) {
    if (std::fabs(p.imag()) < 1e-12) real_pole = p.real();
    else if (p.imag() > 0) upper.push_back(p);
  }
  std::sort(upper.begin(), upper.end(), [](const cplx& x, const cplx& y) { return std::abs(x) < std::abs(y); });
  if (upper.size() != size_t(HighpassSpec::kSections - 1)) throw std::logic_error("high-pass: unexpected pole layout");
  for (size_t k = 0; k < upper.size(); ++k) {
    d.sections[k] = kernels::Biquad{{1.0, -2.0, 1.0}, {1.0, -2.0 * upper[k].real(), std::norm(upper[k])}};
  }
  d.sections[upper.size()] = kernels::Biquad{{1.0, -1.0, 0.0}, {1.0, -real_pole, 0.0}};
  for (double& c : d.sections[0].b) c *= gain;
  return d;
}

Highpass::Highpass(double sample_rate) : design_(HighpassDesign::butterworth(sample_rate)) {}

void Highpass::process(double* x, size_t n) {
  // All sections in one pass, sample by sample: each section's recursion is a chain of its
  // own, so the three overlap in the pipeline (one section after another would wait out each
  // chain's latency in turn). Each section sees the same inputs in the same order: the same
  // bits as running them one after another. Coefficients and states are copied into locals:
  // left in the object, the compiler must assume that writing x[i] may change them and keeps
  // them in memory, which puts a store and a reload into every step of each chain.
  static_assert(HighpassSpec::kSections == 3, "one pass over three sections");
  const kernels::Biquad s0 = design_.sections[0], s1 = design_.sections[1], s2 = design_.sections[2];
  double z0[2] = {state_[0][0], state_[0][1]};
  double z1[2] = {state_[1][0], state_[1][1]};
  double z2[2] = {state_[2][0], state_[2][1]};
  for (size_t i = 0; i < n; ++i) {
    double v = kernels::biquad_step(s0, z0, x[i]);
    v = kernels::biquad_step(s1, z1, v);
    x[i] = kernels::biquad_step(s2, z2, v);
  }
  state_[0] = {z0[0], z0[1]};
  state_[1] = {z1[0], z1[1]};
  state_[2] = {z2[0], z2[1]};
}

}  // namespace voxprep
