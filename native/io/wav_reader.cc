#include "io/wav_reader.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <sys/stat.h>

namespace voxprep {
namespace {

uint16_t le16(const unsigned char* p) { return uint16_t(p[0] | (p[1] << 8)); }
uint32_t le32(const unsigned char* p) {
  return uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24);
}
uint64_t le64(const unsigned char* p) { return uint64_t(le32(p)) | (uint64_t(le32(p + 4)) << 32); }

constexpr uint16_t kFormatPcm = 1;
constexpr uint16_t kFormatFloat = 3;
constexpr uint16_t kFormatALaw = 6;
constexpr uint16_t kFormatMuLaw = 7;
constexpr uint16_t kFormatExtensible = 0xFFFE;
constexpr uint32_t kUnknownSize = 0xFFFFFFFFu;
constexpr int kMinRate = 1000;
constexpr int kMaxRate = 768000;
constexpr int kMaxChannels = 1024;
// A sample counts as clipped from these magnitudes on: the largest a format holds (a 16-bit
// or wider sample at 16-bit full scale or beyond; 8-bit and G.711 stop short of 1).
constexpr double kFullScale = 32767.0 / 32768.0;
constexpr double kFullScale8 = 127.0 / 128.0;
constexpr double kFullScaleMuLaw = 32124.0 / 32768.0;
constexpr double kFullScaleALaw = 32256.0 / 32768.0;

// G.711 expansions to 16-bit linear (the values libsndfile produces).
int16_t mulaw_to_linear(unsigned char byte) {
  const unsigned char u = static_cast<unsigned char>(~byte);
  const int exponent = (u >> 4) & 7;
  const int magnitude = (((u & 0x0F) << 3) + 0x84) << exponent;
  return int16_t((u & 0x80) ? (0x84 - magnitude) : (magnitude - 0x84));
}
int16_t alaw_to_linear(unsigned char byte) {
  const unsigned char a = byte ^ 0x55;
  const int exponent = (a >> 4) & 7;
  const int mantissa = a & 0x0F;
  const int magnitude = exponent == 0 ? (mantissa << 4) + 8 : ((mantissa << 4) + 0x108) << (exponent - 1);
  return int16_t((a & 0x80) ? magnitude : -magnitude);
}

}  // namespace

WavReader::WavReader(const std::string& path) : path_(path) { open(); }

WavReader::WavReader(const std::string& path, const std::vector<std::string>& decoder)
    : path_(path), decoder_(decoder) {
  open();
}

WavReader::WavReader(std::FILE* stream, int64_t size) : file_(stream), owns_file_(false), file_size_(size) {
  parse_header();
}

WavReader::~WavReader() { close(); }

void WavReader::close() {
  if (file_ && owns_file_) std::fclose(file_);
  file_ = nullptr;
  process_.stop();
}

void WavReader::open() {
  close();
  pos_ = 0;
  frames_read_ = 0;
  clipped_frames_ = 0;
  at_end_ = false;
  stream_short_ = false;
  info_ = WavInfo();
  checksumming_ = false;
  checksum_ = Xxh64();
  checksummed_bytes_ = 0;
  whole_checksum_.reset();
  if (decoder_.empty()) {
    file_ = std::fopen(path_.c_str(), "rb");
    if (!file_ && (errno == EMFILE || errno == ENFILE)) {
      throw TooManyOpenFiles(std::string("not started: the open-file limit was reached (") + std::strerror(errno) +
                             "): raise it (ulimit -n) or use fewer --threads, then run again with --resume");
    }
    if (!file_) throw std::runtime_error(std::string("cannot open: ") + std::strerror(errno));
    struct stat st {};
    if (fstat(fileno(file_), &st) != 0) fail(std::strerror(errno));
    if (S_ISDIR(st.st_mode)) fail("is a folder");
    if (!opened_stamp_) opened_stamp_ = stamp_of(st);
    file_size_ = S_ISREG(st.st_mode) ? int64_t(st.st_size) : -1;
    if (file_size_ == 0) fail("empty file");
    checksumming_ = file_size_ > 0;
  } else {
    if (!opened_stamp_) opened_stamp_ = stamp_now(path_);
    file_ = process_.start(decoder_);
    file_size_ = -1;
  }
  try {
    parse_header();
  } catch (...) {
    close();
    throw;
  }
}

