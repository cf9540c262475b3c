#pragma once
// Streaming readers that cut a byte source into records: CSV (RFC 4180) and lines
// (JSON Lines). Memory is one buffer of a few MiB, whatever the file size.

#include "schema/byte_source.hpp"
#include "schema/dead_letter.hpp"
#include "schema/mapping.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace eddy {

/// A refillable window over a byte source. Views into it stay valid until the next
/// `fill`. The allocation has `padding` readable bytes past the data (simdjson).
class chunk_buffer {
public:
  static constexpr std::size_t padding = 64;

  chunk_buffer(byte_source& src, std::size_t capacity);

  const char* begin() const { return buf_.get() + begin_; }
  const char* end() const { return buf_.get() + end_; }
  std::size_t size() const { return end_ - begin_; }
  bool eof() const { return eof_; }
  /// Byte offset in the input of `begin()`.
  std::uint64_t offset() const { return base_ + begin_; }
  void consume(std::size_t n) { begin_ += n; }
  /// Reads more input so that more than `size()` bytes are available (or eof). False
  /// on an I/O error.
  bool fill();
  std::size_t capacity() const { return cap_; }
  byte_source& source() const { return src_; }

private:
  byte_source& src_;
  std::unique_ptr<char[]> buf_; // capacity + padding, not zero-filled

  std::size_t cap_;
  std::size_t begin_ = 0, end_ = 0;
  std::uint64_t base_ = 0;
  bool eof_ = false;
  bool started_ = false;
};

enum class read_status : std::uint8_t { record, reject, end, failed };

struct csv_record {
  std::vector<std::string_view> fields;
  std::string_view raw;     ///< the record's bytes, without its line end
  std::uint64_t line = 0;   ///< 1-based line where it starts
  std::uint64_t offset = 0; ///< byte offset where it starts
};

/// A record the reader itself had to refuse (the caller writes it as a dead letter).
struct read_reject {
  reject_reason reason = reject_reason::malformed_csv;
  const char* detail = "";
  std::string_view raw;
  std::uint64_t line = 0;
  std::uint64_t offset = 0;
};

class csv_reader {
public:
  csv_reader(byte_source& src, const csv_options& opt, std::size_t max_record_bytes);

  /// The next record, a record refused by the reader, the end, or an I/O failure
  /// (then `error_message()`). Blank lines and comment lines are skipped and counted.
  read_status next(csv_record& rec, read_reject& rej);
  const std::string& error_message() const { return error_; }
  std::uint64_t skipped_lines() const { return skipped_; }

private:
  read_status too_long(read_reject& rej);
  // Parses a record with quotes starting at the buffer's begin; 0 = need more bytes.
  std::size_t parse_quoted(csv_record& rec, read_reject& rej, bool& bad);

  chunk_buffer buf_;
  csv_options opt_;
  std::size_t max_;
  std::uint64_t line_ = 1;
  std::uint64_t skipped_ = 0;
  bool skip_line_ = false; // rest of an over-long record still to discard
  std::string scratch_; // unescaped quoted fields
  std::string error_;
};

/// Cuts input into lines (for JSON Lines). Blank lines are skipped and counted.
class line_reader {
public:
  line_reader(byte_source& src, std::size_t max_line_bytes);
  /// On `record`, `line` holds the line without its end; `buffer_end` points past
  /// the last buffered byte (there are chunk_buffer::padding readable bytes after).
  read_status next(std::string_view& line, std::uint64_t& line_no,
                   std::uint64_t& offset, read_reject& rej);
  const std::string& error_message() const { return error_; }
  std::uint64_t skipped_lines() const { return skipped_; }
  /// Bytes readable after the current line (>= padding).
  std::size_t readable_after(std::string_view line) const;

private:
  chunk_buffer buf_;
  std::size_t max_;
  std::uint64_t line_ = 1;
  std::uint64_t skipped_ = 0;
  bool skip_line_ = false;
  std::string error_;
};

} // namespace eddy
