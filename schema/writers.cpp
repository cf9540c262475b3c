#include "schema/writers.hpp"

#include "schema/interactions.hpp"
#include "schema/wire.hpp"

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>

namespace eddy {

std::optional<output_format> parse_output_format(std::string_view name) {
  if (name == "msgpack")
    return output_format::msgpack;
  if (name == "csv")
    return output_format::csv;
  if (name == "jsonl" || name == "ndjson")
    return output_format::jsonl;
  return std::nullopt;
}

std::optional<output_format> output_format_of_path(std::string_view path) {
  if (path.ends_with(".msgpack") || path.ends_with(".mp"))
    return output_format::msgpack;
  if (path.ends_with(".csv"))
    return output_format::csv;
  if (path.ends_with(".jsonl") || path.ends_with(".ndjson"))
    return output_format::jsonl;
  return std::nullopt;
}

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  std::size_t run = 0; // start of bytes that need no escaping
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\')
      continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 15];
    }
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

namespace {

// Buffers output and writes it in large blocks; remembers the first write error.
class file_sink : public event_sink {
public:
  file_sink(std::FILE* f, std::string path, bool owned)
    : f_(f), path_(std::move(path)), owned_(owned) {
    buf_.reserve(block + 4096);
  }
  ~file_sink() override {
    if (owned_ && f_)
      std::fclose(f_);
  }
  bool finish(std::string* why) override {
    flush_events();
    write_out();
    bool ok = !failed_ && std::fflush(f_) == 0;
    if (owned_) {
      ok = std::fclose(f_) == 0 && ok;
      f_ = nullptr;
    }
    if (!ok && why)
      *why = "cannot write '" + path_ + "': " + std::strerror(errno ? errno : EIO);
    return ok;
  }

protected:
  static constexpr std::size_t block = 1u << 20;
  virtual void flush_events() {}
  void maybe_write() {
    if (buf_.size() >= block)
      write_out();
  }
  void write_out() {
    if (!buf_.empty() && !failed_ &&
        std::fwrite(buf_.data(), 1, buf_.size(), f_) != buf_.size())
      failed_ = true;
    buf_.clear();
  }
  std::string buf_;

private:
  std::FILE* f_;
  std::string path_;
  bool owned_;
  bool failed_ = false;
};

void append_number(std::string& out, std::int64_t v) {
  char tmp[24];
  auto r = std::to_chars(tmp, tmp + sizeof tmp, v);
  out.append(tmp, static_cast<std::size_t>(r.ptr - tmp));
}

void append_number(std::string& out, float v) {
  char tmp[32];
  auto r = std::to_chars(tmp, tmp + sizeof tmp, v); // shortest round-trip form
  out.append(tmp, static_cast<std::size_t>(r.ptr - tmp));
}

// Frames of up to batch_events events, each a wire batch (WIRE.md). Events are
// encoded as they arrive; the frame header is written once the count is known.
class msgpack_sink final : public file_sink {
public:
  msgpack_sink(std::FILE* f, std::string path, bool owned, const writer_options& o)
    : file_sink(f, std::move(path), owned), opt_(o) {}
  void on_event(const event_view& ev) override {
    wire::encode_event(ev, body_);
    if (++count_ >= opt_.batch_events)
      flush_events();
  }

private:
  void flush_events() override {
    if (count_ == 0)
      return;
    wire::encode_batch_header(opt_.producer, ++seq_, count_, buf_);
    buf_ += body_;
    body_.clear();
    count_ = 0;
    maybe_write();
  }
  writer_options opt_;
  std::string body_; // encoded events of the frame being built
  std::size_t count_ = 0;
  std::uint64_t seq_ = 0;
};

// CSV for people: user,item,type,ts,value (RFC 4180 quoting where needed).
class csv_sink final : public file_sink {
public:
  csv_sink(std::FILE* f, std::string path, bool owned,
           const interaction_registry& reg)
    : file_sink(f, std::move(path), owned), reg_(reg) {
    buf_ += "user,item,type,ts,value\n";
  }
  void on_event(const event_view& ev) override {
    field(ev.user);
    buf_ += ',';
    field(ev.item);
    buf_ += ',';
    buf_ += reg_.name(ev.type);
    buf_ += ',';
    append_number(buf_, ev.ts);
    buf_ += ',';
    append_number(buf_, ev.value);
    buf_ += '\n';
    maybe_write();
  }

private:
  void field(std::string_view s) {
    if (s.find_first_of(",\"\r\n") == std::string_view::npos) {
      buf_ += s;
      return;
    }
    buf_ += '"';
    for (char c : s) {
      if (c == '"')
        buf_ += '"';
      buf_ += c;
    }
    buf_ += '"';
  }
  const interaction_registry& reg_;
};

class jsonl_sink final : public file_sink {
public:
  jsonl_sink(std::FILE* f, std::string path, bool owned,
             const interaction_registry& reg)
    : file_sink(f, std::move(path), owned), reg_(reg) {}
  void on_event(const event_view& ev) override {
    buf_ += "{\"user\":";
    append_json_string(buf_, ev.user);
    buf_ += ",\"item\":";
    append_json_string(buf_, ev.item);
    buf_ += ",\"type\":\"";
    buf_ += reg_.name(ev.type);
    buf_ += "\",\"ts\":";
    append_number(buf_, ev.ts);
    buf_ += ",\"value\":";
    append_number(buf_, ev.value);
    buf_ += "}\n";
    maybe_write();
  }

private:
  const interaction_registry& reg_;
};

} // namespace

expected<std::unique_ptr<event_sink>>
open_writer(const std::string& path, const writer_options& opt,
            const interaction_registry& registry) {
  std::FILE* f = path == "-" ? stdout : std::fopen(path.c_str(), "wb");
  if (f == nullptr)
    return error{"cannot create output '" + path + "': " + std::strerror(errno)};
  bool owned = path != "-";
  std::unique_ptr<event_sink> sink;
  switch (opt.format) {
    case output_format::msgpack:
      sink = std::make_unique<msgpack_sink>(f, path, owned, opt);
      break;
    case output_format::csv:
      sink = std::make_unique<csv_sink>(f, path, owned, registry);
      break;
    case output_format::jsonl:
      sink = std::make_unique<jsonl_sink>(f, path, owned, registry);
      break;
  }
  return sink;
}

} // namespace eddy
