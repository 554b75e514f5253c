// The three cut modes: which sample ranges of a processed file become output segments,
// and the idx1 each gets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace voxprep {

enum class CutMode { kSkip, kSimple, kAutomatic };

struct Segment {
  static constexpr int64_t kToEnd = INT64_MAX;  // an open end: the segment runs to the stream's end
  int64_t begin = 0, end = 0;                  // samples
  int64_t idx1 = 0;
};

// Automatic mode cuts each slicer chunk into pieces of fixed length and overlap, whatever
// the simple mode's chunk and overlap options say (the reference's behaviour).
struct AutomaticPieceSpec {
  static constexpr double kPieceSeconds = 3.0;
  static constexpr double kOverlapSeconds = 0.3;
};

// Segments in start order, produced lazily: simple mode's windows are only known to be
// complete once the stream has reached their end.
class SegmentPlan {
 public:
  static SegmentPlan none();  // no segments (automatic mode cuts as it streams)
  static SegmentPlan skip();
  static SegmentPlan simple(int sample_rate, double chunk_seconds, double overlap_seconds);
  static SegmentPlan automatic(int sample_rate, const std::vector<std::pair<int64_t, int64_t>>& chunks);

  bool next(Segment& out);
  // Whether a segment that the stream ended inside is dropped (simple mode's short tail)
  // rather than cut at the end.
  bool drops_incomplete() const { return mode_ == CutMode::kSimple; }
  // Simple mode's window geometry (samples).
  int64_t window_length() const { return window_; }
  int64_t window_step() const { return step_; }

 private:
  CutMode mode_ = CutMode::kSkip;
  int64_t window_ = 0, step_ = 0;
  std::vector<Segment> list_;
  size_t cursor_ = 0;
};

}  // namespace voxprep
