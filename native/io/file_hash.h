// The checksum the run manifest records for every input and output: XXH64 with seed 0 (the
// xxHash specification's 64-bit hash, as `xxhsum -H1` prints it). It is there to catch a file
// that changed or was damaged since it was recorded (a torn write, zeroed blocks after a
// crash, an edited input), not deliberate forgery, and it runs some ten times faster than
// SHA-256, which used to cost a run about a fifth of its CPU time.
#pragma once

#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace voxprep {

// Streaming XXH64: update() any number of times, then digest() (which leaves the state as
// it was, so more may follow).
class Xxh64 {
 public:
  Xxh64();  // seed 0
  void update(const void* data, size_t n);
  uint64_t digest() const;

 private:
  uint64_t lanes_[4];
  unsigned char pending_[32] = {};  // input not yet a whole 32-byte stripe
  size_t pending_n_ = 0;
  uint64_t total_ = 0;
};

struct FileChecksum {
  uint64_t size = 0;
  uint64_t xxh64 = 0;
};

// A file's size and modification time (nanoseconds since the epoch, as Node's bigint stat
// gives mtimeNs): the run manifest compares them before and after a file is processed, to
// tell that it changed meanwhile.
struct FileStamp {
  int64_t size = 0;
  int64_t mtime_ns = 0;
};

// The stamp of what stat(2) said of a file.
FileStamp stamp_of(const struct stat& st);

// The stamp of the file at `path` now; empty when it cannot be stat'ed.
std::optional<FileStamp> stamp_now(const std::string& path);

// Reads the whole file and checksums it; throws std::runtime_error with the reason (the
// caller names the file).
FileChecksum checksum_file(const std::string& path);

// Whether the file at `path` is a regular file of want.size bytes with want's checksum (and,
// where given, modified at mtime_ns): a recorded input or output found as it was recorded,
// which --resume keeps. False when it is not, or cannot be read.
bool file_matches(const std::string& path, const FileChecksum& want, std::optional<int64_t> mtime_ns);

// Copies `from` to `to` through a temporary name beside it (io/wav_writer.h's
// temp_path_for), reads the copy back, and renames it into place only if it has want's size
// and checksum: how `voxprep merge` brings a shard's slice over. Throws std::runtime_error with
// the reason (the caller names the files); the temporary is gone either way.
void copy_verified(const std::string& from, const std::string& to, const FileChecksum& want);

// The 16 lower-case hex digits the manifest stores.
std::string xxh64_hex(uint64_t h);

}  // namespace voxprep
