// WAV writer for the outputs: mono 32-bit IEEE float (format tag 3) with the 18-byte fmt
// chunk and the fact chunk, as libsndfile and scipy write it. The file is written under a
// temporary name beside its final one; finish() completes it there, and an OutputSet renames
// a whole input file's outputs into place together once all of them are complete. A writer
// destroyed unfinished removes its temporary file.
//
// The file operations themselves run behind, on the calling thread's IoThread
// (io/io_thread.h): samples are converted and checked here, then handed over. A failure
// to create or write the file shows at the next write(), at wait(), or when the OutputSet
// holding the file publishes: always as a WriteError naming the file and the reason.
//
// A file of up to kHoldFrames samples (every piece of the automatic cut) is held here until
// finish() and then written whole, header first, in one go, with its checksum (the run
// manifest's, io/file_hash.h) computed on the way: no header rewrite, and no reading it back
// to checksum it. A longer one streams out as it comes, and has no checksum here.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "dsp/stream_buffer.h"
#include "io/file_hash.h"

namespace voxprep {

class IoThread;

// A failure to write output (disk full, quota, read-only folder, file-size limit, …): the
// disk will not heal by itself, so the engine stops taking new files after one.
struct WriteError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class WavWriter {
 public:
  static constexpr size_t kHoldFrames = size_t(1) << 18;  // 1 MiB of float32

  WavWriter(const std::string& final_path, int sample_rate);
  ~WavWriter();
  WavWriter(const WavWriter&) = delete;
  WavWriter& operator=(const WavWriter&) = delete;

  // Appends samples (converted to float32); throws at once on a non-finite sample, and
  // throws a WriteError once a failure of this file's writing has shown.
  void write(const double* x, size_t n);
  void finish();  // finalizes the header and closes (behind); the file stays under its temporary name
  void wait();    // waits until this file's operations have run; throws its failure as a WriteError
  void abort();   // removes the temporary file (and waits until it is gone)
  int64_t frames() const { return frames_; }
  // For tests: how many float buffers writers have allocated so far in this process (they are
  // reused between files, so this stays far below the number of files written).
  static size_t float_buffers_allocated();
  // Frees the float buffers kept for the next files (those still in use go when done).
  static void release_spare_buffers();
  // For tests: how many float buffers are kept for the next files now.
  static size_t spare_buffers_kept();
  // For tests: the bytes those hold.
  static size_t spare_buffer_bytes_kept();
  const std::string& path() const { return final_path_; }
  const std::string& temp_path() const { return temp_path_; }

  // What the helper thread works on for one file, and what it found.
  struct Disk {
    std::FILE* file = nullptr;
    std::string error;                // the first failure, with the file's name
    std::atomic<bool> failed{false};  // error is set (readable once pending is 0)
    std::mutex mutex;
    std::condition_variable settled;
    int pending = 0;  // operations posted and not yet run
    bool checksummed = false;  // written whole: its size and checksum are known
    FileChecksum checksum;
    void wait_settled();
  };

 private:
  void flush_buffer();
  void open_for_streaming();
  // Runs op on the helper thread, in order; `bytes`: the data it carries.
  void post(std::function<void(Disk&)> op, size_t bytes);
  std::string final_path_, temp_path_;
  int sample_rate_;
  std::shared_ptr<Disk> disk_;
  IoThread& behind_;
  int64_t frames_ = 0;
  // Samples converted and not yet handed over. It grows without being zero-filled first: the
  // conversion writes every new float right after.
  using FloatBuffer = std::vector<float, DefaultInitAllocator<float>>;
  FloatBuffer buffer_;
  bool streaming_ = false;  // past kHoldFrames: the file was created and is written as it comes
  bool done_ = false;
  friend class OutputSet;
};

// The temporary name used for `final_path` while it is written.
std::string temp_path_for(const std::string& final_path);

// Finished outputs waiting under their temporary names. publish() renames them all into
// place; destroyed unpublished, it removes them, so an input file that fails midway leaves
// nothing behind.
class OutputSet {
 public:
  ~OutputSet();
  void add(const WavWriter& finished) { files_.push_back({finished.temp_path(), finished.path(), finished.disk_}); }
  // Waits until the files are written; throws a WriteError with the first failure (and
  // removes them all), or with the reason if a rename fails (the rest are removed).
  void publish();
  // Waits until the files are written; the first failure, or "" if none.
  std::string failure() const;
  // Whether the files' operations have all run (so that publish() will not wait); does not wait.
  bool written() const;
  // After publish(): each file written whole, by its final path, with its size and checksum.
  std::vector<std::pair<std::string, FileChecksum>> checksums() const;
  size_t size() const { return files_.size(); }

 private:
  struct Entry {
    std::string temp, final_path;
    std::shared_ptr<WavWriter::Disk> disk;
  };
  std::vector<Entry> files_;
  bool published_ = false;
};

}  // namespace voxprep
