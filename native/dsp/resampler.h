// Band-limited rational resampler matching libsoxr's "very high quality" response.
//
// Design (once per rate pair, cached) is apart from the run: a Kaiser-windowed sinc
// prototype, run as FFT convolution block by block where the rates allow (FftPlan), else as
// a cascade or as a polyphase table with a dot product per output (the direct form, the GPU's).
// Output sample k sits at time k / rate_out (zero delay), the signal is taken as zero
// before its first and after its last sample, and a whole stream yields exactly
// ceil(n · rate_out / rate_in) samples (the reference's length rule). As in the reference,
// only the first round(n · rate_out / rate_in) of them are computed (what libsoxr's
// one-shot call returns); the rest are zeros.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "dsp/aligned.h"
#include "dsp/stream_buffer.h"

namespace voxprep {

// The soxr_vhq response, relative to the lower Nyquist frequency.
struct ResamplerSpec {
  // What the response must meet.
  static constexpr double kPassbandEnd = 0.9115;   // flat (≤ 0.01 dB) up to here
  static constexpr double kStopbandStart = 1.0;    // at least 140 dB down from here on
  // The Kaiser design that meets it. Cut-off, transition width and attenuation are fitted
  // to libsoxr's measured vhq response (golden outputs against this resampler, cross-
  // spectrum over the transition band, same for every rate pair): within 0.01 dB down to
  // −70 dB. Matching the transition band's shape, not just the band edges, is what lifts
  // parity on speech from ~60 dB to far above it.
  static constexpr double kDesignCutoff = 0.95566;        // −6 dB point
  static constexpr double kDesignTransition = 0.08828;    // Kaiser's Δf
  static constexpr double kDesignAttenuationDb = 182.0;   // sets β and the length
};

// Immutable filter design for one rate pair; shared between streams.
struct ResamplerDesign {
  int rate_in = 0, rate_out = 0;
  int64_t up = 1, down = 1;  // rate_out / rate_in = up / down, reduced
  int half = 0;              // the prototype's half length, in input samples
  // Taps per output: `lead` inputs up to and including floor(k·down/up), then `half` after
  // it. lead ≥ half pads the row with zero coefficients to a whole number of dot-product
  // lanes, so the run loop has no scalar tail.
  int lead = 0;
  int taps = 0;              // lead + half
  double cutoff = 0;         // cycles per input sample
  double transition = 0;     // Kaiser's Δf, cycles per input sample
  double beta = 0;           // Kaiser window shape
  double i0_beta = 1;        // I0(beta), the window's normalization (computed once)
  // taps × up coefficients, row p for output phase p / up, when `up` is small enough to
  // tabulate (else coefficients are evaluated per output). Made on first use: the CPU's
  // FFT and cascade forms never read it (44100 → 40000 would take 128 000 coefficients), and
  // its window evaluations were a good part of each run's start-up.
  bool tabulated() const;
  const AlignedVector<double>& table() const;

  // The same filter run by FFT, a block at a time, for pairs whose transform sizes MixedRealFft
  // takes (see make_fft_plan): a block of n·down inputs transformed, each bin scaled by the
  // filter's response, and the n·up bins of the output's band transformed back at the output
  // rate. It equals the direct form's sums within the stop band's leakage (below 1e-9 of the
  // signal), at a small fraction of the work. Absent for other pairs.
  struct FftPlan {
    int n = 0;            // block length in steps of `down` inputs (and `up` outputs)
    int block = 0;        // steps of output per block: n − span
    int span = 0;         // the filter's reach, in steps
    int64_t s_lo = 0;     // first step a block reads, relative to its first output's
    int n_in = 0, n_out = 0;  // the transforms' sizes: n·down inputs, n·up outputs
    int out_from = 0;     // the block's first output in the inverse transform's output
    // The inverse transform's packed spectrum, slot by slot: the forward one's slot it takes
    // and the gains for its real and imaginary parts (the response, and the sign of a
    // conjugation).
    int slots = 0;
    std::vector<int32_t> source;
    AlignedVector<double> gain_re, gain_im;
  };
  std::shared_ptr<const FftPlan> fft;