namespace {

// Why a decoder process failed, from what it printed: voxprep's decoder says so on an
// "error: " line; ffmpeg prints the cause first and hints after it ("To ignore this, add a
// trailing '?' to the map."), so its first line. `status` (how it ended) when it said nothing.
std::string decoder_failure(const std::vector<std::string>& lines, const std::string& status) {
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
    if (it->rfind("error: ", 0) == 0) return it->substr(7);
  }
  for (const std::string& line : lines) {
    if (line.rfind("warning: ", 0) != 0) return line;
  }
  return status;
}

}  // namespace

void WavReader::fail(const std::string& why) {
  // A decoder that failed explains itself better than the stream it left behind.
  if (process_.running()) {
    if (file_ && owns_file_) std::fclose(file_);
    file_ = nullptr;
    bool ok = false;
    std::string status;
    const auto lines = process_.wait(ok, status);
    if (!ok) throw std::runtime_error(decoder_failure(lines, status));
  }
  throw std::runtime_error(why);
}

bool WavReader::read_exact(void* dst, size_t n) {
  const size_t got = std::fread(dst, 1, n, file_);
  pos_ += int64_t(got);
  if (checksumming_) {
    checksum_.update(dst, got);
    checksummed_bytes_ += got;
  }
  return got == n;
}

std::optional<FileChecksum> WavReader::whole_file_checksum() {
  if (checksumming_) {
    checksumming_ = false;
    // The rest of the file through the frame buffer, which the stream no longer needs (and
    // which, after a read-ahead, is already large: no allocation per file).
    raw_.resize(std::max(raw_.size(), size_t(1) << 16));
    size_t got;
    while ((got = std::fread(raw_.data(), 1, raw_.size(), file_)) > 0) {
      checksum_.update(raw_.data(), got);
      checksummed_bytes_ += got;
    }
    // Reads that did not take in the file exactly as it was opened (bytes consumed but not
    // checksummed, a file that grew): no checksum, and the caller reads the file itself.
    if (!std::ferror(file_) && int64_t(checksummed_bytes_) == file_size_) {
      whole_checksum_ = FileChecksum{checksummed_bytes_, checksum_.digest()};
    }
  }
  return whole_checksum_;
}

bool WavReader::skip(int64_t n) {
  char scratch[4096];
  while (n > 0) {
    const size_t step = size_t(n < int64_t(sizeof scratch) ? n : int64_t(sizeof scratch));
    if (!read_exact(scratch, step)) return false;
    n -= int64_t(step);
  }
  return true;
}

