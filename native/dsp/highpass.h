// The reference's rumble filter: a 5th-order Butterworth high-pass at 48 Hz, designed for
// the target rate by the bilinear transform as scipy.signal.butter(5, 48, 'high', fs=sr)
// does, and run causally from zero state in float64.
//
// It runs as a cascade of second-order sections (two biquads and a first-order section),
// not in the transfer-function form the reference uses: the poles sit within 0.2–0.8 % of
// z = 1, where the 6-coefficient recursion loses about six digits (its output carries
// rounding noise at 102 dB below the signal at 48 kHz, 143 dB at 16 kHz) and where carrying
// block states for a block-parallel run diverges. The sections are factors of that transfer
// function as rounded to float64 (its roots found to about 30 digits), so they are the
// reference's filter, not the exact Butterworth its rounding departs from, without the
// noise; against the reference's float64 run the output differs by that noise alone.
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <vector>

#include "dsp/aligned.h"
#include "dsp/kernels.h"

namespace voxprep {

struct HighpassSpec {
  static constexpr int kOrder = 5;
  static constexpr double kCutoffHz = 48.0;
  static constexpr int kSections = (kOrder + 1) / 2;
};

// Filter design: the transfer function as scipy returns it (b, a with a[0] == 1), and the
// same filter as sections: conjugate pole pairs from the farthest to the nearest to the
// unit circle, then the real pole, each with zeros of b; the gain sits in the first section.
struct HighpassDesign {
  std::array<double, HighpassSpec::kOrder + 1> b{}, a{};
  std::array<kernels::Biquad, HighpassSpec::kSections> sections{};
  static HighpassDesign butterworth(double sample_rate, double cutoff_hz = HighpassSpec::kCutoffHz,
                                    int order = HighpassSpec::kOrder);
};

// Streaming run state of one filter: two state values per section.
//
// A stretch long enough runs as a block scan, like the GPU's (block_iir.h) but over the three
// sections at once, with the blocks side by side in vector lanes instead of GPU threads, so
// that the recursion no longer sets the pace (one sample at a time, each waiting for the
// last, ran ~3 ns a sample):
//   1. kLanes blocks of kBlock samples at a time (a group) run from zero state, side by side
//      in a 16 KB copy, keeping their outputs and end states;
//   2. each block's true start state is carried across the blocks: start[b+1] = M·start[b] +
//      end[b], M the cascade's state transition over kBlock samples of zero input (6 × 6);
//   3. each block's output gets what its start state adds, as the group's outputs go back in
//      place: sample n of the cascade's response to each unit state (with zero input) times
//      that state, summed (a table of 6 × kBlock), in the lanes.
//      The GPU runs its blocks again from their start states instead; here this sum costs
//      less than a second pass of the recursion (the stage's perf samples over whole bench
//      runs: about 16% fewer), and taken in the copy, group by group, it costs no pass over
//      the stretch of its own.
// The stretch's last block, which may be short, runs alone after them (a stretch longer than
// 65 536 samples is taken in pieces of that length). The result differs from the sequential
// run's by float64 rounding in the carry and the sum (≤ 1e-11 of the RMS). Its bits depend
// on how the stream is cut into stretches, which the pipeline fixes for each file (so outputs
// stay the same whatever the thread count), and are the same on every instruction set (no fused
// multiply-add; each lane does the scalar code's operations in its order).
class Highpass {
 public:
  static constexpr int kLanes = 8;
  static constexpr long long kBlock = 256;  // a multiple of kLanes
  static constexpr int kStates = 2 * HighpassSpec::kSections;

  explicit Highpass(double sample_rate);
  void process(double* x, size_t n);  // in place
  void reset() { state_ = {}; }
  const HighpassDesign& design() const { return tables_->design; }

  // The design and the scan's tables, the same for every run at one rate: made once per rate
  // and shared (with the design's roots found to about 30 digits and 3 072 steps of the
  // cascade for the tables, making them per file took about 30 µs, a few per cent of a
  // worker's time on a folder of short clips).
  struct Tables {
    HighpassDesign design;
    std::array<double, kStates * kStates> carry{};  // M, row-major
    AlignedVector<double> state_response;  // [k][n]: output n from unit state k, zero input (kStates × kBlock)
    AlignedVector<double> zeros;           // what lanes past the last block read
  };
  static std::shared_ptr<const Tables> tables(double sample_rate);

 private:
  void process_stretch(double* x, size_t n);
  void run_sequential(double* x, size_t n);
  void run_blocks(double* x, long long full_blocks);

  std::shared_ptr<const Tables> tables_;
  std::array<double, kStates> state_{};          // section s: state_[2s], state_[2s + 1]
  AlignedVector<double> lanes_in_, lanes_out_;  // a group of blocks side by side (kBlock × kLanes)
};
}  // namespace voxprep