  // The cascade form, for pairs without an FFT form (rates with a prime factor above 7 in
  // their ratio, such as 44101 → 40000): the same band limit, at the same place, applied in
  // the FFT form while stepping up to u·rate_in (u = 2, or 1 when rate_out ≤ rate_in / 2),
  // then a short polyphase step to rate_out that is flat over the whole band and rejects the
  // first stage's images (32 taps instead of hundreds). The response is this design's within
  // 1e-9 of the signal. Absent where the FFT form exists.
  struct Cascade {
    std::shared_ptr<const ResamplerDesign> band;  // rate_in → u·rate_in: this design's band edge, FFT form
    std::shared_ptr<const ResamplerDesign> step;  // u·rate_in → rate_out: flat to the band edge, short
    // Zeros fed before and after the signal, a whole number of `down` inputs, so that the
    // step sees the band stage's ringing on both sides; the step's outputs start
    // pad / down · up samples before output 0.
    int64_t pad = 0;
  };
  std::shared_ptr<const Cascade> cascade;

  double coefficient(double t) const;  // prototype at t input samples from the output instant
  static std::shared_ptr<const ResamplerDesign> get(int rate_in, int rate_out);

 private:
  mutable std::once_flag table_once_;
  mutable AlignedVector<double> table_;
};

// The reference's output length: ceil(n · rate_out / rate_in), evaluated in double
// exactly as librosa does (ratio first), so edge cases round the same way.
int64_t resampled_length(int64_t n, int rate_in, int rate_out);
// How many of those the reference computes: round(n · rate_out / rate_in), half up.
int64_t computed_length(int64_t n, int rate_in, int rate_out);

// Streaming state of one resampling run. push() any number of blocks, then finish().
class Resampler {
 public:
  // The form: the FFT or cascade form where the design has one (the default), or always
  // the direct one, whose arithmetic is the GPU kernel's (for the tests that hold the GPU
  // to it).
  enum class Form { kFastest, kDirect };
  Resampler(int rate_in, int rate_out, Form form = Form::kFastest);
  // Appends to `out` every output sample that the input seen so far fully determines. `Out`
  // is std::vector<double> or SampleBuffer (which the pipeline uses: it grows without
  // zero-filling what the blocks then write).
  template <class Out>
  void push(const double* in, size_t n, Out& out);
  // push() for samples that lie in a larger array which the caller leaves unchanged during
  // the call: the `behind` samples before `in` are the stream's samples just before it
  // (pushed earlier). The FFT form then reads its blocks there instead of from its own copy
  // of the input (the pipeline's pushes, 16K samples each, had been copied whole into it),
  // and keeps only what the next block needs of them: the array may be gone by the next
  // push. The same bits as push().
  template <class Out>
  void push_within(const double* in, size_t behind, size_t n, Out& out);
  // Ends the stream (zeros after it) and appends the remaining outputs up to the length rule.
  template <class Out>
  void finish(Out& out);
  // The whole stream at once, on a fresh (or reset) stream: push() then finish(), with the
  // same bits, but the FFT form reads `in` where it lies instead of copying it first, and
  // `out` grows once.
  template <class Out>
  void push_all(const double* in, size_t n, Out& out);
  bool passthrough() const { return design_ == nullptr; }
  // Input samples the stream holds in its own buffer now (for tests).
  size_t held_samples() const { return buf_.size(); }
  int rate_in() const { return rate_in_; }
  int rate_out() const { return rate_out_; }
  void reset();