void WavReader::parse_header() {
  unsigned char riff[12];
  if (!read_exact(riff, 12)) fail(pos_ == 0 ? "empty file" : "not a WAV file: too short");
  const bool rf64 = std::memcmp(riff, "RF64", 4) == 0;
  // Said as an encoding this reader does not take, which the run hands to ffmpeg when it can.
  if (std::memcmp(riff, "RIFX", 4) == 0 && std::memcmp(riff + 8, "WAVE", 4) == 0) fail("unsupported WAV encoding (big-endian RIFX)");
  if ((!rf64 && std::memcmp(riff, "RIFF", 4) != 0) || std::memcmp(riff + 8, "WAVE", 4) != 0) {
    fail("not a WAV file: no RIFF/WAVE header");
  }
  // Where the RIFF chunk says the file ends (RIFF size + 8); a recorder writes its header with
  // sizes of 0 first and completes them when it closes the file.
  const int64_t riff_end = int64_t(le32(riff + 4)) + 8;
  bool have_fmt = false;
  uint16_t format = 0;
  int64_t rf64_data_size = -1;
  // A data chunk met before the fmt chunk (some writers put fmt after the audio): where it
  // starts and its declared size, read once fmt is found.
  int64_t early_data_at = -1;
  uint32_t early_data_size = 0;
  for (;;) {
    unsigned char hdr[8];
    uint32_t size;
    if (have_fmt && early_data_at >= 0) {
      // Back to the audio. The bytes are no longer read in order: no running checksum (the
      // run then reads the file for it itself).
      if (std::fseek(file_, long(early_data_at), SEEK_SET) != 0) fail("data chunk before fmt chunk");
      pos_ = early_data_at;
      checksumming_ = false;
      std::memcpy(hdr, "data", 4);
      size = early_data_size;
    } else {
      if (!read_exact(hdr, 8)) fail(have_fmt ? "no data chunk" : "no fmt chunk");
      size = le32(hdr + 4);
    }
    if (std::memcmp(hdr, "ds64", 4) == 0 && rf64) {
      unsigned char ds64[28];
      if (size < 24 || !read_exact(ds64, 24)) fail("truncated ds64 chunk");
      rf64_data_size = int64_t(le64(ds64 + 8) & 0x7FFFFFFFFFFFFFFFull);
      if (!skip(int64_t(size) - 24 + (size & 1))) fail("truncated ds64 chunk");
    } else if (std::memcmp(hdr, "fmt ", 4) == 0) {
      if (have_fmt) fail("two fmt chunks");
      if (size < 16) fail("fmt chunk too short");
      unsigned char fmt[40] = {0};
      const size_t want = size < sizeof fmt ? size : sizeof fmt;
      if (!read_exact(fmt, want) || !skip(int64_t(size) - int64_t(want) + (size & 1))) fail("truncated fmt chunk");
      format = le16(fmt);
      info_.channels = le16(fmt + 2);
      const uint32_t rate = le32(fmt + 4);
      block_align_ = le16(fmt + 12);
      info_.bits = le16(fmt + 14);
      if (format == kFormatExtensible) {
        if (size < 40) fail("WAVE_FORMAT_EXTENSIBLE fmt chunk too short");
        format = le16(fmt + 24);  // the sub-format GUID begins with the format tag
      }
      info_.format = format;
      info_.is_float = format == kFormatFloat;
      if (format != kFormatPcm && format != kFormatFloat && format != kFormatALaw && format != kFormatMuLaw) {
        fail("unsupported WAV encoding (format tag " + std::to_string(format) + ")");
      }
      if (info_.channels == 0) fail("header declares zero channels");
      if (info_.channels > kMaxChannels) fail("header declares " + std::to_string(info_.channels) + " channels");
      if (rate == 0) fail("header declares a sample rate of 0 Hz");
      if (rate < uint32_t(kMinRate) || rate > uint32_t(kMaxRate)) {
        fail("unsupported sample rate " + std::to_string(rate) + " Hz (voxprep reads " + std::to_string(kMinRate) +
             " to " + std::to_string(kMaxRate) + " Hz)");
      }
      info_.sample_rate = int(rate);
      bool ok_bits;
      switch (format) {
        case kFormatFloat: ok_bits = info_.bits == 32 || info_.bits == 64; break;
        case kFormatPcm: ok_bits = info_.bits == 8 || info_.bits == 16 || info_.bits == 24 || info_.bits == 32; break;
        default: ok_bits = info_.bits == 8; break;
      }
      if (!ok_bits) fail("unsupported sample size: " + std::to_string(info_.bits) + " bits for format tag " + std::to_string(format));
      if (block_align_ != info_.channels * (info_.bits / 8)) fail("inconsistent block alignment in fmt chunk");
      have_fmt = true;
    } else if (std::memcmp(hdr, "data", 4) == 0) {
      if (!have_fmt) {
        // Looked past only in a file whose size covers the declared data, so that the fmt
        // chunk can be after it and the audio read again.
        const int64_t end = pos_ + int64_t(size) + (size & 1);
        if (early_data_at >= 0 || rf64 || size == kUnknownSize || file_size_ < 0 || end >= file_size_ ||
            std::fseek(file_, long(end), SEEK_SET) != 0) {
          fail("data chunk before fmt chunk");
        }
        early_data_at = pos_;
        early_data_size = size;
        pos_ = end;
        continue;
      }
      data_start_ = pos_;
      if (rf64 && size == kUnknownSize && rf64_data_size >= 0) {
        data_bytes_ = rf64_data_size;
      } else if (size == kUnknownSize || (size == 0 && file_size_ < 0)) {
        data_bytes_ = -1;  // a stream: read to its end
      } else {
        data_bytes_ = int64_t(size);
      }
      if (file_size_ >= 0) {
        const int64_t available = file_size_ - data_start_;
        if (data_bytes_ == 0 && available >= block_align_ && !rf64 && riff_end <= data_start_) {
          // Never completed (a recorder that did not close its file): neither size counts the
          // samples after the data chunk's header.
          warnings_.push_back("the header was never completed (it declares no audio): read the " +
                              std::to_string(available / block_align_) + " frames the file holds");
          data_bytes_ = available;
        } else if (data_bytes_ < 0) {
          data_bytes_ = available;
        } else if (data_bytes_ > available) {
          info_.truncated = true;
          warnings_.push_back("the header declares " + std::to_string(data_bytes_ / block_align_) +
                              " frames but the file holds " + std::to_string(available / block_align_) +
                              "; read what is there");
          data_bytes_ = available;
        }
      }
      info_.frames = data_bytes_ < 0 ? -1 : data_bytes_ / block_align_;
      return;
    } else {
      // fact, LIST, cue, bext, JUNK, …: not needed. Chunks are padded to even sizes.
      if (!skip(int64_t(size) + (size & 1))) fail(have_fmt ? "no data chunk" : "no fmt chunk");
    }
  }
}

