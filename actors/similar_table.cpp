#include "actors/similar_table.hpp"

#include "actors/als_artifact.hpp"
#include "actors/als_protocol.hpp"
#include "actors/msgpack_bin.hpp"
#include "schema/writers.hpp"

#include <msgpack.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <unistd.h>

namespace eddy::actors {

namespace fs = std::filesystem;

namespace {

constexpr const char* current_link = "similar.current";
constexpr std::uint32_t table_fields = 14;
constexpr std::uint32_t list_fields = 10;

using packer = msgpack::packer<msgpack::sbuffer>;

std::string header_json(const similar_table& t) {
  std::string j = "{\"format\":1,\"kind\":\"similar\",\"model\":";
  append_json_string(j, t.model);
  j += ",\"version\":" + std::to_string(t.version) + ",\"trained_by\":";
  append_json_string(j, t.trained_by);
  char b[64];
  std::snprintf(b, sizeof b, "%.4f", t.recall_at_10);
  j += ",\"created_ms\":" + std::to_string(t.created_ms) +
       ",\"data_max_ts\":" + std::to_string(t.data_max_ts) +
       ",\"recall_at_10\":" + b +
       ",\"recall_sample\":" + std::to_string(t.recall_sample) +
       ",\"n\":" + std::to_string(t.n) +
       ",\"items\":" + std::to_string(t.items.size()) + "}\n";
  return j;
}

std::string json_number(double v) {
  char b[64];
  std::snprintf(b, sizeof b, "%.6g", v);
  return b;
}

// One %XX-decoded value (the escapes of every client query).
expected<std::string> decode_value(std::string_view raw) {
  auto d = als::parse_args("x=" + std::string{raw});
  if (!d) return d.err();
  return d->at("x");
}

// A comma-separated list: split on the raw commas, then each entry decoded
// once (a comma inside an id travels as %2C).
expected<std::vector<std::string>> split_list(const std::string& key,
                                              std::string_view raw) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= raw.size()) {
    auto comma = raw.find(',', pos);
    auto part = raw.substr(pos, comma == std::string_view::npos ? std::string_view::npos
                                                                : comma - pos);
    pos = comma == std::string_view::npos ? raw.size() + 1 : comma + 1;
    auto item = decode_value(part);
    if (!item) return error{key + ": " + item.err().message};
    if (item->empty())
      return error{key + " has an empty entry ('" + std::string{raw} +
                   "'): separate ids with single commas"};
    out.push_back(std::move(*item));
  }
  return out;
}

struct item_list {
  std::string item;
  std::string error; ///< non-empty: the owner could not answer
  std::string model;
  std::uint64_t version = 0;
  double recall = -1;
  std::int64_t data_max_ts = 0;
  std::vector<std::string> names;
  std::vector<float> scores;
  std::vector<std::int64_t> last_ts;
};

item_list decode_item_list(const std::string& bytes) {
  item_list l;
  try {
    auto oh = msgpack::unpack(bytes.data(), bytes.size());
    const auto& o = oh.get();
    if (o.type != msgpack::type::ARRAY || o.via.array.size != list_fields)
      throw std::runtime_error{"not an item list"};
    const auto* f = o.via.array.ptr;
    l.item = f[0].as<std::string>();
    l.error = f[1].as<std::string>();
    l.model = f[2].as<std::string>();
    l.version = f[3].as<std::uint64_t>();
    l.recall = f[4].as<double>();
    l.data_max_ts = f[5].as<std::int64_t>();
    l.names = f[6].as<std::vector<std::string>>();
    l.scores = bin::read<float>(f[7]);
    l.last_ts = bin::read<std::int64_t>(f[8]);
    if (l.scores.size() != l.names.size() || l.last_ts.size() != l.names.size())
      throw std::runtime_error{"arrays of different lengths"};
    for (auto v : l.scores)
      if (!std::isfinite(v)) throw std::runtime_error{"a score is not a finite number"};
  } catch (const std::exception& e) {
    l = {};
    l.error = std::string{"malformed similar-items answer: "} + e.what();
  }
  return l;
}

} // namespace

std::optional<std::size_t> similar_table::row_of(std::string_view item) const {
  auto it = std::lower_bound(items.begin(), items.end(), item);
  if (it == items.end() || *it != item) return std::nullopt;
  return static_cast<std::size_t>(it - items.begin());
}

