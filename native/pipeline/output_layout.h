// Where outputs go and what they are called: the one place for the layout that Applio's
// extract and train steps read.
#pragma once

#include <cstdint>
#include <string>

namespace voxprep {

struct OutputLayout {
  static constexpr const char* kSlicedDir = "sliced_audios";        // segments at the target rate
  static constexpr const char* kSliced16kDir = "sliced_audios_16k";  // the same at 16 kHz
  static constexpr int kRate16k = 16000;

  // <sid>_<idx0>_<idx1>.wav
  static std::string slice_name(int64_t sid, int64_t idx0, int64_t idx1) {
    return std::to_string(sid) + "_" + std::to_string(idx0) + "_" + std::to_string(idx1) + ".wav";
  }
};

}  // namespace voxprep
