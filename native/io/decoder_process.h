// A decoder child process: argv is run with its standard output on a pipe that the reader
// consumes and its standard error in an anonymous in-memory file, read after it exits (a
// pipe there could fill up and stall the child).
#pragma once

#include <cstdio>
#include <string>
#include <sys/types.h>
#include <vector>

namespace voxprep {

class DecoderProcess {
 public:
  DecoderProcess() = default;
  ~DecoderProcess() { stop(); }
  DecoderProcess(const DecoderProcess&) = delete;
  DecoderProcess& operator=(const DecoderProcess&) = delete;

  // Starts argv; returns the read end of its standard output (owned by the caller).
  std::FILE* start(const std::vector<std::string>& argv);
  // Waits for the child to exit; returns its stderr's lines. `ok` is set from its status;
  // `status_text` says how it ended when not ok.
  std::vector<std::string> wait(bool& ok, std::string& status_text);
  // Kills a child still running and reaps it.
  void stop();
  bool running() const { return pid_ > 0; }

 private:
  pid_t pid_ = -1;
  int err_fd_ = -1;
};

}  // namespace voxprep
