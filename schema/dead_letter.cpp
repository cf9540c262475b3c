#include "schema/dead_letter.hpp"

#include "schema/writers.hpp"

#include <cerrno>
#include <cstring>
#include <simdjson.h>

namespace eddy {

std::string_view reason_name(reject_reason r) {
  switch (r) {
    case reject_reason::line_too_long: return "line_too_long";
    case reject_reason::malformed_csv: return "malformed_csv";
    case reject_reason::malformed_json: return "malformed_json";
    case reject_reason::too_deep: return "too_deep";
    case reject_reason::invalid_utf8: return "invalid_utf8";
    case reject_reason::missing_field: return "missing_field";
    case reject_reason::wrong_field_type: return "wrong_field_type";
    case reject_reason::empty_id: return "empty_id";
    case reject_reason::id_too_long: return "id_too_long";
    case reject_reason::bad_timestamp: return "bad_timestamp";
    case reject_reason::unknown_type: return "unknown_type";
    case reject_reason::bad_value: return "bad_value";
  }
  return "unknown_reason";
}

void normalize_stats::merge(const normalize_stats& o) {
  records += o.records;
  events += o.events;
  filtered += o.filtered;
  skipped_lines += o.skipped_lines;
  bytes += o.bytes;
  for (std::size_t i = 0; i < rejects.size(); ++i)
    rejects[i] += o.rejects[i];
}

namespace {

void append_base64(std::string& out, std::string_view in) {
  static constexpr char tbl[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::size_t i = 0;
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(in[k]); };
  for (; i + 3 <= in.size(); i += 3) {
    unsigned v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out += tbl[(v >> 18) & 63];
    out += tbl[(v >> 12) & 63];
    out += tbl[(v >> 6) & 63];
    out += tbl[v & 63];
  }
  if (auto rest = in.size() - i; rest > 0) {
    unsigned v = byte(i) << 16;
    if (rest == 2)
      v |= byte(i + 1) << 8;
    out += tbl[(v >> 18) & 63];
    out += tbl[(v >> 12) & 63];
    out += rest == 2 ? tbl[(v >> 6) & 63] : '=';
    out += '=';
  }
}

} // namespace

void format_reject(const reject_record& r, std::size_t raw_limit, std::string& out) {
  out += "{\"source\":";
  append_json_string(out, r.source);
  if (r.line > 0) {
    out += ",\"line\":";
    out += std::to_string(r.line);
  }
  out += ",\"offset\":";
  out += std::to_string(r.offset);
  out += ",\"reason\":\"";
  out += reason_name(r.reason);
  out += "\",\"detail\":";
  append_json_string(out, r.detail);
  auto raw = r.raw;
  bool cut = raw.size() > raw_limit;
  if (cut) {
    raw = raw.substr(0, raw_limit);
    // Do not cut inside a UTF-8 sequence of otherwise valid text.
    while (!raw.empty() && (static_cast<unsigned char>(raw.back()) & 0xC0) == 0x80)
      raw.remove_suffix(1);
    if (!raw.empty() && static_cast<unsigned char>(raw.back()) >= 0xC0)
      raw.remove_suffix(1);
  }
  if (simdjson::validate_utf8(raw.data(), raw.size())) {
    out += ",\"raw\":";
    append_json_string(out, raw);
  } else {
    out += ",\"raw_base64\":\"";
    append_base64(out, raw);
    out += '"';
  }
  if (cut)
    out += ",\"raw_truncated\":true";
  out += '}';
}

expected<std::unique_ptr<dead_letter_writer>>
dead_letter_writer::open(const std::string& path, std::size_t raw_limit) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr)
    return error{"cannot create dead-letter file '" + path +
                 "': " + std::strerror(errno)};
  return std::unique_ptr<dead_letter_writer>{
    new dead_letter_writer(f, path, raw_limit)};
}

dead_letter_writer::dead_letter_writer(std::FILE* f, std::string path,
                                       std::size_t raw_limit)
  : f_(f), path_(std::move(path)), raw_limit_(raw_limit) {}

dead_letter_writer::~dead_letter_writer() {
  if (f_)
    std::fclose(f_);
}

void dead_letter_writer::on_reject(const reject_record& r) {
  line_.clear();
  format_reject(r, raw_limit_, line_);
  line_ += '\n';
  std::fwrite(line_.data(), 1, line_.size(), f_);
  ++written_;
}

void dead_letter_writer::flush() { std::fflush(f_); }

bool dead_letter_writer::close(std::string* why) {
  bool ok = std::ferror(f_) == 0;
  ok = (std::fclose(f_) == 0) && ok;
  f_ = nullptr;
  if (!ok && why)
    *why = "cannot write dead-letter file '" + path_ + "' (disk full?)";
  return ok;
}

} // namespace eddy
