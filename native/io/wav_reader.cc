#include "io/wav_reader.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <sys/stat.h>

namespace voxprep {
namespace {

uint16_t le16(const unsigned char* p) { return uint16_t(p[0] | (p[1] << 8)); }
uint32_t le32(const unsigned char* p) {
  return uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24);
}

constexpr uint16_t kFormatPcm = 1;
constexpr uint16_t kFormatFloat = 3;
constexpr uint16_t kFormatExtensible = 0xFFFE;
constexpr int kMinRate = 1000;
constexpr int kMaxRate = 768000;

}  // namespace

WavReader::WavReader(const std::string& path) : path_(path) {
  file_ = std::fopen(path.c_str(), "rb");
  if (!file_) throw std::runtime_error(std::string("cannot open: ") + std::strerror(errno));
  try {
    parse_header();
  } catch (...) {
    std::fclose(file_);
    file_ = nullptr;
    throw;
  }
}

WavReader::~WavReader() {
  if (file_) std::fclose(file_);
}

void WavReader::parse_header() {
  struct stat st {};
  if (fstat(fileno(file_), &st) != 0) throw std::runtime_error(std::strerror(errno));
  const int64_t file_size = int64_t(st.st_size);
  if (file_size == 0) throw std::runtime_error("empty file");
  unsigned char riff[12];
  if (std::fread(riff, 1, 12, file_) != 12) throw std::runtime_error("not a WAV file: too short");
  if (std::memcmp(riff, "RIFF", 4) != 0 || std::memcmp(riff + 8, "WAVE", 4) != 0) {
    throw std::runtime_error("not a WAV file: no RIFF/WAVE header");
  }
  bool have_fmt = false;
  uint16_t format = 0;
  int64_t pos = 12;
  while (true) {
    unsigned char hdr[8];
    if (std::fseek(file_, long(pos), SEEK_SET) != 0 || std::fread(hdr, 1, 8, file_) != 8) {
      throw std::runtime_error(have_fmt ? "no data chunk" : "no fmt chunk");
    }
    const uint32_t size = le32(hdr + 4);
    const int64_t body = pos + 8;
    if (std::memcmp(hdr, "fmt ", 4) == 0) {
      if (size < 16) throw std::runtime_error("fmt chunk too short");
      unsigned char fmt[40] = {0};
      const size_t want = size < sizeof fmt ? size : sizeof fmt;
      if (std::fread(fmt, 1, want, file_) != want) throw std::runtime_error("truncated fmt chunk");
      format = le16(fmt);
      info_.channels = le16(fmt + 2);
      const uint32_t rate = le32(fmt + 4);
      block_align_ = le16(fmt + 12);
      info_.bits = le16(fmt + 14);
      if (format == kFormatExtensible) {
        if (size < 40) throw std::runtime_error("WAVE_FORMAT_EXTENSIBLE fmt chunk too short");
        format = le16(fmt + 24);  // first two bytes of the sub-format GUID
      }
      if (format != kFormatPcm && format != kFormatFloat) {
        throw std::runtime_error("unsupported WAV encoding (format tag " + std::to_string(format) + ")");
      }
      info_.is_float = format == kFormatFloat;
      if (info_.channels == 0) throw std::runtime_error("header declares zero channels");
      if (rate < uint32_t(kMinRate) || rate > uint32_t(kMaxRate)) {
        throw std::runtime_error("unsupported sample rate " + std::to_string(rate) + " Hz");
      }
      info_.sample_rate = int(rate);
      const bool ok_bits = info_.is_float ? (info_.bits == 32 || info_.bits == 64)
                                          : (info_.bits == 8 || info_.bits == 16 || info_.bits == 24 ||
                                             info_.bits == 32);
      if (!ok_bits) {
        throw std::runtime_error("unsupported sample size: " + std::to_string(info_.bits) + "-bit " +
                                 (info_.is_float ? "float" : "PCM"));
      }
      if (block_align_ != info_.channels * (info_.bits / 8)) {
        throw std::runtime_error("inconsistent block alignment in fmt chunk");
      }
      have_fmt = true;
    } else if (std::memcmp(hdr, "data", 4) == 0) {
      if (!have_fmt) throw std::runtime_error("data chunk before fmt chunk");
      data_offset_ = body;
      const int64_t available = file_size - body;
      int64_t declared = int64_t(size);
      if (size == 0xFFFFFFFFu || declared > available) {
        info_.truncated = size != 0xFFFFFFFFu;
        declared = available;
      }
      info_.frames = declared / block_align_;
      break;
    }
    pos = body + int64_t(size) + (size & 1);  // chunks are padded to even sizes
    if (pos >= file_size) throw std::runtime_error(have_fmt ? "no data chunk" : "no fmt chunk");
  }
  rewind();
}

void WavReader::rewind() {
  frames_read_ = 0;
  if (std::fseek(file_, long(data_offset_), SEEK_SET) != 0) throw std::runtime_error(std::strerror(errno));
}

size_t WavReader::read_mono(std::vector<double>& out, size_t max_frames) {
  const int64_t left = info_.frames - frames_read_;
  size_t frames = size_t(left < int64_t(max_frames) ? left : int64_t(max_frames));
  if (frames == 0) return 0;
  raw_.resize(frames * size_t(block_align_));
  const size_t got = std::fread(raw_.data(), size_t(block_align_), frames, file_);
  if (got < frames) {
    if (std::ferror(file_)) throw std::runtime_error(std::string("read error: ") + std::strerror(errno));
    info_.truncated = true;
    info_.frames = frames_read_ + int64_t(got);
    frames = got;
  }
  const int ch = info_.channels;
  const int bytes = info_.bits / 8;
  const size_t base = out.size();
  out.resize(base + frames);
  const unsigned char* p = raw_.data();
  for (size_t f = 0; f < frames; ++f) {
    double sum = 0.0;
    for (int c = 0; c < ch; ++c, p += bytes) {
      double v;
      if (info_.is_float) {
        if (bytes == 4) {
          float x;
          std::memcpy(&x, p, 4);
          v = x;
        } else {
          std::memcpy(&v, p, 8);
        }
      } else {
        switch (bytes) {
          case 1: v = (double(p[0]) - 128.0) / 128.0; break;
          case 2: v = double(int16_t(le16(p))) / 32768.0; break;
          case 3: v = double(int32_t(uint32_t(p[0]) << 8 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 24) >> 8) / 8388608.0; break;
          default: v = double(int32_t(le32(p))) / 2147483648.0; break;
        }
      }
      sum += v;
    }
    const double mono = ch == 1 ? sum : sum / ch;
    if (!std::isfinite(mono)) {
      throw std::runtime_error("non-finite sample (NaN or infinity) at frame " +
                               std::to_string(frames_read_ + int64_t(f)));
    }
    out[base + f] = mono;
  }
  frames_read_ += int64_t(frames);
  return frames;
}

}  // namespace voxprep
