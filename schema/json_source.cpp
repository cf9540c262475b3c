#include "schema/json_source.hpp"

#include <algorithm>

namespace eddy {

namespace {

std::size_t buffer_capacity(std::size_t max_element) {
  return std::max<std::size_t>(std::size_t{64} << 10, 2 * max_element + 4096);
}

bool is_ws(char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

} // namespace

json_array_reader::json_array_reader(byte_source& src, std::size_t max_element_bytes)
  : buf_(src, buffer_capacity(max_element_bytes)), max_(max_element_bytes) {}

read_status json_array_reader::fail(const std::string& why) {
  error_ = "'" + buf_.source().name() + "' at byte " +
           std::to_string(buf_.offset()) + ": " + why;
  phase_ = phase::done;
  return read_status::failed;
}

bool json_array_reader::skip_ws() {
  for (;;) {
    while (buf_.size() > 0 && is_ws(*buf_.begin()))
      buf_.consume(1);
    if (buf_.size() > 0 || buf_.eof())
      return true;
    if (!buf_.fill())
      return false;
  }
}

bool json_array_reader::scan(scan_state& st) const {
  const char* b = buf_.begin();
  const char* e = buf_.end();
  for (const char* p = b + st.pos; p < e; ++p) {
    char c = *p;
    if (st.in_string) {
      if (st.escape)
        st.escape = false;
      else if (c == '\\')
        st.escape = true;
      else if (c == '"') {
        st.in_string = false;
        if (st.scalar && st.depth == 0) {
          st.pos = static_cast<std::size_t>(p + 1 - b);
          return true;
        }
      }
      continue;
    }
    if (!st.started) {
      st.started = true;
      st.scalar = c != '{' && c != '[';
    }
    switch (c) {
      case '"':
        st.in_string = true;
        break;
      case '{':
      case '[':
        ++st.depth;
        break;
      case '}':
      case ']':
        if (st.depth == 0) { // the array's own ']' ends a scalar
          st.pos = static_cast<std::size_t>(p - b);
          return true;
        }
        if (--st.depth == 0) {
          st.pos = static_cast<std::size_t>(p + 1 - b);
          return true;
        }
        break;
      case ',':
        if (st.depth == 0) {
          st.pos = static_cast<std::size_t>(p - b);
          return true;
        }
        break;
      default:
        if (st.scalar && st.depth == 0 && is_ws(c)) {
          st.pos = static_cast<std::size_t>(p - b);
          return true;
        }
    }
  }
  st.pos = static_cast<std::size_t>(e - b);
  return false;
}

read_status json_array_reader::next(std::string_view& element, std::uint64_t& offset,
                                    read_reject& rej) {
  auto io_failed = [&] {
    error_ = buf_.source().error_message();
    return read_status::failed;
  };
  if (phase_ == phase::done)
    return read_status::end;
  while (skipping_) {
    if (scan(skip_)) {
      buf_.consume(skip_.pos);
      skipping_ = false;
    } else if (buf_.eof()) {
      buf_.consume(buf_.size());
      skipping_ = false;
      phase_ = phase::done; // the over-long element was the truncated last one
      return read_status::end;
    } else {
      buf_.consume(skip_.pos);
      skip_.pos = 0;
      if (!buf_.fill())
        return io_failed();
    }
  }
  if (!skip_ws())
    return io_failed();
  if (phase_ == phase::open) {
    if (buf_.size() == 0)
      return fail("empty input: expected a JSON array");
    if (*buf_.begin() != '[')
      return fail("expected a JSON array starting with '[' (for one object per "
                  "line use format = \"jsonl\")");
    buf_.consume(1);
    phase_ = phase::first;
    if (!skip_ws())
      return io_failed();
  }
  if (buf_.size() == 0) {
    phase_ = phase::done;
    rej = read_reject{reject_reason::malformed_json,
                      "the JSON array is not closed: the file is truncated", {},
                      0, buf_.offset()};
    return read_status::reject;
  }
  char c = *buf_.begin();
  if (c == ']') {
    buf_.consume(1);
    phase_ = phase::done;
    if (!skip_ws())
      return io_failed();
    if (buf_.size() != 0)
      return fail("unexpected text after the closing ']' of the array");
    return read_status::end;
  }
  if (phase_ == phase::after) {
    if (c != ',')
      return fail("expected ',' or ']' between array elements");
    buf_.consume(1);
    if (!skip_ws())
      return io_failed();
    if (buf_.size() == 0) {
      phase_ = phase::done;
      rej = read_reject{reject_reason::malformed_json,
                        "the JSON array is not closed: the file is truncated",
                        {}, 0, buf_.offset()};
      return read_status::reject;
    }
  }
  phase_ = phase::after;
  offset = buf_.offset();
  scan_state st;
  for (;;) {
    if (scan(st)) {
      element = std::string_view{buf_.begin(), st.pos};
      buf_.consume(st.pos);
      return read_status::record;
    }
    if (buf_.eof()) {
      rej = read_reject{reject_reason::malformed_json,
                        "element cut off by the end of input: the file is "
                        "truncated",
                        std::string_view{buf_.begin(), buf_.size()}, 0, offset};
      buf_.consume(buf_.size());
      phase_ = phase::done;
      return read_status::reject;
    }
    if (st.pos > max_) {
      // Report, then skip the rest of the element, scanning as we discard.
      rej = read_reject{reject_reason::line_too_long,
                        "array element longer than limits.max_line_bytes",
                        std::string_view{buf_.begin(), std::min<std::size_t>(
                                                         buf_.size(), 4096)},
                        0, offset};
      // The reject's raw view must survive until the caller has written it, so the
      // skipping happens lazily: remember the scanner and finish on the next call.
      skip_ = st;
      skipping_ = true;
      return read_status::reject;
    }
    if (!buf_.fill())
      return io_failed();
  }
}

} // namespace eddy
