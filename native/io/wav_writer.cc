#include "io/wav_writer.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <unistd.h>
#include <vector>

#include "io/io_thread.h"

namespace voxprep {
namespace {

constexpr size_t kHeaderBytes = 58;
constexpr uint32_t kMaxDataBytes = 0xFFFFFFFFu - kHeaderBytes;

void put16(unsigned char* p, uint16_t v) {
  p[0] = uint8_t(v);
  p[1] = uint8_t(v >> 8);
}
void put32(unsigned char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = uint8_t(v >> (8 * i));
}

void make_header(unsigned char* h, int rate, uint32_t frames) {
  const uint32_t data_bytes = frames * 4u;
  std::memcpy(h, "RIFF", 4);
  put32(h + 4, uint32_t(kHeaderBytes - 8) + data_bytes);
  std::memcpy(h + 8, "WAVEfmt ", 8);
  put32(h + 16, 18);           // fmt chunk size (with cbSize)
  put16(h + 20, 3);            // WAVE_FORMAT_IEEE_FLOAT
  put16(h + 22, 1);            // mono
  put32(h + 24, uint32_t(rate));
  put32(h + 28, uint32_t(rate) * 4u);
  put16(h + 32, 4);            // block align
  put16(h + 34, 32);           // bits per sample
  put16(h + 36, 0);            // cbSize
  std::memcpy(h + 38, "fact", 4);
  put32(h + 42, 4);
  put32(h + 46, frames);
  std::memcpy(h + 50, "data", 4);
  put32(h + 54, data_bytes);
}

// Float buffers between output files: one is taken when a file's first samples come and given
// back by the writing thread once written, instead of being allocated, grown (by doubling,
// copying what it held) and freed for every file, each time with its pages faulted in anew.
// Kept up to kMaxKept, process-wide (workers take them, writing threads give them back), with
// the room they grew to, at most kHoldFrames (taken with room for kHoldFrames at once they ran
// no faster, and each would hold address space a 16 kHz file never uses). A file takes the
// smallest kept buffer that holds its first samples (a whole piece, for the automatic cut),
// else the largest: taken last-in-first-out, a 16 kHz file took a training-rate file's buffer
// and the next training-rate file grew a 16 kHz one, until every buffer had a training-rate
// piece's room (the bench's 2-thread run peaked 4–5 MB higher).
class SpareFloatBuffers {
 public:
  using FloatBuffer = std::vector<float, DefaultInitAllocator<float>>;
  static FloatBuffer take(size_t at_least) {
    FloatBuffer b;
    {
      std::lock_guard<std::mutex> lock(mutex());
      auto& kept = list();
      if (!kept.empty()) {
        const size_t pick = best_fitting(kept, at_least);
        b = std::move(kept[pick]);
        kept.erase(kept.begin() + long(pick));
      } else {
        ++allocated;
      }
    }
    b.clear();
    return b;
  }
  static void give_back(FloatBuffer&& b) {
    std::lock_guard<std::mutex> lock(mutex());
    auto& kept = list();
    if (kept.size() < kMaxKept && b.capacity() > 0) kept.push_back(std::move(b));
  }
  static void release() {
    std::vector<FloatBuffer> dropped;
    std::lock_guard<std::mutex> lock(mutex());
    dropped.swap(list());
  }
  static size_t kept_now() {
    std::lock_guard<std::mutex> lock(mutex());
    return list().size();
  }
  static size_t kept_bytes() {
    std::lock_guard<std::mutex> lock(mutex());
    size_t bytes = 0;
    for (const FloatBuffer& b : list()) bytes += b.capacity() * sizeof(float);
    return bytes;
  }
  // How many take() could not find kept and allocated.
  static size_t allocated_so_far() {
    std::lock_guard<std::mutex> lock(mutex());
    return allocated;
  }