std::string encode_similar_table(const similar_table& t) {
  msgpack::sbuffer buf;
  packer pk(&buf);
  pk.pack_array(table_fields);
  pk.pack_uint32(1);
  pk.pack(t.model);
  pk.pack_uint64(t.version);
  pk.pack(t.trained_by);
  pk.pack_int64(t.created_ms);
  pk.pack_int64(t.data_max_ts);
  pk.pack_double(t.recall_at_10);
  pk.pack_uint32(t.recall_sample);
  pk.pack_int32(t.n);
  pk.pack(t.items);
  pk.pack(t.names);
  bin::pack(pk, t.last_ts);
  bin::pack(pk, t.ids);
  bin::pack(pk, t.scores);
  return {buf.data(), buf.size()};
}

expected<similar_table> decode_similar_table(std::string_view bytes) {
  try {
    auto oh = msgpack::unpack(bytes.data(), bytes.size());
    const auto& o = oh.get();
    if (o.type != msgpack::type::ARRAY || o.via.array.size != table_fields ||
        o.via.array.ptr[0].as<std::uint32_t>() != 1)
      return error{"not a similar-items table of format 1"};
    const auto* f = o.via.array.ptr;
    similar_table t;
    t.model = f[1].as<std::string>();
    t.version = f[2].as<std::uint64_t>();
    t.trained_by = f[3].as<std::string>();
    t.created_ms = f[4].as<std::int64_t>();
    t.data_max_ts = f[5].as<std::int64_t>();
    t.recall_at_10 = f[6].as<double>();
    t.recall_sample = f[7].as<std::uint32_t>();
    t.n = f[8].as<std::int32_t>();
    t.items = f[9].as<std::vector<std::string>>();
    t.names = f[10].as<std::vector<std::string>>();
    t.last_ts = bin::read<std::int64_t>(f[11]);
    t.ids = bin::read<std::int32_t>(f[12]);
    t.scores = bin::read<float>(f[13]);
    const auto cells = t.items.size() * static_cast<std::size_t>(std::max(t.n, 0));
    if (t.n < 1 || t.ids.size() != cells || t.scores.size() != cells ||
        t.last_ts.size() != t.names.size() ||
        !std::is_sorted(t.items.begin(), t.items.end()) ||
        std::adjacent_find(t.items.begin(), t.items.end()) != t.items.end())
      return error{"inconsistent similar-items table"};
    for (std::size_t i = 0; i < t.ids.size(); ++i) {
      if (t.ids[i] < -1 || t.ids[i] >= static_cast<std::int64_t>(t.names.size()))
        return error{"similar-items table: neighbour id out of range"};
      if (t.ids[i] >= 0 && !std::isfinite(t.scores[i]))
        return error{"similar-items table: a score is not a finite number"};
    }
    return t;
  } catch (const std::exception& e) {
    return error{std::string{"malformed similar-items table: "} + e.what()};
  }
}

expected<std::string> store_similar_table(const std::string& models_dir,
                                          const similar_table& t) {
  const fs::path dir{models_dir};
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return error{"cannot create " + dir.string() + ": " + ec.message()};
  const auto name = table_id(t);
  const auto final_dir = dir / name;
  const auto tmp = dir / (".tmp-" + name);
  fs::remove_all(tmp, ec);
  fs::create_directory(tmp, ec);
  if (ec) return error{"cannot create " + tmp.string() + ": " + ec.message()};
  if (auto st = write_synced(tmp / "table.msgpack", encode_similar_table(t)); !st)
    return error{st.message()};
  if (auto st = write_synced(tmp / "SIMILAR.json", header_json(t)); !st)
    return error{st.message()};
  if (auto st = sync_dir(tmp); !st) return error{st.message()};
  if (fs::exists(final_dir)) { // the same store again (a resent message): keep it
    fs::remove_all(tmp, ec);
  } else {
    fs::rename(tmp, final_dir, ec);
    if (ec)
      return error{"cannot rename " + tmp.string() + " to " + final_dir.string() +
                   ": " + ec.message()};
  }
  // The switch: a new symlink renamed over the old one.
  const auto link_tmp = dir / (std::string{current_link} + ".tmp");
  fs::remove(link_tmp, ec);
  if (::symlink(name.c_str(), link_tmp.c_str()) != 0)
    return error{"cannot create symlink " + link_tmp.string() + ": " +
                 std::strerror(errno)};
  fs::rename(link_tmp, dir / current_link, ec);
  if (ec)
    return error{"cannot switch " + (dir / current_link).string() + ": " +
                 ec.message()};
  if (auto st = sync_dir(dir); !st) return error{st.message()};
  return final_dir.string();
}

