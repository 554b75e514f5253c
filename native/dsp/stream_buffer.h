// The streaming stages keep the samples their next outputs may still read in a vector that
// starts at some position of the stream; what lies before the first sample still needed is
// dropped from its front. One rule for when, shared by them all.
#pragma once

#include <cstdint>
#include <vector>

namespace voxprep {

// Drops the samples of `buf` (whose first is stream position `base`) before `keep_from`, in
// large steps: only once at least kMinDrop samples and half the buffer can go, so that
// erasing (which moves what stays) is rare and cheap, while the buffer stays small.
inline void drop_front(std::vector<double>& buf, int64_t& base, int64_t keep_from) {
  constexpr int64_t kMinDrop = 16384;
  const int64_t drop = keep_from - base;
  if (drop > kMinDrop && drop * 2 > int64_t(buf.size())) {
    buf.erase(buf.begin(), buf.begin() + drop);
    base += drop;
  }
}

}  // namespace voxprep