 private:
  static constexpr size_t kMaxKept = 16;
  static inline size_t allocated = 0;  // under the mutex
  // Leaked on purpose, as the engine is: a writing thread may give one back while a process
  // that is exiting runs the static destructors.
  static std::mutex& mutex() {
    static auto* m = new std::mutex();
    return *m;
  }
  static std::vector<FloatBuffer>& list() {
    static auto* kept = new std::vector<FloatBuffer>();
    return *kept;
  }
};

}  // namespace

std::string temp_path_for(const std::string& final_path) {
  const size_t slash = final_path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "" : final_path.substr(0, slash + 1);
  const std::string name = slash == std::string::npos ? final_path : final_path.substr(slash + 1);
  return dir + "." + name + ".voxprep-tmp";
}

namespace {

// Records the first failure of a file's writing (what the writer and its set report).
void fail(WavWriter::Disk& d, const std::string& why) {
  if (!d.failed.load(std::memory_order_relaxed)) {
    d.error = why;
    d.failed.store(true, std::memory_order_release);
  }
}

// The same, for a write to `name` that failed with errno.
void fail_writing(WavWriter::Disk& d, const std::string& name) { fail(d, "cannot write " + name + ": " + std::strerror(errno)); }

// Closes the file, recording a failure to close it.
void close_file(WavWriter::Disk& d, const std::string& name) {
  const int closed = std::fclose(d.file);
  d.file = nullptr;
  if (closed != 0) fail_writing(d, name);
}

// A held file, whole: created, written (header first) and closed, and checksummed.
void write_held(WavWriter::Disk& d, const float* data, size_t frames, const std::string& temp, const std::string& name,
                int rate) {
  unsigned char header[kHeaderBytes];
  make_header(header, rate, uint32_t(frames));
  d.file = std::fopen(temp.c_str(), "wb");
  if (!d.file) return fail(d, "cannot create " + temp + ": " + std::strerror(errno));
  const bool wrote = std::fwrite(header, 1, kHeaderBytes, d.file) == kHeaderBytes &&
                     std::fwrite(data, sizeof(float), frames, d.file) == frames && std::fflush(d.file) == 0;
  if (!wrote) fail_writing(d, name);
  close_file(d, name);
  if (d.failed.load(std::memory_order_relaxed)) return;
  Xxh64 h;
  h.update(header, kHeaderBytes);
  h.update(data, frames * sizeof(float));
  d.checksum = FileChecksum{kHeaderBytes + frames * sizeof(float), h.digest()};
  d.checksummed = true;
}

}  // namespace

size_t WavWriter::float_buffers_allocated() { return SpareFloatBuffers::allocated_so_far(); }
void WavWriter::release_spare_buffers() { SpareFloatBuffers::release(); }
size_t WavWriter::spare_buffers_kept() { return SpareFloatBuffers::kept_now(); }
size_t WavWriter::spare_buffer_bytes_kept() { return SpareFloatBuffers::kept_bytes(); }

void WavWriter::Disk::wait_settled() {
  std::unique_lock<std::mutex> lock(mutex);
  settled.wait(lock, [&] { return pending == 0; });
}

WavWriter::WavWriter(const std::string& final_path, int sample_rate)
    : final_path_(final_path),
      temp_path_(temp_path_for(final_path)),
      sample_rate_(sample_rate),
      disk_(std::make_shared<Disk>()),
      behind_(IoThread::for_writing()) {}

// Past kHoldFrames: create the file (with a header to be completed) and stream from here on.
void WavWriter::open_for_streaming() {
  streaming_ = true;
  post(
      [temp = temp_path_, rate = sample_rate_](Disk& d) {
        d.file = std::fopen(temp.c_str(), "wb");
        if (!d.file) return fail(d, "cannot create " + temp + ": " + std::strerror(errno));
        unsigned char header[kHeaderBytes];
        make_header(header, rate, 0);
        if (std::fwrite(header, 1, kHeaderBytes, d.file) != kHeaderBytes) fail_writing(d, temp);
      },
      kHeaderBytes);
}

WavWriter::~WavWriter() {
  if (!done_) abort();
}

void WavWriter::post(std::function<void(Disk&)> op, size_t bytes) {
  std::function<void()> run = [disk = disk_, op = std::move(op)] {
    try {
      op(*disk);
    } catch (...) {
      // Out of memory while reporting a failure: the file failed all the same.
      disk->failed.store(true, std::memory_order_release);
    }
    std::lock_guard<std::mutex> lock(disk->mutex);
    --disk->pending;
    disk->settled.notify_all();
  };
  {
    std::lock_guard<std::mutex> lock(disk_->mutex);
    ++disk_->pending;
  }
  try {
    behind_.post(std::move(run), bytes);
  } catch (...) {
    std::lock_guard<std::mutex> lock(disk_->mutex);
    --disk_->pending;
    throw;
  }
}

void WavWriter::wait() {
  disk_->wait_settled();
  if (disk_->failed.load(std::memory_order_acquire)) throw WriteError(disk_->error);
}

namespace {

// Converts n samples to float32 and says whether all were finite, in one pass that vectorizes:
// x − x is +0 for a finite x and NaN for an infinity or a NaN, and a NaN stays in a sum. Sixteen
// sums (four vectors) so that the additions do not wait on each other.
__attribute__((target_clones("avx2", "default")))
bool to_float32_if_finite(const double* __restrict x, size_t n, float* __restrict to) {
  constexpr int kSums = 16;
  double acc[kSums] = {};
  size_t i = 0;
  for (; i + kSums <= n; i += kSums) {
    for (int l = 0; l < kSums; ++l) {
      acc[l] += x[i + size_t(l)] - x[i + size_t(l)];
      to[i + size_t(l)] = float(x[i + size_t(l)]);
    }
  }
  for (; i < n; ++i) {
    acc[0] += x[i] - x[i];
    to[i] = float(x[i]);
  }
  double all = 0;
  for (double a : acc) all += a;
  return all == 0;
}

}  // namespace

void WavWriter::write(const double* x, size_t n) {
  if (disk_->failed.load(std::memory_order_acquire)) wait();  // throws the failure
  // A buffer's worth at a time; a block with a NaN or an infinity is refused whole. A full
  // buffer goes out only once more samples come (a file of exactly kHoldFrames is held).
  while (n > 0) {
    if (buffer_.size() == kHoldFrames) flush_buffer();
    if (buffer_.capacity() == 0) buffer_ = SpareFloatBuffers::take(std::min(n, kHoldFrames));
    const size_t at = buffer_.size(), take = std::min(n, kHoldFrames - at);
    // Grown by doubling, but never past kHoldFrames.
    if (at + take > buffer_.capacity()) buffer_.reserve(std::min(kHoldFrames, std::max(2 * buffer_.capacity(), at + take)));
    buffer_.resize(at + take);
    if (!to_float32_if_finite(x, take, buffer_.data() + at)) {
      buffer_.resize(at);
      throw std::runtime_error("refusing to write a non-finite sample");
    }
    x += take;
    n -= take;
  }
}

void WavWriter::flush_buffer() {
  if (buffer_.empty()) return;
  if (uint64_t(frames_ + int64_t(buffer_.size())) * 4u > kMaxDataBytes) {
    throw std::runtime_error("output segment exceeds the 4 GiB WAV limit");
  }
  if (!streaming_) open_for_streaming();
  frames_ += int64_t(buffer_.size());
  const size_t bytes = buffer_.size() * sizeof(float);
  post(
      [data = std::move(buffer_), name = final_path_](Disk& d) mutable {
        if (d.file && !d.failed.load(std::memory_order_relaxed) &&
            std::fwrite(data.data(), sizeof(float), data.size(), d.file) != data.size()) {
          fail_writing(d, name);
        }
        SpareFloatBuffers::give_back(std::move(data));
      },
      bytes);
  buffer_ = FloatBuffer();
}

// done_ is set only once everything is posted: a writer whose finish() threw is removed by
// its destructor, like any unfinished one.
void WavWriter::finish() {
  if (!streaming_) {
    // Held whole: created, written and checksummed in one go.
    frames_ = int64_t(buffer_.size());
    const size_t bytes = buffer_.size() * sizeof(float);
    post(
        [data = std::move(buffer_), temp = temp_path_, name = final_path_, rate = sample_rate_](Disk& d) mutable {
          write_held(d, data.data(), data.size(), temp, name, rate);
          SpareFloatBuffers::give_back(std::move(data));
        },
        bytes + kHeaderBytes);
    buffer_ = FloatBuffer();
    done_ = true;
    return;
  }
  flush_buffer();
  post(
      [name = final_path_, rate = sample_rate_, frames = uint32_t(frames_)](Disk& d) {
        if (!d.file) return;
        unsigned char header[kHeaderBytes];
        make_header(header, rate, frames);
        if (!d.failed.load(std::memory_order_relaxed) &&
            (std::fseek(d.file, 0, SEEK_SET) != 0 || std::fwrite(header, 1, kHeaderBytes, d.file) != kHeaderBytes ||
             std::fflush(d.file) != 0)) {
          fail_writing(d, name);
        }
        close_file(d, name);
      },
      kHeaderBytes);
  done_ = true;
}

OutputSet::~OutputSet() {
  if (!published_) {
    for (auto& f : files_) {
      f.disk->wait_settled();
      ::unlink(f.temp.c_str());
    }
  }
}

std::string OutputSet::failure() const {
  std::string first;
  for (const auto& f : files_) {
    f.disk->wait_settled();
    if (first.empty() && f.disk->failed.load(std::memory_order_acquire)) first = f.disk->error;
  }
  return first;
}

bool OutputSet::written() const {
  // The last files were completed last, and their writing thread runs operations in order:
  // while any is pending, one of the last is, so from the end this stops at once (a file of
  // thousands of pieces is asked before each of the next file's blocks).
  for (auto f = files_.rbegin(); f != files_.rend(); ++f) {
    std::lock_guard<std::mutex> lock(f->disk->mutex);
    if (f->disk->pending != 0) return false;
  }
  return true;
}

std::vector<std::pair<std::string, FileChecksum>> OutputSet::checksums() const {
  std::vector<std::pair<std::string, FileChecksum>> out;
  for (const auto& f : files_) {
    f.disk->wait_settled();
    if (f.disk->checksummed) out.emplace_back(f.final_path, f.disk->checksum);
  }
  return out;
}

void OutputSet::publish() {
  published_ = true;  // from here on this takes care of the files itself
  const std::string failed = failure();
  if (!failed.empty()) {
    for (auto& f : files_) ::unlink(f.temp.c_str());
    throw WriteError(failed);
  }
  for (size_t i = 0; i < files_.size(); ++i) {
    if (std::rename(files_[i].temp.c_str(), files_[i].final_path.c_str()) != 0) {
      const std::string why = std::strerror(errno);
      // Undo: this input file's outputs appear all together or not at all.
      for (size_t j = 0; j < i; ++j) ::unlink(files_[j].final_path.c_str());
      for (size_t j = i; j < files_.size(); ++j) ::unlink(files_[j].temp.c_str());
      throw WriteError("cannot rename into " + files_[i].final_path + ": " + why);
    }
  }
}

void WavWriter::abort() {
  done_ = true;
  if (!streaming_) return;  // held: no file was ever created
  post(
      [temp = temp_path_](Disk& d) {
        if (d.file) {
          std::fclose(d.file);
          d.file = nullptr;
        }
        ::unlink(temp.c_str());
      },
      0);
  disk_->wait_settled();
}

}  // namespace voxprep
