#include "io/file_hash.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "io/wav_writer.h"

namespace voxprep {
namespace {

// The specification's primes.
constexpr uint64_t kPrime1 = 0x9E3779B185EBCA87ull;
constexpr uint64_t kPrime2 = 0xC2B2AE3D27D4EB4Full;
constexpr uint64_t kPrime3 = 0x165667B19E3779F9ull;
constexpr uint64_t kPrime4 = 0x85EBCA77C2B2AE63ull;
constexpr uint64_t kPrime5 = 0x27D4EB2F165667C5ull;

inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

// Little-endian loads, whatever the host's order.
inline uint64_t load64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
inline uint64_t load32(const unsigned char* p) {
  return uint64_t(p[0]) | uint64_t(p[1]) << 8 | uint64_t(p[2]) << 16 | uint64_t(p[3]) << 24;
}

inline uint64_t mix_lane(uint64_t acc, uint64_t lane) { return rotl(acc + lane * kPrime2, 31) * kPrime1; }

inline uint64_t merge(uint64_t acc, uint64_t lane) { return (acc ^ mix_lane(0, lane)) * kPrime1 + kPrime4; }

// Whole 32-byte stripes, one 8-byte lane into each accumulator.
inline void stripes(uint64_t* lanes, const unsigned char* p, size_t count) {
  uint64_t a = lanes[0], b = lanes[1], c = lanes[2], d = lanes[3];
  for (size_t s = 0; s < count; ++s, p += 32) {
    a = mix_lane(a, load64(p));
    b = mix_lane(b, load64(p + 8));
    c = mix_lane(c, load64(p + 16));
    d = mix_lane(d, load64(p + 24));
  }
  lanes[0] = a, lanes[1] = b, lanes[2] = c, lanes[3] = d;
}

}  // namespace

Xxh64::Xxh64() : lanes_{kPrime1 + kPrime2, kPrime2, 0, 0 - kPrime1} {}

void Xxh64::update(const void* data, size_t n) {
  if (n == 0) return;  // (data may then be null, which memcpy may not be given)
  const auto* p = static_cast<const unsigned char*>(data);
  total_ += n;
  if (pending_n_ > 0) {
    const size_t take = n < 32 - pending_n_ ? n : 32 - pending_n_;
    std::memcpy(pending_ + pending_n_, p, take);
    pending_n_ += take;
    p += take;
    n -= take;
    if (pending_n_ < 32) return;
    stripes(lanes_, pending_, 1);
    pending_n_ = 0;
  }
  stripes(lanes_, p, n / 32);
  p += n / 32 * 32;
  n %= 32;
  std::memcpy(pending_, p, n);
  pending_n_ = n;
}

uint64_t Xxh64::digest() const {
  uint64_t h;
  if (total_ >= 32) {
    h = rotl(lanes_[0], 1) + rotl(lanes_[1], 7) + rotl(lanes_[2], 12) + rotl(lanes_[3], 18);
    for (uint64_t lane : lanes_) h = merge(h, lane);
  } else {
    h = kPrime5;  // seed 0 + prime 5
  }
  h += total_;
  const unsigned char* p = pending_;
  size_t n = pending_n_;
  for (; n >= 8; n -= 8, p += 8) h = rotl(h ^ mix_lane(0, load64(p)), 27) * kPrime1 + kPrime4;
  if (n >= 4) {
    h = rotl(h ^ (load32(p) * kPrime1), 23) * kPrime2 + kPrime3;
    n -= 4;
    p += 4;
  }
  for (; n > 0; --n, ++p) h = rotl(h ^ (uint64_t(*p) * kPrime5), 11) * kPrime1;
  h ^= h >> 33;
  h *= kPrime2;
  h ^= h >> 29;
  h *= kPrime3;
  h ^= h >> 32;
  return h;
}

namespace {

// The block files are read in: one per thread, reused (a fresh one per file costs page
// faults worth about as much as the checksum itself).
std::vector<unsigned char>& thread_block() {
  thread_local std::vector<unsigned char> block(size_t(256) << 10);
  return block;
}

// Reads an open file from where it stands to its end, block by block, handing each block to
// `take`.
template <class Take>
void read_blocks(int fd, Take take) {
  std::vector<unsigned char>& block = thread_block();
  for (;;) {
    const ssize_t got = ::read(fd, block.data(), block.size());
    if (got < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(std::strerror(errno));
    }
    if (got == 0) return;
    take(block.data(), size_t(got));
  }
}

// An open file's checksum, read from where it stands.
FileChecksum checksum_open(int fd) {
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  Xxh64 h;
  FileChecksum c;
  read_blocks(fd, [&](const unsigned char* data, size_t n) {
    h.update(data, n);
    c.size += uint64_t(n);
  });
  c.xxh64 = h.digest();
  return c;
}

// Closes its file when it goes, unless closed before (fd −1).
struct Closer {
  int fd;
  ~Closer() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

FileChecksum checksum_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error(std::strerror(errno));
  Closer closer{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0) throw std::runtime_error(std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw std::runtime_error("not a regular file");
  return checksum_open(fd);
}

void copy_verified(const std::string& from, const std::string& to, const FileChecksum& want) {
  const std::string temp = temp_path_for(to);
  try {
    const int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
    if (in < 0) throw std::runtime_error(std::strerror(errno));
    Closer closing_in{in};
    const int out = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (out < 0) throw std::runtime_error(std::strerror(errno));
    Closer closing_out{out};
    read_blocks(in, [&](const unsigned char* data, size_t n) {
      for (size_t done = 0; done < n;) {
        const ssize_t put = ::write(out, data + done, n - done);
        if (put < 0) {
          if (errno == EINTR) continue;
          throw std::runtime_error(std::strerror(errno));
        }
        done += size_t(put);
      }
    });
    // A write error the file system reports only on closing (NFS, say) fails the copy too.
    const int closed = ::close(out);
    closing_out.fd = -1;
    if (closed != 0) throw std::runtime_error(std::strerror(errno));
    // The copy as it reads back, not the bytes handed to write().
    const FileChecksum got = checksum_file(temp);
    if (got.size != want.size || got.xxh64 != want.xxh64) {
      throw std::runtime_error("it is not what its shard recorded (" + std::to_string(got.size) + " bytes, expected " +
                               std::to_string(want.size) + "; checksum " + xxh64_hex(got.xxh64) + ", expected " +
                               xxh64_hex(want.xxh64) + ")");
    }
    if (::rename(temp.c_str(), to.c_str()) != 0) throw std::runtime_error(std::strerror(errno));
  } catch (...) {
    ::unlink(temp.c_str());
    throw;
  }
}

bool file_matches(const std::string& path, const FileChecksum& want, std::optional<int64_t> mtime_ns) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  Closer closer{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return false;
  const FileStamp stamp = stamp_of(st);
  // Size and time first: a file that differs there is not read.
  if (uint64_t(stamp.size) != want.size || (mtime_ns && stamp.mtime_ns != *mtime_ns)) return false;
  try {
    const FileChecksum got = checksum_open(fd);
    return got.size == want.size && got.xxh64 == want.xxh64;
  } catch (const std::runtime_error&) {
    return false;
  }
}

FileStamp stamp_of(const struct stat& st) {
  return FileStamp{int64_t(st.st_size), int64_t(st.st_mtim.tv_sec) * 1000000000LL + int64_t(st.st_mtim.tv_nsec)};
}

std::optional<FileStamp> stamp_now(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return stamp_of(st);
}

std::string xxh64_hex(uint64_t h) {
  static const char kDigits[] = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i, h >>= 4) s[size_t(i)] = kDigits[h & 15];
  return s;
}

}  // namespace voxprep
