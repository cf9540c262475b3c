#pragma once
// Streaming byte sources: a file (plain or gzip, detected by its magic bytes),
// standard input, or memory. Readers pull fixed-size chunks, so memory stays constant
// whatever the file size.

#include "schema/error.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace eddy {

class byte_source {
public:
  virtual ~byte_source() = default;
  /// Reads up to `n` bytes into `dst`; returns the count (0 = end of input) or -1 on
  /// an I/O error (then `error_message()` says what happened).
  virtual std::ptrdiff_t read(char* dst, std::size_t n) = 0;
  /// Bytes taken from the underlying file so far (compressed bytes for gzip),
  /// for progress reports.
  virtual std::uint64_t consumed() const = 0;
  /// Total size of the underlying file if known (0 = unknown).
  virtual std::uint64_t total() const { return 0; }
  virtual const std::string& error_message() const { return error_; }
  const std::string& name() const { return name_; }

protected:
  std::string name_;
  std::string error_;
};

/// Opens `path` ("-" = standard input). gzip input is decompressed on the fly.
expected<std::unique_ptr<byte_source>> open_byte_source(const std::string& path);

/// A source over bytes the caller keeps alive (tests, fuzzers, benchmarks).
std::unique_ptr<byte_source> memory_source(std::string_view bytes,
                                           std::string name = "<memory>");

} // namespace eddy
