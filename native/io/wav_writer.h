// WAV writer for the outputs: mono 32-bit IEEE float (format tag 3) with the 18-byte fmt
// chunk and the fact chunk, as libsndfile and scipy write it. The file is written under a
// temporary name beside its final one and renamed into place by commit(); a writer that is
// destroyed uncommitted removes its temporary file.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace voxprep {

class WavWriter {
 public:
  WavWriter(const std::string& final_path, int sample_rate);  // throws with the reason
  ~WavWriter();
  WavWriter(const WavWriter&) = delete;
  WavWriter& operator=(const WavWriter&) = delete;

  // Appends samples (converted to float32); throws on a non-finite sample or a write error.
  void write(const double* x, size_t n);
  void commit();  // finalizes the header and renames into place
  void abort();   // removes the temporary file
  int64_t frames() const { return frames_; }
  const std::string& path() const { return final_path_; }

 private:
  void flush_buffer();
  std::string final_path_, temp_path_;
  int sample_rate_;
  std::FILE* file_ = nullptr;
  int64_t frames_ = 0;
  std::vector<float> buffer_;
  bool done_ = false;
};

// The temporary name used for `final_path` while it is written.
std::string temp_path_for(const std::string& final_path);

}  // namespace voxprep
