// Streaming WAV reader: RIFF/WAVE with PCM (8-bit unsigned, 16/24/32-bit signed),
// IEEE float (32/64-bit) or WAVE_FORMAT_EXTENSIBLE carrying either; any channel count,
// mixed to mono by the mean of the channels, scaled as libsndfile does (1 / 2^(bits−1)).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace voxprep {

struct WavInfo {
  int sample_rate = 0;
  int channels = 0;
  int bits = 0;
  bool is_float = false;
  int64_t frames = 0;  // frames the data chunk holds (clipped to what the file holds)
  bool truncated = false;  // the header claimed more data than the file has
};

class WavReader {
 public:
  explicit WavReader(const std::string& path);  // throws std::runtime_error with the reason
  ~WavReader();
  WavReader(const WavReader&) = delete;
  WavReader& operator=(const WavReader&) = delete;

  const WavInfo& info() const { return info_; }
  // Reads up to `max_frames` frames as mono doubles, appended to `out`; returns the count
  // (0 at the end). Throws on a read error or a non-finite sample.
  size_t read_mono(std::vector<double>& out, size_t max_frames);
  void rewind();

 private:
  void parse_header();
  std::string path_;
  std::FILE* file_ = nullptr;
  WavInfo info_;
  int64_t data_offset_ = 0;
  int64_t frames_read_ = 0;
  int block_align_ = 0;
  std::vector<unsigned char> raw_;
};

}  // namespace voxprep
