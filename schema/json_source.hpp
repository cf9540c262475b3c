#pragma once
// Cuts a JSON array file ([ {...}, {...} ]) into its elements without loading the
// file: a resumable byte scanner tracks strings, escapes and nesting, so memory stays
// constant. Each element is then parsed on its own (normalizer.cpp, simdjson).

#include "schema/csv.hpp"

namespace eddy {

class json_array_reader {
public:
  json_array_reader(byte_source& src, std::size_t max_element_bytes);

  /// On `record`, `element` is one array element's text (with chunk_buffer::padding
  /// readable bytes after it). `failed` means the file is not a JSON array at all
  /// (`error_message()` says where).
  read_status next(std::string_view& element, std::uint64_t& offset,
                   read_reject& rej);
  const std::string& error_message() const { return error_; }

private:
  // Scanner state, kept across refills of the buffer.
  struct scan_state {
    std::size_t pos = 0; // bytes of the element scanned so far
    int depth = 0;
    bool in_string = false;
    bool escape = false;
    bool started = false; // saw the first byte of the element
    bool scalar = false;  // element is a bare string/number/literal
  };
  // Advances the scanner over buf_[begin+pos, end); true when the element ended
  // (`st.pos` is then its length).
  bool scan(scan_state& st) const;
  bool skip_ws(); // false on I/O error; stops at eof or a non-space byte
  read_status fail(const std::string& why);

  chunk_buffer buf_;
  std::size_t max_;
  enum class phase { open, first, after, done } phase_ = phase::open;
  std::string error_;
  scan_state skip_;        // an over-long element being skipped
  bool skipping_ = false;
};

} // namespace eddy
