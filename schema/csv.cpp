#include "schema/csv.hpp"

#include <algorithm>
#include <cstring>

namespace eddy {

// --- chunk_buffer -----------------------------------------------------------

chunk_buffer::chunk_buffer(byte_source& src, std::size_t capacity)
  : src_(src), buf_(new char[capacity + padding]), cap_(capacity) {
  std::memset(buf_.get() + cap_, 0, padding);
}

bool chunk_buffer::fill() {
  if (eof_)
    return true;
  if (begin_ > 0) {
    std::memmove(buf_.get(), buf_.get() + begin_, end_ - begin_);
    base_ += begin_;
    end_ -= begin_;
    begin_ = 0;
  }
  if (end_ == cap_)
    return true; // full: the caller's record limit is smaller than the capacity
  auto n = src_.read(buf_.get() + end_, cap_ - end_);
  if (n < 0)
    return false;
  if (n == 0)
    eof_ = true;
  end_ += static_cast<std::size_t>(n);
  if (!started_ && end_ >= 3) {
    started_ = true;
    // A UTF-8 byte order mark is not data.
    if (std::memcmp(buf_.get(), "\xEF\xBB\xBF", 3) == 0)
      begin_ = 3;
  } else if (eof_) {
    started_ = true;
  }
  return true;
}

namespace {

// Room for two maximal records (2 MiB with the default limit), at least 64 KiB.
std::size_t buffer_capacity(std::size_t max_record) {
  return std::max<std::size_t>(std::size_t{64} << 10, 2 * max_record + 4096);
}

std::uint64_t count_newlines(const char* b, const char* e) {
  return static_cast<std::uint64_t>(std::count(b, e, '\n'));
}

// Skips the rest of an over-long record: everything up to and including the next
// newline. Returns false on an I/O error.
bool skip_line(chunk_buffer& buf, std::uint64_t& line) {
  for (;;) {
    auto* nl = static_cast<const char*>(std::memchr(buf.begin(), '\n', buf.size()));
    if (nl != nullptr) {
      buf.consume(static_cast<std::size_t>(nl - buf.begin()) + 1);
      ++line;
      return true;
    }
    buf.consume(buf.size());
    if (buf.eof())
      return true;
    if (!buf.fill())
      return false;
  }
}

// Starts a record: finishes skipping an over-long one and makes sure at least one
// byte is buffered. `record` means go on; `end` and `failed` are final.
read_status start_record(chunk_buffer& buf, bool& skip, std::uint64_t& line,
                         std::string& error) {
  if (skip) {
    skip = false;
    if (!skip_line(buf, line)) {
      error = buf.source().error_message();
      return read_status::failed;
    }
  }
  while (buf.size() == 0) {
    if (buf.eof())
      return read_status::end;
    if (!buf.fill()) {
      error = buf.source().error_message();
      return read_status::failed;
    }
  }
  return read_status::record;
}

constexpr const char* too_long_detail =
  "record longer than limits.max_line_bytes (raise the limit in the mapping if "
  "such records are real)";

} // namespace

// --- csv_reader -------------------------------------------------------------

csv_reader::csv_reader(byte_source& src, const csv_options& opt,
                       std::size_t max_record_bytes)
  : buf_(src, buffer_capacity(max_record_bytes)), opt_(opt), max_(max_record_bytes) {}

read_status csv_reader::too_long(read_reject& rej) {
  rej.reason = reject_reason::line_too_long;
  rej.detail = too_long_detail;
  rej.raw = std::string_view{buf_.begin(), std::min<std::size_t>(buf_.size(), max_)};
  rej.line = line_;
  rej.offset = buf_.offset();
  skip_line_ = true; // after the caller has used rej.raw
  return read_status::reject;
}

read_status csv_reader::next(csv_record& rec, read_reject& rej) {
  for (;;) {
    if (auto st = start_record(buf_, skip_line_, line_, error_);
        st != read_status::record)
      return st;
    const char* b = buf_.begin();
    const char* e = buf_.end();
    auto* nl = static_cast<const char*>(std::memchr(b, '\n', buf_.size()));
    if (nl == nullptr && !buf_.eof()) {
      if (buf_.size() > max_)
        return too_long(rej);
      if (!buf_.fill()) {
        error_ = buf_.source().error_message();
        return read_status::failed;
      }
      continue;
    }
    const char* le = nl ? nl : e;
    std::size_t len = static_cast<std::size_t>(le - b);
    std::size_t step = len + (nl ? 1 : 0);
    std::string_view content{b, len};
    if (!content.empty() && content.back() == '\r')
      content.remove_suffix(1);
    // Blank and comment lines are not records.
    if (content.empty() ||
        (!opt_.comment.empty() && content.starts_with(opt_.comment))) {
      ++skipped_;
      ++line_;
      buf_.consume(step);
      continue;
    }
    if (len > max_) {
      rej.reason = reject_reason::line_too_long;
      rej.detail = too_long_detail;
      rej.raw = content;
      rej.line = line_++;
      rej.offset = buf_.offset();
      buf_.consume(step);
      return read_status::reject;
    }
    rec.line = line_;
    rec.offset = buf_.offset();
    rec.fields.clear();
    if (std::memchr(b, opt_.quote, len) == nullptr) {
      // Fast path: no quotes, the record is this line.
      const char* p = content.data();
      const char* ce = p + content.size();
      for (;;) {
        auto* d = static_cast<const char*>(
          std::memchr(p, opt_.delimiter, static_cast<std::size_t>(ce - p)));
        if (d == nullptr) {
          rec.fields.emplace_back(p, static_cast<std::size_t>(ce - p));
          break;
        }
        rec.fields.emplace_back(p, static_cast<std::size_t>(d - p));
        p = d + 1;
      }
      rec.raw = content;
      ++line_;
      buf_.consume(step);
      return read_status::record;
    }
    bool bad = false;
    std::size_t used = parse_quoted(rec, rej, bad);
    if (used == 0) {
      if (buf_.size() > max_)
        return too_long(rej);
      if (!buf_.fill()) {
        error_ = buf_.source().error_message();
        return read_status::failed;
      }
      continue;
    }
    line_ += count_newlines(b, b + used);
    if (bad && line_ == rec.line)
      ++line_; // a bad record at the end of input still ends its line
    std::string_view raw{b, used};
    if (!raw.empty() && raw.back() == '\n')
      raw.remove_suffix(1);
    if (!raw.empty() && raw.back() == '\r')
      raw.remove_suffix(1);
    buf_.consume(used);
    if (bad) {
      rej.raw = raw;
      rej.line = rec.line;
      rej.offset = rec.offset;
      return read_status::reject;
    }
    rec.raw = raw;
    return read_status::record;
  }
}

std::size_t csv_reader::parse_quoted(csv_record& rec, read_reject& rej, bool& bad) {
  const char* b = buf_.begin();
  const char* e = buf_.end();
  const bool eof = buf_.eof();
  const char q = opt_.quote;
  const char d = opt_.delimiter;
  // Unescaped fields point into scratch_: it must never reallocate mid-record.
  scratch_.clear();
  scratch_.reserve(static_cast<std::size_t>(e - b));
  rec.fields.clear();
  const char* p = b;
  // Skips to the end of the line after a malformed field; 0 if more bytes are needed.
  auto fail = [&](const char* from, const char* why) -> std::size_t {
    auto* nl = static_cast<const char*>(
      std::memchr(from, '\n', static_cast<std::size_t>(e - from)));
    if (nl == nullptr && !eof)
      return 0;
    bad = true;
    rej.reason = reject_reason::malformed_csv;
    rej.detail = why;
    return static_cast<std::size_t>((nl ? nl + 1 : e) - b);
  };
  for (;;) {
    if (p < e && *p == q) {
      const char* start = ++p;
      bool escaped = false;
      const char* close = nullptr;
      while (close == nullptr) {
        auto* r = static_cast<const char*>(
          std::memchr(p, q, static_cast<std::size_t>(e - p)));
        if (r == nullptr) {
          if (!eof)
            return 0;
          bad = true;
          rej.reason = reject_reason::malformed_csv;
          rej.detail = "unterminated quoted field (a quote opened and never "
                       "closed before the end of input)";
          return static_cast<std::size_t>(e - b);
        }
        if (r + 1 < e && r[1] == q) { // "" is an escaped quote
          escaped = true;
          p = r + 2;
        } else if (r + 1 == e && !eof) {
          return 0; // cannot tell "" from " yet
        } else {
          close = r;
        }
      }
      if (escaped) {
        auto at = scratch_.size();
        for (const char* c = start; c < close; ++c) {
          scratch_ += *c;
          if (*c == q)
            ++c; // skip the second quote of ""
        }
        rec.fields.emplace_back(scratch_.data() + at, scratch_.size() - at);
      } else {
        rec.fields.emplace_back(start, static_cast<std::size_t>(close - start));
      }
      p = close + 1;
      if (p == e) {
        if (!eof)
          return 0;
        return static_cast<std::size_t>(p - b);
      }
      if (*p == d) {
        ++p;
        continue;
      }
      if (*p == '\n')
        return static_cast<std::size_t>(p + 1 - b);
      if (*p == '\r') {
        if (p + 1 == e)
          return eof ? static_cast<std::size_t>(e - b) : 0;
        if (p[1] == '\n')
          return static_cast<std::size_t>(p + 2 - b);
      }
      return fail(p, "text after a closing quote (a field with quotes must be "
                     "quoted as a whole, inner quotes doubled: \"a \"\"b\"\"\")");
    }
    // Unquoted field: up to the delimiter or the line end. A quote inside it is
    // taken literally.
    const char* start = p;
    while (p < e && *p != d && *p != '\n')
      ++p;
    if (p == e && !eof)
      return 0;
    const char* fe = p;
    if (p == e || *p == '\n') {
      if (fe > start && fe[-1] == '\r')
        --fe;
      rec.fields.emplace_back(start, static_cast<std::size_t>(fe - start));
      return static_cast<std::size_t>((p == e ? e : p + 1) - b);
    }
    rec.fields.emplace_back(start, static_cast<std::size_t>(fe - start));
    ++p; // delimiter
  }
}

// --- line_reader ------------------------------------------------------------

line_reader::line_reader(byte_source& src, std::size_t max_line_bytes)
  : buf_(src, buffer_capacity(max_line_bytes)), max_(max_line_bytes) {}

std::size_t line_reader::readable_after(std::string_view line) const {
  return static_cast<std::size_t>(buf_.end() - (line.data() + line.size())) +
         chunk_buffer::padding;
}

read_status line_reader::next(std::string_view& line, std::uint64_t& line_no,
                              std::uint64_t& offset, read_reject& rej) {
  for (;;) {
    if (auto st = start_record(buf_, skip_line_, line_, error_);
        st != read_status::record)
      return st;
    const char* b = buf_.begin();
    auto* nl = static_cast<const char*>(std::memchr(b, '\n', buf_.size()));
    if (nl == nullptr && !buf_.eof()) {
      if (buf_.size() > max_) {
        rej.reason = reject_reason::line_too_long;
        rej.detail = too_long_detail;
        rej.raw = std::string_view{b, max_};
        rej.line = line_;
        rej.offset = buf_.offset();
        skip_line_ = true;
        return read_status::reject;
      }
      if (!buf_.fill()) {
        error_ = buf_.source().error_message();
        return read_status::failed;
      }
      continue;
    }
    std::size_t len = static_cast<std::size_t>((nl ? nl : buf_.end()) - b);
    std::string_view content{b, len};
    if (!content.empty() && content.back() == '\r')
      content.remove_suffix(1);
    line_no = line_++;
    offset = buf_.offset();
    buf_.consume(len + (nl ? 1 : 0));
    if (content.find_first_not_of(" \t") == std::string_view::npos) {
      ++skipped_;
      continue;
    }
    if (len > max_) {
      rej.reason = reject_reason::line_too_long;
      rej.detail = too_long_detail;
      rej.raw = content;
      rej.line = line_no;
      rej.offset = offset;
      return read_status::reject;
    }
    line = content;
    return read_status::record;
  }
}

} // namespace eddy