expected<std::shared_ptr<const similar_table>> current_similar_table::get() {
  auto name = current_similar(dir_);
  std::lock_guard lock{mutex_};
  if (!name) {
    name_.clear();
    table_.reset();
    return table_;
  }
  if (*name != name_) {
    auto t = read_similar_table(dir_, *name);
    if (!t) return t.err();
    table_ = std::move(*t);
    name_ = *name;
  }
  return table_;
}

std::optional<std::string> current_similar(const std::string& models_dir) {
  std::error_code ec;
  auto target = fs::read_symlink(fs::path{models_dir} / current_link, ec);
  if (ec) return std::nullopt;
  return target.string();
}

expected<std::shared_ptr<const similar_table>>
read_similar_table(const std::string& models_dir, const std::string& name) {
  const auto p = fs::path{models_dir} / name / "table.msgpack";
  std::ifstream in(p, std::ios::binary);
  if (!in) return error{"cannot read " + p.string()};
  std::string bytes{std::istreambuf_iterator<char>{in},
                    std::istreambuf_iterator<char>{}};
  auto t = decode_similar_table(bytes);
  if (!t) return error{p.string() + ": " + t.err().message};
  return std::make_shared<const similar_table>(std::move(*t));
}

expected<similar_query> parse_similar_query(std::string_view args) {
  similar_query q;
  std::size_t pos = 0;
  while (pos < args.size()) {
    auto amp = args.find('&', pos);
    auto part = args.substr(pos, amp == std::string_view::npos ? std::string_view::npos
                                                               : amp - pos);
    pos = amp == std::string_view::npos ? args.size() : amp + 1;
    if (part.empty()) continue;
    auto eq = part.find('=');
    if (eq == std::string_view::npos)
      return error{"'" + std::string{part} + "' is not key=value"};
    auto key_or = decode_value(part.substr(0, eq));
    if (!key_or) return key_or.err();
    const auto& key = *key_or;
    const auto raw = part.substr(eq + 1);
    if (key == "items" || key == "exclude") {
      auto l = split_list(key, raw);
      if (!l) return l.err();
      auto& into = key == "items" ? q.items : q.exclude;
      into.insert(into.end(), l->begin(), l->end());
      continue;
    }
    auto value = decode_value(raw);
    if (!value) return value.err();
    const auto& v = *value;
    if (key == "item") {
      if (v.empty()) return error{"item is empty: give item=ID"};
      q.items.push_back(v);
    } else if (key == "k") {
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), q.k);
      if (ec != std::errc{} || p != v.data() + v.size() || q.k < 1 || q.k > 1000)
        return error{"k must be a number from 1 to 1000 (got '" + v + "')"};
    } else if (key == "days") {
      std::int64_t d = 0;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
      if (ec != std::errc{} || p != v.data() + v.size() || d < 1 || d > 100000)
        return error{"days must be a whole number of days from 1 to 100000 (got '" +
                     v + "')"};
      q.days = d;
    } else {
      return error{"unknown argument '" + key +
                   "' (similar takes item or items, k, exclude, days)"};
    }
  }
  if (q.items.empty())
    return error{"similar needs item=ID or items=A,B,... (a visitor's recent items)"};
  std::sort(q.items.begin(), q.items.end());
  q.items.erase(std::unique(q.items.begin(), q.items.end()), q.items.end());
  if (q.items.size() > 100)
    return error{"similar takes at most 100 items (got " +
                 std::to_string(q.items.size()) + ")"};
  return q;
}

namespace {

std::string pack_list(const item_list& l) {
  msgpack::sbuffer buf;
  packer pk(&buf);
  pk.pack_array(list_fields);
  pk.pack(l.item);
  pk.pack(l.error);
  pk.pack(l.model);
  pk.pack_uint64(l.version);
  pk.pack_double(l.recall);
  pk.pack_int64(l.data_max_ts);
  pk.pack(l.names);
  bin::pack(pk, l.scores);
  bin::pack(pk, l.last_ts);
  pk.pack_nil(); // reserved
  return {buf.data(), buf.size()};
}

} // namespace

std::string encode_item_error(const std::string& item, const std::string& why) {
  item_list l;
  l.item = item;
  l.error = why;
  return pack_list(l);
}

