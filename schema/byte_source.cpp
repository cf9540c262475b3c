#include "schema/byte_source.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

namespace eddy {

namespace {

class fd_source final : public byte_source {
public:
  fd_source(int fd, std::string name, std::uint64_t total, bool owned)
    : fd_(fd), total_(total), owned_(owned) {
    name_ = std::move(name);
  }
  ~fd_source() override {
    if (owned_)
      ::close(fd_);
  }
  std::ptrdiff_t read(char* dst, std::size_t n) override {
    for (;;) {
      auto r = ::read(fd_, dst, n);
      if (r >= 0) {
        consumed_ += static_cast<std::uint64_t>(r);
        return r;
      }
      if (errno == EINTR)
        continue;
      error_ = "read error in '" + name_ + "': " + std::strerror(errno);
      return -1;
    }
  }
  std::uint64_t consumed() const override { return consumed_; }
  std::uint64_t total() const override { return total_; }

private:
  int fd_;
  std::uint64_t total_;
  bool owned_;
  std::uint64_t consumed_ = 0;
};

class gzip_source final : public byte_source {
public:
  gzip_source(gzFile f, std::string name, std::uint64_t total)
    : f_(f), total_(total) {
    name_ = std::move(name);
    gzbuffer(f_, 1u << 18);
  }
  ~gzip_source() override { gzclose(f_); }
  std::ptrdiff_t read(char* dst, std::size_t n) override {
    n = std::min<std::size_t>(n, 1u << 30);
    int r = gzread(f_, dst, static_cast<unsigned>(n));
    if (r < 0) {
      int code = 0;
      const char* msg = gzerror(f_, &code);
      error_ = "cannot decompress '" + name_ + "': " + (msg ? msg : "gzip error") +
               " (is the file truncated or not gzip?)";
      return -1;
    }
    if (r == 0 && !gzeof(f_)) {
      int code = 0;
      const char* msg = gzerror(f_, &code);
      if (code != Z_OK) {
        error_ = "cannot decompress '" + name_ + "': " + (msg ? msg : "gzip error");
        return -1;
      }
    }
    // A gzip stream cut short ends without an error from gzread: gzerror says.
    if (r == 0) {
      int code = 0;
      const char* msg = gzerror(f_, &code);
      if (code == Z_BUF_ERROR) {
        error_ = "'" + name_ + "' ends in the middle of its gzip stream (" +
                 (msg ? msg : "truncated") + "): the file is truncated";
        return -1;
      }
    }
    return r;
  }
  std::uint64_t consumed() const override {
    auto off = gzoffset(f_);
    return off < 0 ? 0 : static_cast<std::uint64_t>(off);
  }
  std::uint64_t total() const override { return total_; }

private:
  gzFile f_;
  std::uint64_t total_;
};

class memory_source_impl final : public byte_source {
public:
  memory_source_impl(std::string_view bytes, std::string name) : bytes_(bytes) {
    name_ = std::move(name);
  }
  std::ptrdiff_t read(char* dst, std::size_t n) override {
    n = std::min(n, bytes_.size() - pos_);
    std::memcpy(dst, bytes_.data() + pos_, n);
    pos_ += n;
    return static_cast<std::ptrdiff_t>(n);
  }
  std::uint64_t consumed() const override { return pos_; }
  std::uint64_t total() const override { return bytes_.size(); }

private:
  std::string_view bytes_;
  std::size_t pos_ = 0;
};

} // namespace

expected<std::unique_ptr<byte_source>> open_byte_source(const std::string& path) {
  if (path == "-")
    return std::unique_ptr<byte_source>{
      std::make_unique<fd_source>(0, "<stdin>", 0, false)};
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return error{"cannot open input '" + path + "': " + std::strerror(errno)};
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    ::close(fd);
    return error{"input '" + path + "' is a directory; give the files in it"};
  }
  std::uint64_t total = static_cast<std::uint64_t>(st.st_size);
  unsigned char magic[2] = {0, 0};
  auto n = ::pread(fd, magic, 2, 0);
  if (n == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
    gzFile f = gzdopen(fd, "rb");
    if (f == nullptr) {
      ::close(fd);
      return error{"cannot open gzip input '" + path + "'"};
    }
    return std::unique_ptr<byte_source>{
      std::make_unique<gzip_source>(f, path, total)};
  }
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  return std::unique_ptr<byte_source>{
    std::make_unique<fd_source>(fd, path, total, true)};
}

std::unique_ptr<byte_source> memory_source(std::string_view bytes,
                                           std::string name) {
  return std::make_unique<memory_source_impl>(bytes, std::move(name));
}

} // namespace eddy
