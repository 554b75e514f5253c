// WAV writer for the outputs: mono 32-bit IEEE float (format tag 3) with the 18-byte fmt
// chunk and the fact chunk, as libsndfile and scipy write it. The file is written under a
// temporary name beside its final one; finish() completes it there, and an OutputSet renames
// a whole input file's outputs into place together once all of them are complete. A writer
// destroyed unfinished removes its temporary file.
#pragma once

#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

namespace voxprep {

// A failure to write output (disk full, quota, read-only folder, file-size limit, …): the
// disk will not heal by itself, so the engine stops taking new files after one.
struct WriteError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class WavWriter {
 public:
  WavWriter(const std::string& final_path, int sample_rate);  // throws with the reason
  ~WavWriter();
  WavWriter(const WavWriter&) = delete;
  WavWriter& operator=(const WavWriter&) = delete;

  // Appends samples (converted to float32); throws on a non-finite sample or a write error.
  void write(const double* x, size_t n);
  void finish();  // finalizes the header and closes; the file stays under its temporary name
  void abort();   // removes the temporary file
  int64_t frames() const { return frames_; }
  const std::string& path() const { return final_path_; }
  const std::string& temp_path() const { return temp_path_; }

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

// Finished outputs waiting under their temporary names. publish() renames them all into
// place; destroyed unpublished, it removes them, so an input file that fails midway leaves
// nothing behind.
class OutputSet {
 public:
  ~OutputSet();
  void add(const WavWriter& finished) { files_.emplace_back(finished.temp_path(), finished.path()); }
  void publish();  // throws with the reason if a rename fails (the rest are removed)
  size_t size() const { return files_.size(); }

 private:
  std::vector<std::pair<std::string, std::string>> files_;  // temporary, final
  bool published_ = false;
};

}  // namespace voxprep