void WavReader::rewind() {
  if (file_) whole_file_checksum();
  if (decoder_.empty() && owns_file_ && file_ && std::fseek(file_, long(data_start_), SEEK_SET) == 0) {
    pos_ = data_start_;
    frames_read_ = 0;
    clipped_frames_ = 0;
    at_end_ = false;
    return;
  }
  if (!owns_file_) throw std::runtime_error("cannot rewind this stream");
  warnings_.clear();
  open();
}

void WavReader::finish_decoder() {
  if (!process_.running()) return;
  std::fclose(file_);
  file_ = nullptr;
  bool ok = false;
  std::string status;
  const auto lines = process_.wait(ok, status);
  for (const std::string& line : lines) {
    if (line.rfind("warning: ", 0) == 0) warnings_.push_back(line.substr(9));
  }
  if (!ok) throw std::runtime_error(decoder_failure(lines, status));
}

namespace {

// Frames of `ch` channels → their mean, one loop per sample format and channel count so that
// the format's branch is out of the loop. `load` turns one sample's kBytes bytes into a double.
// The frames go in chunks with no exit inside, so that the loop vectorizes (the early exit at
// a non-finite frame kept it scalar: decoding was about half of a reading thread's time); a
// chunk found to hold one is searched for its first.
template <int kBytes, int kChannels, class Load>
[[gnu::always_inline]] inline void mono_of(const unsigned char* p, size_t frames, int ch, Load load, double full_scale,
                                           double* out, int64_t* clipped_frames, bool check_finite,
                                           int64_t* non_finite_at) {
  const size_t channels = kChannels > 0 ? size_t(kChannels) : size_t(ch);
  constexpr size_t kChunk = 256;
  int64_t clipped_count = 0;
  for (size_t f0 = 0; f0 < frames; f0 += kChunk) {
    const size_t n = std::min(kChunk, frames - f0);
    const unsigned char* q = p + f0 * channels * kBytes;
    double* o = out + f0;
    int64_t clipped_here = 0;
    int bad = 0;
    for (size_t f = 0; f < n; ++f) {
      double sum = 0.0;
      int clipped = 0;
      for (size_t c = 0; c < channels; ++c) {
        const double v = load(q + (f * channels + c) * kBytes);
        clipped |= std::fabs(v) >= full_scale;
        sum += v;
      }
      clipped_here += clipped;
      const double mono = channels == 1 ? sum : sum / double(channels);
      bad |= !(std::fabs(mono) <= std::numeric_limits<double>::max());  // NaN or infinity
      o[f] = mono;
    }
    clipped_count += clipped_here;
    if (check_finite && bad) {
      size_t f = 0;
      while (std::isfinite(o[f])) ++f;
      *non_finite_at = int64_t(f0 + f);
      break;
    }
  }
  *clipped_frames = clipped_count;
}

template <int kBytes, class Load>
[[gnu::always_inline]] inline void mono_any(const unsigned char* p, size_t frames, int ch, Load load, double full_scale,
                                            double* out, int64_t* clipped, bool check_finite, int64_t* non_finite_at) {
  if (ch == 1) mono_of<kBytes, 1>(p, frames, ch, load, full_scale, out, clipped, check_finite, non_finite_at);
  else if (ch == 2) mono_of<kBytes, 2>(p, frames, ch, load, full_scale, out, clipped, check_finite, non_finite_at);
  else mono_of<kBytes, 0>(p, frames, ch, load, full_scale, out, clipped, check_finite, non_finite_at);
}

// 24-bit PCM, mono or stereo (the common recording formats), eight samples a step: the
// compiler's loop above stays scalar on 3-byte samples (about 1.1 ns a stereo frame here,
// some 20% of the bench's reading thread), where byte shuffles place each sample in a 32-bit
// lane (0.4 ns). AVX2 only (the caller checks): without its shuffle the same code runs
// slower than the scalar loop. Each sample is an integer below 2^23 in magnitude, so a
// frame's sum is exact, and sum / 2^23 / channels (one multiplication by a power of two) are
// the scalar loop's bits. Clipped frames are counted in the integer domain: |x| / 2^23 ≥
// kFullScale exactly when |x| ≥ 8388352. Returns the frames done: whole steps, up to where
// the last step's second 16-byte load would read past the data (the rest is the caller's).
constexpr int32_t kClip24 = 8388352;
static_assert(double(kClip24) / 8388608.0 == kFullScale, "the 24-bit clipping threshold is kFullScale's");
template <int kChannels>
__attribute__((target("avx2"))) size_t pcm24_in_lanes(const unsigned char* p, size_t frames, double* out,
                                                      int64_t* clipped_frames) {
  static_assert(kChannels == 1 || kChannels == 2, "mono or stereo");
  typedef unsigned char Bytes16 __attribute__((vector_size(16)));
  typedef unsigned char Bytes32 __attribute__((vector_size(32)));
  typedef int32_t Int8 __attribute__((vector_size(32)));
  typedef int32_t Int4 __attribute__((vector_size(16)));
  typedef double Double4 __attribute__((vector_size(32)));
  constexpr size_t kStepBytes = 24, kStepFrames = 8 / kChannels;
  // Sample k's three bytes (and the next sample's first, shifted out below) into lane k; within
  // each 16-byte half, as the shuffle works.
  const Bytes32 place = {0, 1, 2, 3, 3, 4, 5, 6, 6, 7, 8, 9, 9, 10, 11, 12,
                         16, 17, 18, 19, 19, 20, 21, 22, 22, 23, 24, 25, 25, 26, 27, 28};
  const size_t bytes = frames * kChannels * 3;
  Int8 clipped = {};
  size_t at = 0;
  for (; at + kStepBytes + 4 <= bytes; at += kStepBytes) {
    Bytes16 lo, hi;
    std::memcpy(&lo, p + at, 16);
    std::memcpy(&hi, p + at + 12, 16);
    const Bytes32 both = __builtin_shufflevector(lo, hi, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17,
                                                 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31);
    typedef uint32_t Unsigned8 __attribute__((vector_size(32)));
    const Int8 x = reinterpret_cast<Int8>(reinterpret_cast<Unsigned8>(__builtin_shuffle(both, place)) << 8) >> 8;
    const Int8 over = (x >= kClip24) | (x <= -kClip24);  // -1 where clipped
    double* o = out + at / (3 * kChannels);
    if constexpr (kChannels == 1) {
      clipped -= over;
      const Int4 a = __builtin_shufflevector(x, x, 0, 1, 2, 3), b = __builtin_shufflevector(x, x, 4, 5, 6, 7);
      const Double4 da = __builtin_convertvector(a, Double4) * (1.0 / 8388608.0);
      const Double4 db = __builtin_convertvector(b, Double4) * (1.0 / 8388608.0);
      std::memcpy(o, &da, 32);
      std::memcpy(o + 4, &db, 32);
    } else {
      // Lanes 2k and 2k + 1 are frame k's channels.
      const Int8 swapped = __builtin_shufflevector(x, x, 1, 0, 3, 2, 5, 4, 7, 6);
      clipped -= over | __builtin_shufflevector(over, over, 1, 0, 3, 2, 5, 4, 7, 6);  // each frame twice
      const Int8 sum = x + swapped;
      const Int4 frame_sums = __builtin_shufflevector(sum, sum, 0, 2, 4, 6);
      const Double4 d = __builtin_convertvector(frame_sums, Double4) * (1.0 / 16777216.0);
      std::memcpy(o, &d, 32);
    }
  }
  int64_t count = 0;
  for (int k = 0; k < 8; ++k) count += clipped[k];
  *clipped_frames += kChannels == 1 ? count : count / 2;
  return at / kStepBytes * kStepFrames;
}

// Frames in the file's sample format → mono doubles, with the clipped frames counted and the
// first non-finite frame found (-1: none; what was written from there on is not to be used).
struct Decoded {
  int64_t clipped = 0;
  int64_t non_finite_at = -1;
};

// Samples are loaded in the host's byte order, which is WAV's (little-endian) on every host
// voxprep builds for. Built for AVX2 too: its vectors take a whole frame's steps four samples
// at a time, where the default build's SSE2 has none for the conversions of most formats.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "WAV samples are little-endian");
__attribute__((target_clones("avx2", "default")))
Decoded decode_to_mono(int format, int bits, int ch, const unsigned char* p, size_t frames, double* out) {
  Decoded d;
  if (frames == 0) return d;
  const int bytes = bits / 8;
  int64_t* c = &d.clipped;
  int64_t* nf = &d.non_finite_at;
  if (format == kFormatFloat && bytes == 4) {
    mono_any<4>(p, frames, ch, [](const unsigned char* q) { float x; std::memcpy(&x, q, 4); return double(x); }, kFullScale, out, c, true, nf);
  } else if (format == kFormatFloat) {
    mono_any<8>(p, frames, ch, [](const unsigned char* q) { double x; std::memcpy(&x, q, 8); return x; }, kFullScale, out, c, true, nf);
  } else if (format == kFormatMuLaw) {
    mono_any<1>(p, frames, ch, [](const unsigned char* q) { return mulaw_to_linear(q[0]) / 32768.0; }, kFullScaleMuLaw, out, c, false, nf);
  } else if (format == kFormatALaw) {
    mono_any<1>(p, frames, ch, [](const unsigned char* q) { return alaw_to_linear(q[0]) / 32768.0; }, kFullScaleALaw, out, c, false, nf);
  } else if (bytes == 1) {
    mono_any<1>(p, frames, ch, [](const unsigned char* q) { return (double(q[0]) - 128.0) / 128.0; }, kFullScale8, out, c, false, nf);
  } else if (bytes == 2) {
    mono_any<2>(p, frames, ch, [](const unsigned char* q) { int16_t x; std::memcpy(&x, q, 2); return double(x) / 32768.0; }, kFullScale, out, c, false, nf);
  } else if (bytes == 3) {
    // Most frames of mono and stereo in lanes, where the CPU has them; the rest here.
    int64_t clipped_in_lanes = 0;
    size_t done = 0;
    if (ch == 1 && __builtin_cpu_supports("avx2")) done = pcm24_in_lanes<1>(p, frames, out, &clipped_in_lanes);
    if (ch == 2 && __builtin_cpu_supports("avx2")) done = pcm24_in_lanes<2>(p, frames, out, &clipped_in_lanes);
    const size_t block = size_t(ch) * 3;
    const unsigned char* q = p + done * block;
    const size_t rest = frames - done;  // at least one: the lanes leave the last frame
    // Each sample but the very last read as the four bytes from its own on, the fourth shifted
    // out: loads the vector loop can make. The last frame has no byte after it to read.
    mono_any<3>(q, rest - 1, ch, [](const unsigned char* x) {
      uint32_t v;
      std::memcpy(&v, x, 4);
      return double(int32_t(v << 8) >> 8) / 8388608.0;
    }, kFullScale, out + done, c, false, nf);
    int64_t clipped_last = 0;
    mono_any<3>(q + (rest - 1) * block, 1, ch, [](const unsigned char* x) {
      return double(int32_t(uint32_t(x[0]) << 8 | uint32_t(x[1]) << 16 | uint32_t(x[2]) << 24) >> 8) / 8388608.0;
    }, kFullScale, out + frames - 1, &clipped_last, false, nf);
    d.clipped += clipped_last + clipped_in_lanes;
  } else {
    mono_any<4>(p, frames, ch, [](const unsigned char* q) { int32_t x; std::memcpy(&x, q, 4); return double(x) / 2147483648.0; }, kFullScale, out, c, false, nf);
  }
  return d;
}

}  // namespace

