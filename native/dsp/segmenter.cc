#include "dsp/segmenter.h"

#include <stdexcept>

namespace voxprep {

SegmentPlan SegmentPlan::none() {
  SegmentPlan p;
  p.mode_ = CutMode::kAutomatic;
  return p;
}

SegmentPlan SegmentPlan::skip() {
  SegmentPlan p;
  p.mode_ = CutMode::kSkip;
  p.list_.push_back(Segment{0, Segment::kToEnd, 0});
  return p;
}

SegmentPlan SegmentPlan::simple(int sample_rate, double chunk_seconds, double overlap_seconds) {
  SegmentPlan p;
  p.mode_ = CutMode::kSimple;
  p.window_ = int64_t(sample_rate * chunk_seconds);
  const int64_t overlap = int64_t(sample_rate * overlap_seconds);
  p.step_ = p.window_ - overlap;
  if (p.window_ <= 0 || overlap < 0 || p.step_ <= 0) {
    throw std::invalid_argument("simple cut needs chunk > overlap >= 0");
  }
  return p;
}

SegmentPlan SegmentPlan::automatic(int sample_rate, const std::vector<std::pair<int64_t, int64_t>>& chunks) {
  SegmentPlan p;
  p.mode_ = CutMode::kAutomatic;
  const double sr = sample_rate;
  // The reference's expressions, in its operation order.
  const double step = sr * (AutomaticPieceSpec::kPieceSeconds - AutomaticPieceSpec::kOverlapSeconds);
  const double longer_than = (AutomaticPieceSpec::kPieceSeconds + AutomaticPieceSpec::kOverlapSeconds) * sr;
  const int64_t piece = int64_t(AutomaticPieceSpec::kPieceSeconds * sr);
  int64_t idx1 = 0;
  for (const auto& [begin, chunk_end] : chunks) {
    const int64_t end = chunk_end < begin ? begin : chunk_end;
    for (int64_t j = 0;; ++j) {
      const int64_t start = begin + int64_t(step * double(j));
      if (double(end - start) > longer_than) {
        p.list_.push_back(Segment{start, start + piece, idx1++});
      } else {
        p.list_.push_back(Segment{start, end, idx1++});
        break;
      }
    }
  }
  return p;
}

bool SegmentPlan::next(Segment& out) {
  if (mode_ == CutMode::kSimple) {
    const int64_t k = int64_t(cursor_++);
    out = Segment{k * step_, k * step_ + window_, k};
    return true;
  }
  if (cursor_ >= list_.size()) return false;
  out = list_[cursor_++];
  return true;
}

}  // namespace voxprep
