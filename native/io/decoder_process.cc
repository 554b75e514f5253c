#include "io/decoder_process.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <spawn.h>
#include <stdexcept>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace voxprep {

std::FILE* DecoderProcess::start(const std::vector<std::string>& argv) {
  stop();
  if (argv.empty()) throw std::runtime_error("no decoder command");
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error(std::string("cannot make a pipe: ") + std::strerror(errno));
  err_fd_ = memfd_create("voxprep-decoder-stderr", MFD_CLOEXEC);
  if (err_fd_ < 0) {
    ::close(out[0]);
    ::close(out[1]);
    throw std::runtime_error(std::string("cannot capture decoder errors: ") + std::strerror(errno));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_fd_, 2);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const int rc = posix_spawnp(&pid_, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  if (rc != 0) {
    pid_ = -1;
    ::close(out[0]);
    ::close(err_fd_);
    err_fd_ = -1;
    throw std::runtime_error("cannot run decoder " + argv[0] + ": " + std::strerror(rc));
  }
  std::FILE* f = fdopen(out[0], "rb");
  if (!f) {
    ::close(out[0]);
    stop();
    throw std::runtime_error(std::string("cannot read decoder output: ") + std::strerror(errno));
  }
  return f;
}

std::vector<std::string> DecoderProcess::wait(bool& ok, std::string& status_text) {
  ok = false;
  status_text.clear();
  if (pid_ > 0) {
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    if (WIFEXITED(status)) {
      ok = WEXITSTATUS(status) == 0;
      if (!ok) status_text = "decoder exited with status " + std::to_string(WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
      status_text = std::string("decoder killed by signal ") + strsignal(WTERMSIG(status));
    }
  }
  std::vector<std::string> lines;
  if (err_fd_ >= 0) {
    std::string text;
    char buf[4096];
    ssize_t n;
    lseek(err_fd_, 0, SEEK_SET);
    while ((n = ::read(err_fd_, buf, sizeof buf)) > 0 && text.size() < (1u << 20)) text.append(buf, size_t(n));
    ::close(err_fd_);
    err_fd_ = -1;
    size_t start = 0;
    while (start < text.size()) {
      size_t end = text.find('\n', start);
      if (end == std::string::npos) end = text.size();
      if (end > start) lines.push_back(text.substr(start, end - start));
      start = end + 1;
    }
  }
  return lines;
}

void DecoderProcess::stop() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }
  if (err_fd_ >= 0) {
    ::close(err_fd_);
    err_fd_ = -1;
  }
}

}  // namespace voxprep