 private:
  // One stage of the cascade form: its design, run in the FFT form if it has one.
  explicit Resampler(std::shared_ptr<const ResamplerDesign> stage);
  // push(), finish() and push_all() without the exact silence below.
  template <class Out>
  void push_samples(const double* in, size_t n, Out& out);
  template <class Out>
  void finish_samples(Out& out);
  template <class Out>
  void push_all_samples(const double* in, size_t n, Out& out);
  // Exact silence: the FFT and cascade forms leave a residue (rounding, and the FFT form's
  // stop-band leakage from the rest of its block: up to about 1e-9 of that block's signal)
  // where the direct form, the GPU's, gives exact zeros: at outputs whose inputs are all zero. In a
  // stretch of digital silence the slicer's "first quietest frame" then fell on another frame
  // than on the GPU path (a cut 90 ms away). The zero runs of the input are noted, and the
  // outputs whose whole support lies in one are set to 0, as the direct form computes them.
  template <class Out, class Produce>
  void silenced(const double* in, size_t n, Out& out, bool ended, Produce produce);
  void note_zero_runs(const double* in, size_t n);
  template <class Out>
  void silence_outputs(Out& out, size_t at, int64_t first, bool ended);
  static constexpr int64_t kNoRun = INT64_MIN;             // the input ends in a nonzero sample
  static constexpr int64_t kBeforeSignal = INT64_MIN + 1;  // a run from before the signal's start
  static constexpr int64_t kAfterSignal = INT64_MAX;       // a run to after its end
  bool exact_silence_ = false;
  int64_t zero_from_ = kBeforeSignal;
  std::vector<std::pair<int64_t, int64_t>> zero_runs_;  // closed runs [a, b), stream positions
  template <class Out>
  void produce(Out& out, int64_t limit_out);
  // Runs what `n` samples just appended to buf_ allow (push() without the copy).
  template <class Out>
  void took(size_t n, Out& out);
  // The cascade form: input through the band stage into the step's buffer, and the step on,
  // its outputs appended to `out`.
  template <class Out>
  void band_to_step(const double* in, size_t n, bool last, Out& out);
  // The cascade form: of the step's outputs from out[at] on, keeps those from output 0 on, at
  // most up to `limit`.
  template <class Out>
  void from_step(Out& out, size_t at, int64_t limit);
  // Input samples from stream position `base` on (zeros elsewhere): the buffer, or the
  // caller's whole signal (push_all).
  struct Input {
    const double* data;
    int64_t base, size;
  };
  Input buffered() const { return Input{buf_.data(), buf_base_, int64_t(buf_.size())}; }
  // The FFT form: every block whose input is complete (or, at the end, every block up to
  // `limit_out`), appended whole.
  template <class Out>
  void produce_blocks(Out& out, bool last, int64_t limit_out, const Input& in);
  // The FFT form: the stream position of the next block's first input.
  int64_t next_block_input() const;
  // At the end: how many outputs the reference computes; then the zeros up to the length rule.
  int64_t computed_at_end() const;
  template <class Out>
  void pad_to_length(Out& out);
  void trim(int64_t keep_from);
  std::shared_ptr<const ResamplerDesign> design_;
  struct FftWork;
  std::shared_ptr<FftWork> fft_;  // transforms and work arrays of this stream (FFT form)
  std::unique_ptr<Resampler> band_, step_;  // the cascade form's stages
  int64_t skip_ = 0;                        // step outputs still to drop (before output 0)
  bool short_rows_ = false;                 // a cascade step: its own loop, not dot()'s bits
  SampleBuffer buf_;         // input samples from buf_base_ on (a cascade band stage writes the step's)
  int64_t buf_base_ = 0;     // input index of buf_[0]
  int64_t n_in_ = 0;         // input samples received
  int64_t n_out_ = 0;        // output samples produced
  int rate_in_, rate_out_;
};

// Whole-signal convenience over the streaming class.
std::vector<double> resample(const double* in, size_t n, int rate_in, int rate_out,
                             Resampler::Form form = Resampler::Form::kFastest);

}  // namespace voxprep