size_t WavReader::read_mono(std::vector<double>& out, size_t max_frames) {
  const size_t base = out.size();
  out.resize(base + max_frames);
  size_t got = 0;
  try {
    got = read_mono(out.data() + base, max_frames);
  } catch (...) {
    out.resize(base);
    throw;
  }
  out.resize(base + got);
  return got;
}

size_t WavReader::read_mono(double* out, size_t max_frames) {
  if (at_end_) return 0;
  size_t frames = max_frames;
  if (data_bytes_ >= 0) {
    const int64_t left = data_bytes_ / block_align_ - frames_read_;
    if (left < int64_t(frames)) frames = size_t(left);
  }
  size_t got = 0;
  if (frames > 0) {
    raw_.resize(frames * size_t(block_align_));
    got = std::fread(raw_.data(), size_t(block_align_), frames, file_);
    if (got < frames && std::ferror(file_)) throw std::runtime_error(std::string("read error: ") + std::strerror(errno));
    if (checksumming_) {
      checksum_.update(raw_.data(), got * size_t(block_align_));
      checksummed_bytes_ += got * size_t(block_align_);
    }
    if (got < frames && data_bytes_ >= 0 && file_size_ < 0 && !stream_short_) {
      // A stream that ended before its declared size (said once, however the reads fall).
      warnings_.push_back("the stream ended before the size its header declares");
      stream_short_ = true;
    }
  }
  if (got == 0) {
    at_end_ = true;
    finish_decoder();
    return 0;
  }
  const Decoded d = decode_to_mono(info_.format, info_.bits, info_.channels, raw_.data(), got, out);
  clipped_frames_ += d.clipped;
  if (d.non_finite_at >= 0) {
    throw std::runtime_error("non-finite sample (NaN or infinity) at frame " + std::to_string(frames_read_ + d.non_finite_at));
  }
  frames_read_ += int64_t(got);
  pos_ += int64_t(got) * block_align_;
  return got;
}

}  // namespace voxprep
