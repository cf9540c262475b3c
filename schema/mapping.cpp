#include "schema/mapping.hpp"

#include "schema/interactions.hpp"
#include "schema/toml_util.hpp"

#include <sstream>

namespace eddy {

std::string field_spec::describe() const {
  switch (from) {
    case kind::none:
      return "nothing";
    case kind::column:
      return "column '" + column + "'";
    case kind::index:
      return "column " + std::to_string(index);
    case kind::pointer:
      return "pointer '" + pointer + "'";
    case kind::constant:
      return "constant '" + constant + "'";
  }
  return "?";
}

std::string_view format_name(source_format f) {
  switch (f) {
    case source_format::csv:
      return "csv";
    case source_format::jsonl:
      return "jsonl";
    case source_format::json_array:
      return "json_array";
  }
  return "?";
}

namespace {

using detail::check_keys;
using detail::checker;

// A single character option such as csv.delimiter; "\t" in TOML is a tab.
expected<char> one_char(const toml::table& t, std::string_view key, char dflt,
                        const checker& bad, const std::string& where) {
  auto node = t[key];
  if (!node)
    return dflt;
  auto s = node.value<std::string>();
  if (!s || s->size() != 1)
    return bad(where, "must be a string of exactly one character (use \"\\t\" "
                      "for a tab)");
  return (*s)[0];
}

expected<field_spec> parse_field(const toml::node& node, const std::string& key,
                                 source_format fmt, const checker& bad) {
  field_spec f;
  // Shorthand: `item = "itemid"` means a column (CSV) or a pointer (JSON).
  if (auto s = node.value<std::string>()) {
    if (fmt == source_format::csv) {
      f.from = field_spec::kind::column;
      f.column = *s;
    } else {
      f.from = field_spec::kind::pointer;
      f.pointer = *s;
    }
  } else if (auto* t = node.as_table()) {
    int sources = 0;
    if (auto c = (*t)["column"]) {
      ++sources;
      if (auto name = c.value<std::string>()) {
        f.from = field_spec::kind::column;
        f.column = *name;
      } else if (auto idx = c.value<int64_t>()) {
        if (*idx < 0 || *idx > 100000)
          return bad(key + ".column", "a column index must be in 0..100000");
        f.from = field_spec::kind::index;
        f.index = static_cast<std::size_t>(*idx);
      } else {
        return bad(key + ".column",
                   "must be a header name (string) or a 0-based index");
      }
    }
    if (auto p = (*t)["pointer"]) {
      ++sources;
      auto ptr = p.value<std::string>();
      if (!ptr)
        return bad(key + ".pointer", "must be a string such as \"/user/id\"");
      f.from = field_spec::kind::pointer;
      f.pointer = *ptr;
    }
    if (auto c = (*t)["const"]) {
      ++sources;
      std::optional<std::string> text = c.value<std::string>();
      if (!text) {
        if (auto d = c.value<double>()) {
          std::ostringstream os;
          os << *d;
          text = os.str();
        }
      }
      if (!text)
        return bad(key + ".const", "must be a string or a number");
      f.from = field_spec::kind::constant;
      f.constant = *text;
    }
    if (sources != 1)
      return bad(key, "give exactly one of column, pointer or const");
  } else {
    return bad(key, "must be a table such as { column = \"name\" } or a string");
  }
  if (fmt == source_format::csv && f.from == field_spec::kind::pointer)
    return bad(key, "a CSV source takes column = \"name\" or column = INDEX, "
                    "not a JSON pointer");
  if (fmt != source_format::csv &&
      (f.from == field_spec::kind::column || f.from == field_spec::kind::index))
    return bad(key, "a JSON source takes pointer = \"/a/b\", not a column");
  if (f.from == field_spec::kind::pointer && !f.pointer.empty() &&
      f.pointer[0] != '/')
    return bad(key + ".pointer", "a JSON pointer starts with '/' (RFC 6901), "
                                 "e.g. \"/visitor/id\"");
  return f;
}

} // namespace

expected<source_mapping> parse_mapping(std::string_view text,
                                       const std::string& origin) {
  checker bad{origin};
  auto parsed = detail::parse_toml(text, origin);
  if (!parsed)
    return parsed.err();
  auto& root = *parsed;
  if (auto st = check_keys(root, "",
                           {"name", "description", "format", "csv", "fields",
                            "types", "filter", "limits"},
                           bad);
      !st)
    return error{st.message()};

  source_mapping m;
  m.origin = origin;
  m.name = root["name"].value_or(std::string{});
  if (m.name.empty())
    return bad("name", "missing: give the mapping a name, e.g. name = \"my-feed\"");
  m.description = root["description"].value_or(std::string{});
  auto fmt = root["format"].value<std::string>();
  if (!fmt)
    return bad("format", "missing: one of \"csv\", \"jsonl\", \"json_array\"");
  if (*fmt == "csv")
    m.format = source_format::csv;
  else if (*fmt == "jsonl" || *fmt == "ndjson")
    m.format = source_format::jsonl;
  else if (*fmt == "json_array" || *fmt == "json")
    m.format = source_format::json_array;
  else
    return bad("format", "'" + *fmt +
                             "' is not a format: use \"csv\", \"jsonl\" or "
                             "\"json_array\"");

  // [csv]
  if (auto* csv = root["csv"].as_table()) {
    if (m.format != source_format::csv)
      return bad("csv", "only a csv source takes a [csv] table");
    if (auto st = check_keys(*csv, "csv",
                             {"delimiter", "quote", "header", "comment"}, bad);
        !st)
      return error{st.message()};
    auto d = one_char(*csv, "delimiter", ',', bad, "csv.delimiter");
    if (!d)
      return d.err();
    auto q = one_char(*csv, "quote", '"', bad, "csv.quote");
    if (!q)
      return q.err();
    m.csv.delimiter = *d;
    m.csv.quote = *q;
    if (m.csv.delimiter == m.csv.quote || m.csv.delimiter == '\n' ||
        m.csv.delimiter == '\r')
      return bad("csv.delimiter", "must differ from the quote and from line ends");
    if (auto h = (*csv)["header"]) {
      auto b = h.value<bool>();
      if (!b)
        return bad("csv.header", "must be true or false");
      m.csv.header = *b;
    }
    m.csv.comment = (*csv)["comment"].value_or(std::string{});
  }

  // [fields]
  auto* fields = root["fields"].as_table();
  if (fields == nullptr)
    return bad("fields", "missing: the [fields] table says where user, item, "
                         "type, ts (and optionally value) come from");
  if (auto st = check_keys(*fields, "fields",
                           {"user", "item", "type", "ts", "value"}, bad);
      !st)
    return error{st.message()};
  auto get = [&](std::string_view key, field_spec& out) -> status {
    auto node = (*fields)[key];
    if (!node)
      return error{};
    auto* t = node.as_table();
    std::string k = "fields." + std::string{key};
    // Strip the per-field extras before parsing the source part.
    toml::table copy;
    if (t) {
      copy = *t;
      for (auto extra : {"format", "timezone", "pattern", "default"})
        copy.erase(extra);
      if (auto st = check_keys(*t, k,
                               {"column", "pointer", "const", "format",
                                "timezone", "pattern", "default"},
                               bad);
          !st)
        return st;
    }
    auto f = t ? parse_field(copy, k, m.format, bad)
               : parse_field(*node.node(), k, m.format, bad);
    if (!f)
      return f.err();
    out = std::move(*f);
    return {};
  };
  for (auto [key, spec] : {std::pair{"user", &m.user}, std::pair{"item", &m.item},
                           std::pair{"type", &m.type}, std::pair{"ts", &m.ts}}) {
    auto st = get(key, *spec);
    if (!st)
      return error{st.message().empty()
                     ? origin + ": fields." + key +
                         ": missing: every mapping says where the " + key +
                         " comes from"
                     : st.message()};
  }
  if ((*fields)["value"]) {
    if (auto st = get("value", m.value); !st)
      return error{st.message()};
    if (auto d = (*fields)["value"]["default"]) {
      auto v = d.value<double>();
      if (!v)
        return bad("fields.value.default", "must be a number");
      m.value_default = static_cast<float>(*v);
    }
  }
  // Time format lives on fields.ts.
  if (auto* ts = (*fields)["ts"].as_table()) {
    auto f = (*ts)["format"].value_or(std::string{"epoch_ms"});
    if (f == "epoch_s")
      m.time.format = time_format::epoch_s;
    else if (f == "epoch_ms")
      m.time.format = time_format::epoch_ms;
    else if (f == "epoch_us")
      m.time.format = time_format::epoch_us;
    else if (f == "iso8601")
      m.time.format = time_format::iso8601;
    else if (f.find('%') != std::string::npos) {
      m.time.format = time_format::pattern;
      m.time.pattern = f;
    } else
      return bad("fields.ts.format",
                 "'" + f +
                   "' is not a time format: use epoch_s, epoch_ms, epoch_us, "
                   "iso8601, or a strftime pattern such as \"%d/%m/%Y %H:%M\"");
    m.time.timezone = (*ts)["timezone"].value_or(std::string{"UTC"});
  }

  // [types]
  if (auto* types = root["types"].as_table()) {
    if (auto st = check_keys(*types, "types", {"aliases", "unknown"}, bad); !st)
      return error{st.message()};
    if (auto* al = (*types)["aliases"].as_table()) {
      for (auto&& [k, v] : *al) {
        auto target = v.value<std::string>();
        if (!target)
          return bad("types.aliases." + std::string{k.str()},
                     "must name a canonical type, e.g. \"cart\"");
        m.type_aliases.emplace_back(ascii_lower(k.str()), ascii_lower(*target));
      }
    } else if (types->contains("aliases")) {
      return bad("types.aliases", "must be a table: { source = \"canonical\" }");
    }
    auto unknown = (*types)["unknown"].value_or(std::string{"reject"});
    if (unknown != "reject")
      m.unknown_type = ascii_lower(unknown);
  }

  // [[filter]]
  if (auto node = root["filter"]) {
    auto* arr = node.as_array();
    if (arr == nullptr)
      return bad("filter", "must be an array of tables: [[filter]]");
    for (std::size_t i = 0; i < arr->size(); ++i) {
      auto k = "filter[" + std::to_string(i) + "]";
      auto* t = (*arr)[i].as_table();
      if (t == nullptr)
        return bad(k, "must be a table");
      if (auto st = check_keys(*t, k, {"field", "op", "values", "value"}, bad); !st)
        return error{st.message()};
      filter_spec fs;
      auto fnode = (*t)["field"];
      if (!fnode)
        return bad(k + ".field", "missing: the field to test");
      auto f = parse_field(*fnode.node(), k + ".field", m.format, bad);
      if (!f)
        return f.err();
      if (f->from == field_spec::kind::constant)
        return bad(k + ".field", "a filter tests a source field, not a constant");
      fs.field = std::move(*f);
      auto op = (*t)["op"].value_or(std::string{"equals"});
      using o = filter_spec::op;
      if (op == "equals")
        fs.test = o::equals;
      else if (op == "not_equals")
        fs.test = o::not_equals;
      else if (op == "in")
        fs.test = o::in;
      else if (op == "not_in")
        fs.test = o::not_in;
      else if (op == "present")
        fs.test = o::present;
      else if (op == "absent")
        fs.test = o::absent;
      else
        return bad(k + ".op", "'" + op +
                                "' is not an operator: equals, not_equals, in, "
                                "not_in, present, absent");
      if (auto v = (*t)["value"].value<std::string>())
        fs.values.push_back(*v);
      if (auto* vs = (*t)["values"].as_array())
        for (auto& v : *vs) {
          auto s = v.value<std::string>();
          if (!s)
            return bad(k + ".values", "must be strings");
          fs.values.push_back(*s);
        }
      bool needs_values = fs.test != o::present && fs.test != o::absent;
      if (needs_values && fs.values.empty())
        return bad(k, "op '" + op + "' needs value = \"...\" or values = [...]");
      if ((fs.test == o::equals || fs.test == o::not_equals) &&
          fs.values.size() != 1)
        return bad(k, "op '" + op + "' takes exactly one value");
      m.filters.push_back(std::move(fs));
    }
  }

  // [limits]
  if (auto* lim = root["limits"].as_table()) {
    if (auto st = check_keys(*lim, "limits",
                             {"max_line_bytes", "max_id_bytes", "max_depth"}, bad);
        !st)
      return error{st.message()};
    auto read = [&](std::string_view key, std::size_t& out, std::size_t lo,
                    std::size_t hi) -> status {
      auto n = (*lim)[key];
      if (!n)
        return {};
      auto v = n.value<int64_t>();
      if (!v || *v < static_cast<int64_t>(lo) || *v > static_cast<int64_t>(hi))
        return bad("limits." + std::string{key},
                   "must be an integer in " + std::to_string(lo) + ".." +
                     std::to_string(hi));
      out = static_cast<std::size_t>(*v);
      return {};
    };
    if (auto st = read("max_line_bytes", m.limits.max_line_bytes, 64, 64u << 20);
        !st)
      return error{st.message()};
    if (auto st = read("max_id_bytes", m.limits.max_id_bytes, 1, max_id_bytes); !st)
      return error{st.message()};
    if (auto st = read("max_depth", m.limits.max_depth, 1, 1024); !st)
      return error{st.message()};
  }

  // Cross-field rules.
  if (m.format == source_format::csv && !m.csv.header) {
    for (auto* f : {&m.user, &m.item, &m.type, &m.ts, &m.value})
      if (f->from == field_spec::kind::column)
        return bad("csv.header", "is false, so fields must use column indexes "
                                 "(column = 0), not header names ('" +
                                   f->column + "')");
    for (auto& fs : m.filters)
      if (fs.field.from == field_spec::kind::column)
        return bad("csv.header", "is false, so filters must use column indexes");
  }
  return m;
}

expected<source_mapping> load_mapping(const std::string& path) {
  auto text = detail::read_config_file(
    path, "mapping", "give a path or the name of a file in configs/schemas/");
  if (!text)
    return text.err();
  return parse_mapping(*text, path);
}

} // namespace eddy
