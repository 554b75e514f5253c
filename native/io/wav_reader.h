// Streaming WAV reader: RIFF/WAVE and RF64 with PCM (8-bit unsigned, 16/24/32-bit signed),
// IEEE float (32/64-bit), A-law and µ-law, or WAVE_FORMAT_EXTENSIBLE carrying any of them;
// any channel count, mixed to mono by the mean of the channels, scaled as libsndfile does
// (1 / 2^(bits−1); A-law and µ-law through 16-bit linear).
//
// The stream is a file, or the standard output of a decoder process (compressed formats are
// decoded by a child that writes a float WAV stream to a pipe; its data size may be unknown).
// The header is parsed strictly in order, so a pipe needs no seeking.
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "io/decoder_process.h"
#include "io/file_hash.h"

namespace voxprep {

struct WavInfo {
  int sample_rate = 0;
  int channels = 0;
  int bits = 0;
  int format = 0;           // 1 PCM, 3 float, 6 A-law, 7 µ-law
  bool is_float = false;
  int64_t frames = -1;      // frames the data chunk declares; -1 when unknown (a stream)
  bool truncated = false;   // the header declared more data than the file holds
};

// The system's limit on open files was reached as an input was opened: no fault of the file
// (the engine reports it not started, so that --resume does it again).
struct TooManyOpenFiles : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class WavReader {
 public:
  explicit WavReader(const std::string& path);  // a WAV file; throws std::runtime_error with the reason
  // The WAV stream a decoder process writes on its standard output.
  WavReader(const std::string& path, const std::vector<std::string>& decoder);
  // An already open stream (tests and fuzzing); the reader does not own it.
  WavReader(std::FILE* stream, int64_t size);
  ~WavReader();
  WavReader(const WavReader&) = delete;
  WavReader& operator=(const WavReader&) = delete;

  const WavInfo& info() const { return info_; }
  // Reads up to `max_frames` frames as mono doubles into out[0, count); returns the count
  // (0 at the end). Throws on a read error, a decoder failure or a non-finite sample.
  size_t read_mono(double* out, size_t max_frames);
  // The same, appended to `out`.
  size_t read_mono(std::vector<double>& out, size_t max_frames);
  // Starts again from the first sample (a decoder is run again).
  void rewind();
  // Problems met on the way that did not stop the read (a decoder's warnings, truncation).
  const std::vector<std::string>& warnings() const { return warnings_; }
  // Frames read so far with a channel at full scale (|v| ≥ 32767/32768): clipping.
  int64_t clipped_frames() const { return clipped_frames_; }
  // The whole file's checksum (io/file_hash.h), for the run manifest, from the bytes the
  // reader went through, the rest of the file (chunks after the data) read now: to call once
  // the stream has ended (rewind() takes it first). Saves reading every input twice. Empty
  // for a decoder's stream, or where the reads did not cover the file exactly.
  std::optional<FileChecksum> whole_file_checksum();
  // The file's size and modification time as it was first opened, before any of it was read
  // (a decoder's input: just before the decoder started). Empty for an already open stream.
  const std::optional<FileStamp>& opened_stamp() const { return opened_stamp_; }

 private:
  void open();
  void close();
  void parse_header();
  bool read_exact(void* dst, size_t n);
  bool skip(int64_t n);
  [[noreturn]] void fail(const std::string& why);
  void finish_decoder();

  std::string path_;
  std::vector<std::string> decoder_;
  std::FILE* file_ = nullptr;
  bool owns_file_ = true;
  int64_t file_size_ = -1;  // -1: a stream of unknown size
  DecoderProcess process_;
  WavInfo info_;
  int64_t pos_ = 0;            // bytes consumed from the stream
  int64_t data_start_ = 0;
  int64_t data_bytes_ = -1;    // -1: to the end of the stream
  int64_t frames_read_ = 0;
  int64_t clipped_frames_ = 0;
  int block_align_ = 0;
  bool at_end_ = false;
  bool stream_short_ = false;  // the stream ended before its declared size (warned)
  std::vector<unsigned char> raw_;
  std::vector<std::string> warnings_;
  // Every byte read from the start of a file goes through checksum_ until the whole file's
  // checksum is taken.
  bool checksumming_ = false;
  Xxh64 checksum_;
  uint64_t checksummed_bytes_ = 0;
  std::optional<FileChecksum> whole_checksum_;
  std::optional<FileStamp> opened_stamp_;
};

}  // namespace voxprep
