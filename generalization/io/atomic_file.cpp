#include "gengap/generalization/io/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "gengap/kernels/error.hpp"

namespace gengap {
namespace {

[[noreturn]] void throw_write_error(const std::filesystem::path& path, int error) {
  throw std::runtime_error("cannot write '" + path.string() + "': " + std::strerror(error));
}

// Closes the descriptor and unlinks the temporary unless released (success).
class TemporaryFile {
 public:
  TemporaryFile(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}
  ~TemporaryFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!name_.empty()) ::unlink(name_.c_str());
  }
  TemporaryFile(const TemporaryFile&) = delete;
  TemporaryFile& operator=(const TemporaryFile&) = delete;

  int fd() const { return fd_; }
  const std::string& name() const { return name_; }
  int close() {
    const int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }
  void release() { name_.clear(); }

 private:
  int fd_;
  std::string name_;
};

}  // namespace

void ensure_directory(const std::filesystem::path& dir, std::string_view field) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw InvalidArgument(field, "cannot create '" + dir.string() + "': " + ec.message());
  if (!std::filesystem::is_directory(dir, ec)) {
    throw InvalidArgument(field, "cannot create '" + dir.string() + "': " + std::strerror(ENOTDIR));
  }
  // access(W_OK | X_OK) is what creating a file inside needs; checking now
  // rejects an unwritable folder before any computation starts.
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    throw InvalidArgument(field, "cannot write into '" + dir.string() + "': " + std::strerror(errno));
  }
}

void replace_file_atomically(const std::filesystem::path& path,
                             const std::function<void(const std::filesystem::path& temporary)>& produce) {
  const std::filesystem::path folder = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  std::string pattern = (folder / (path.filename().string() + ".tmp.XXXXXX")).string();
  std::vector<char> name(pattern.begin(), pattern.end());
  name.push_back('\0');
  const int fd = ::mkstemp(name.data());
  if (fd < 0) throw_write_error(path, errno);
  TemporaryFile temporary(fd, name.data());
  // mkstemp creates 0600; results are meant to be shared like any other file.
  const mode_t mask = ::umask(0);
  ::umask(mask);
  if (::fchmod(fd, 0666 & ~mask) != 0) throw_write_error(path, errno);
  if (temporary.close() != 0) throw_write_error(path, errno);

  produce(std::filesystem::path(temporary.name()));

  const int written_fd = ::open(temporary.name().c_str(), O_RDONLY);
  if (written_fd < 0 || ::fsync(written_fd) != 0) {
    const int error = errno;
    if (written_fd >= 0) ::close(written_fd);
    throw_write_error(path, error);
  }
  ::close(written_fd);
  if (::rename(temporary.name().c_str(), path.c_str()) != 0) throw_write_error(path, errno);
  temporary.release();
  // The rename itself is durable only once the folder's entry is on disk.
  const int dir_fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

void write_file_atomically(const std::filesystem::path& path, std::string_view content) {
  replace_file_atomically(path, [&](const std::filesystem::path& temporary) {
    const int fd = ::open(temporary.c_str(), O_WRONLY | O_TRUNC);
    if (fd < 0) throw_write_error(path, errno);
    const char* data = content.data();
    std::size_t left = content.size();
    while (left > 0) {
      const ssize_t written = ::write(fd, data, left);
      if (written < 0) {
        if (errno == EINTR) continue;
        const int error = errno;
        ::close(fd);
        throw_write_error(path, error);
      }
      data += written;
      left -= static_cast<std::size_t>(written);
    }
    if (::close(fd) != 0) throw_write_error(path, errno);
  });
}

}  // namespace gengap