std::string encode_item_list(const similar_table* t, const std::string& item,
                             const std::string& node) {
  if (t == nullptr)
    return encode_item_error(
        item, "no similar-items table on node " + node +
                  " (owner of item '" + item +
                  "') yet: run eddy train on the cluster first");
  auto row = t->row_of(item);
  if (!row)
    return encode_item_error(
        item, "item '" + item + "' is not in the similar-items table of model " +
                  t->model + " (it had no interactions when that model was "
                  "trained)");
  item_list l;
  l.item = item;
  l.model = t->model;
  l.version = t->version;
  l.recall = t->recall_at_10;
  l.data_max_ts = t->data_max_ts;
  const auto n = static_cast<std::size_t>(t->n);
  for (std::size_t k = 0; k < n; ++k) {
    const auto id = t->ids[*row * n + k];
    if (id < 0) break;
    l.names.push_back(t->names[static_cast<std::size_t>(id)]);
    l.scores.push_back(t->scores[*row * n + k]);
    l.last_ts.push_back(t->last_ts[static_cast<std::size_t>(id)]);
  }
  return pack_list(l);
}

std::string similar_json(const similar_query& q,
                         const std::vector<std::string>& lists) {
  std::vector<item_list> answers;
  answers.reserve(lists.size());
  for (std::size_t i = 0; i < lists.size(); ++i) {
    answers.push_back(decode_item_list(lists[i]));
    if (i < q.items.size()) answers.back().item = q.items[i]; // even if malformed
  }
  const item_list* first = nullptr;
  std::vector<const item_list*> failed;
  for (const auto& a : answers) {
    if (!a.error.empty())
      failed.push_back(&a);
    else if (first == nullptr)
      first = &a;
  }
  if (first == nullptr) {
    std::string why = failed.empty() ? std::string{"no query items"} : failed.front()->error;
    for (std::size_t i = 1; i < failed.size(); ++i)
      why += "; " + failed[i]->error;
    std::string j = "{\"error\":";
    append_json_string(j, why);
    return j + "}";
  }
  // Candidates: summed cosine over the lists that hold them.
  std::set<std::string> skip(q.exclude.begin(), q.exclude.end());
  skip.insert(q.items.begin(), q.items.end());
  std::map<std::string, double> score;
  std::set<std::string> models;
  for (const auto& a : answers) {
    if (!a.error.empty()) continue;
    models.insert(a.model);
    const std::int64_t window = q.days ? *q.days * 86'400'000 : 0; // days <= 100000
    const std::int64_t since = q.days && a.data_max_ts > INT64_MIN + window
                                   ? a.data_max_ts - window
                                   : INT64_MIN;
    for (std::size_t i = 0; i < a.names.size(); ++i) {
      if (skip.count(a.names[i]) || a.last_ts[i] < since) continue;
      score[a.names[i]] += static_cast<double>(a.scores[i]);
    }
  }
  std::vector<std::pair<double, const std::string*>> ranked;
  ranked.reserve(score.size());
  for (const auto& [item, s] : score)
    ranked.emplace_back(s, &item);
  std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
    return a.first > b.first || (a.first == b.first && *a.second < *b.second);
  });
  if (ranked.size() > q.k) ranked.resize(q.k);
  std::string j = "{\"query\":[";
  for (std::size_t i = 0; i < q.items.size(); ++i) {
    if (i) j += ",";
    append_json_string(j, q.items[i]);
  }
  j += "],\"model\":";
  append_json_string(j, first->model);
  j += ",\"model_version\":" + std::to_string(first->version) +
       ",\"recall_at_10\":" + json_number(first->recall) +
       ",\"k\":" + std::to_string(q.k);
  if (models.size() > 1) { // a store in progress: owners on different models
    j += ",\"models\":[";
    bool c = false;
    for (const auto& m : models) {
      if (c) j += ",";
      c = true;
      append_json_string(j, m);
    }
    j += "]";
  }
  j += ",\"similar\":[";
  for (std::size_t i = 0; i < ranked.size(); ++i) {
    j += i ? ",{\"item\":" : "{\"item\":";
    append_json_string(j, *ranked[i].second);
    j += ",\"score\":" + json_number(ranked[i].first) + "}";
  }
  j += "],\"unknown\":[";
  for (std::size_t i = 0; i < failed.size(); ++i) {
    j += i ? ",{\"item\":" : "{\"item\":";
    append_json_string(j, failed[i]->item);
    j += ",\"why\":";
    append_json_string(j, failed[i]->error);
    j += "}";
  }
  return j + "]}";
}

std::string table_id(const similar_table& t) {
  // A folder name that carries the node id: keep it to safe bytes.
  std::string s = "similar-";
  for (char c : t.trained_by)
    s += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')
             ? c
             : '_';
  return s + "-" + std::to_string(t.version) + "-" + std::to_string(t.created_ms);
}

} // namespace eddy::actors
