#include "actors/als_protocol.hpp"

#include "actors/msgpack_bin.hpp"

#include <msgpack.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

namespace eddy::actors::als {

namespace {

// Messages are built straight into the std::string that travels, reserved to
// the size of their arrays (no regrowth, no final copy).
struct string_sink {
  std::string s;
  explicit string_sink(std::size_t bytes) { s.reserve(bytes + 256); }
  void write(const char* p, std::size_t n) { s.append(p, n); }
};
using packer = msgpack::packer<string_sink>;

// Decoding references bin and str bodies in the received bytes instead of
// copying them into the object's zone; every decoder copies what it keeps.
bool reference_bodies(msgpack::type::object_type t, std::size_t, void*) {
  return t == msgpack::type::BIN || t == msgpack::type::STR;
}

msgpack::object_handle unpack(std::string_view bytes) {
  return msgpack::unpack(bytes.data(), bytes.size(), reference_bodies);
}

void pack_csr(packer& pk, const models::csr_matrix& m) {
  pk.pack_array(5);
  pk.pack_int32(m.rows);
  pk.pack_int32(m.cols);
  bin::pack(pk, m.indptr);
  bin::pack(pk, m.indices);
  bin::pack(pk, m.values);
}

void pack_factors(packer& pk, const models::factor_matrix& m) {
  pk.pack_array(3);
  pk.pack_int64(m.rows());
  pk.pack_int64(m.cols());
  bin::pack(pk, m.data(), static_cast<std::size_t>(m.size()));
}

void pack_head(packer& pk, const char* op, std::uint64_t run,
               std::uint32_t fields) {
  pk.pack_array(2 + fields);
  pk.pack(std::string{op});
  pk.pack_uint64(run);
}

std::string done(string_sink& buf) { return std::move(buf.s); }

std::size_t bytes_of(const std::vector<std::string>& v) {
  std::size_t n = 0;
  for (const auto& x : v)
    n += x.size() + 5;
  return n;
}

struct malformed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A decoded message: its fields after [op, run].
struct reader {
  msgpack::object_handle oh;
  const msgpack::object* f = nullptr;
  std::uint32_t n = 0;
  std::uint64_t run = 0;

  reader(std::string_view bytes, const char* op, std::uint32_t fields) {
    oh = unpack(bytes);
    const auto& o = oh.get();
    if (o.type != msgpack::type::ARRAY || o.via.array.size != 2 + fields)
      throw malformed{std::string{"not an ALS '"} + op + "' message"};
    if (o.via.array.ptr[0].as<std::string>() != op)
      throw malformed{"expected an ALS '" + std::string{op} +
                      "' message, got '" +
                      o.via.array.ptr[0].as<std::string>() + "'"};
    run = o.via.array.ptr[1].as<std::uint64_t>();
    f = o.via.array.ptr + 2;
    n = fields;
  }
  const msgpack::object& at(std::uint32_t i) const { return f[i]; }
};


models::csr_matrix csr_of(const msgpack::object& o) {
  if (o.type != msgpack::type::ARRAY || o.via.array.size != 5)
    throw malformed{"not a CSR matrix"};
  const auto* a = o.via.array.ptr;
  models::csr_matrix m;
  m.rows = a[0].as<std::int32_t>();
  m.cols = a[1].as<std::int32_t>();
  m.indptr = bin::read<std::int64_t>(a[2]);
  m.indices = bin::read<std::int32_t>(a[3]);
  m.values = bin::read<float>(a[4]);
  // Enough checking that solve_rows cannot read out of bounds.
  if (m.rows < 0 || m.cols < 0 ||
      m.indptr.size() != static_cast<std::size_t>(m.rows) + 1 ||
      m.indptr.front() != 0 || m.indices.size() != m.values.size() ||
      m.indptr.back() != static_cast<std::int64_t>(m.indices.size()) ||
      !std::is_sorted(m.indptr.begin(), m.indptr.end()))
    throw malformed{"inconsistent CSR matrix"};
  for (auto c : m.indices)
    if (c < 0 || c >= m.cols) throw malformed{"CSR column out of range"};
  return m;
}

side side_of(const msgpack::object& o) {
  return o.as<std::uint8_t>() == 0 ? side::users : side::items;
}

models::factor_matrix factors_of(const msgpack::object& o) {
  if (o.type != msgpack::type::ARRAY || o.via.array.size != 3)
    throw malformed{"not a factor matrix"};
  const auto* a = o.via.array.ptr;
  auto rows = a[0].as<std::int64_t>(), cols = a[1].as<std::int64_t>();
  if (rows < 0 || cols < 0 || cols > 4096)
    throw malformed{"bad factor matrix shape"};
  models::factor_matrix m(rows, cols);
  bin::read_into(a[2], m.data(), static_cast<std::size_t>(rows * cols));
  return m;
}

template <class F>
auto guarded(const char* what, F&& f) -> expected<decltype(f())> {
  try {
    return f();
  } catch (const std::exception& e) {
    return error{std::string{"malformed ALS "} + what + ": " + e.what()};
  }
}

} // namespace

expected<std::map<std::string, std::string>> parse_args(std::string_view args) {
  auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  auto unescape = [&](std::string_view s, std::string& out) {
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (s[i] != '%') {
        out.push_back(s[i]);
        continue;
      }
      int hi = i + 2 < s.size() ? hex(s[i + 1]) : -1;
      int lo = i + 2 < s.size() ? hex(s[i + 2]) : -1;
      if (hi < 0 || lo < 0) return false;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    }
    return true;
  };
  std::map<std::string, std::string> out;
  std::size_t pos = 0;
  while (pos < args.size()) {
    auto amp = args.find('&', pos);
    auto part =
        args.substr(pos, amp == std::string_view::npos ? std::string_view::npos
                                                       : amp - pos);
    pos = amp == std::string_view::npos ? args.size() : amp + 1;
    if (part.empty()) continue;
    auto eq = part.find('=');
    if (eq == std::string_view::npos)
      return error{"'" + std::string{part} + "' is not key=value"};
    std::string key, value;
    if (!unescape(part.substr(0, eq), key) ||
        !unescape(part.substr(eq + 1), value))
      return error{"bad %-escape in '" + std::string{part} +
                   "'; write a byte as %XX"};
    out[key] = value;
  }
  return out;
}

std::vector<std::int32_t> needed_columns(const models::csr_matrix& m,
                                         const std::vector<std::int32_t>& rows) {
  std::vector<char> used(static_cast<std::size_t>(m.cols), 0);
  for (auto r : rows)
    for (auto e = m.indptr[static_cast<std::size_t>(r)];
         e < m.indptr[static_cast<std::size_t>(r) + 1]; ++e)
      used[static_cast<std::size_t>(m.indices[static_cast<std::size_t>(e)])] = 1;
  std::vector<std::int32_t> cols;
  for (std::size_t c = 0; c < used.size(); ++c)
    if (used[c]) cols.push_back(static_cast<std::int32_t>(c));
  return cols;
}

std::vector<std::int32_t> needed_columns(const models::csr_matrix& m) {
  std::vector<std::int32_t> all(static_cast<std::size_t>(m.rows));
  std::iota(all.begin(), all.end(), 0);
  return needed_columns(m, all);
}

std::string op_of(std::string_view bytes) {
  try {
    auto oh = unpack(bytes);
    const auto& o = oh.get();
    if (o.type == msgpack::type::ARRAY && o.via.array.size >= 2 &&
        o.via.array.ptr[0].type == msgpack::type::STR)
      return o.via.array.ptr[0].as<std::string>();
  } catch (const std::exception&) {
  }
  return {};
}

std::string encode(const load_request& m) {
  string_sink buf(256 * sizeof(float));
  packer pk(buf);
  pack_head(pk, "load", m.run, 1);
  bin::pack(pk, m.weights.data(), m.weights.size());
  return done(buf);
}

std::string encode(const load_reply& m) {
  string_sink buf(bytes_of(m.users) + bytes_of(m.items) + 4 * m.pair_user.size() +
                  4 * m.pair_item.size() + 4 * m.r.size() + 8 * m.item_last_ts.size());
  packer pk(buf);
  pack_head(pk, "loaded", m.run, 10);
  pk.pack(m.users);
  pk.pack(m.items);
  bin::pack(pk, m.pair_user);
  bin::pack(pk, m.pair_item);
  bin::pack(pk, m.r);
  pk.pack_uint64(m.events);
  pk.pack_uint64(m.zero_weight);
  pk.pack_int64(m.min_ts);
  pk.pack_int64(m.max_ts);
  bin::pack(pk, m.item_last_ts);
  return done(buf);
}

std::string encode(const assign_request& m) {
  string_sink buf(8 * m.block.indptr.size() + 8 * m.block.indices.size() +
                  4 * static_cast<std::size_t>(m.rows.size()) + 4 * m.globals.size() +
                  8 * m.globals.size());
  packer pk(buf);
  pack_head(pk, "assign", m.run, 8);
  pk.pack_uint8(static_cast<std::uint8_t>(m.which));
  pk.pack_int32(m.factors);
  pk.pack_int32(m.cg_steps);
  pk.pack_int32(m.threads);
  pack_csr(pk, m.block);
  pack_factors(pk, m.rows);
  bin::pack(pk, m.globals);
  pk.pack_array(static_cast<std::uint32_t>(m.peers.size()));
  for (const auto& p : m.peers) {
    pk.pack_array(3);
    pk.pack(p.node);
    bin::pack(pk, p.local);
    bin::pack(pk, p.positions);
  }
  return done(buf);
}

std::string encode_assigned(std::uint64_t run) {
  string_sink buf(0);
  packer pk(buf);
  pack_head(pk, "assigned", run, 0);
  return done(buf);
}

std::string encode(const solve_request& m) {
  string_sink buf(4 * static_cast<std::size_t>(m.gram.size()));
  packer pk(buf);
  pack_head(pk, "solve", m.run, 7);
  pk.pack_uint8(static_cast<std::uint8_t>(m.which));
  pk.pack(m.want_loss);
  pk.pack(m.start);
  pk.pack(m.want_rows);
  pk.pack(m.share);
  pk.pack_int64(m.gram.rows());
  bin::pack(pk, m.gram.data(), static_cast<std::size_t>(m.gram.size()));
  return done(buf);
}

std::string encode_rows(std::uint64_t run, side which, const std::vector<std::int32_t>& positions,
                        const models::factor_matrix& src,
                        const std::vector<std::int32_t>& src_rows) {
  const auto k = static_cast<std::size_t>(src.cols());
  const auto bytes = 4 * k * src_rows.size();
  string_sink buf(4 * positions.size() + bytes);
  packer pk(buf);
  pack_head(pk, "rows", run, 4);
  pk.pack_uint8(static_cast<std::uint8_t>(which));
  bin::pack(pk, positions);
  pk.pack_int64(static_cast<std::int64_t>(k));
  // Gathered straight into the message: no intermediate block.
  pk.pack_bin(static_cast<std::uint32_t>(bytes));
  for (auto r : src_rows)
    buf.write(reinterpret_cast<const char*>(src.row(r).data()), 4 * k);
  return done(buf);
}

std::string encode_placed(std::uint64_t run) {
  string_sink buf(0);
  packer pk(buf);
  pack_head(pk, "placed", run, 0);
  return done(buf);
}

std::string encode(const solve_reply& m) {
  string_sink buf(4 * static_cast<std::size_t>(m.rows.size()) +
                  8 * static_cast<std::size_t>(m.partial_gram.size()));
  packer pk(buf);
  pack_head(pk, "solved", m.run, 8);
  pk.pack_uint8(static_cast<std::uint8_t>(m.which));
  pack_factors(pk, m.rows);
  pk.pack_int64(m.partial_gram.rows());
  bin::pack(pk, m.partial_gram.data(),
           static_cast<std::size_t>(m.partial_gram.size()));
  pk.pack_double(m.loss.value);
  pk.pack_double(m.loss.confidence_sum);
  pk.pack_int64(m.loss.nnz);
  pk.pack_uint64(m.shared_bytes);
  return done(buf);
}

std::string encode(const join_request& m) {
  string_sink buf(4 * (m.items.size() + static_cast<std::size_t>(m.vectors.size()) +
                       m.buckets.members.size() + m.buckets.offsets.size()));
  packer pk(buf);
  pack_head(pk, "join", m.run, 6);
  pk.pack_int32(m.n);
  pk.pack_int32(m.threads);
  bin::pack(pk, m.items);
  pack_factors(pk, m.vectors);
  bin::pack(pk, m.buckets.members);
  bin::pack(pk, m.buckets.offsets);
  return done(buf);
}

std::string encode(const join_reply& m) {
  string_sink buf(4 * (m.table.query.size() + m.table.ids.size() + m.table.scores.size()));
  packer pk(buf);
  pack_head(pk, "joined", m.run, 5);
  pk.pack_int32(m.table.n);
  bin::pack(pk, m.table.query);
  bin::pack(pk, m.table.ids);
  bin::pack(pk, m.table.scores);
  pk.pack_uint64(m.comparisons);
  return done(buf);
}

std::string encode(const store_request& m) {
  string_sink buf(m.table.size());
  packer pk(buf);
  pack_head(pk, "store", m.run, 1);
  bin::pack(pk, m.table.data(), m.table.size());
  return done(buf);
}

std::string encode_stored(std::uint64_t run, const std::string& path) {
  string_sink buf(0);
  packer pk(buf);
  pack_head(pk, "stored", run, 1);
  pk.pack(path);
  return done(buf);
}

std::string encode_error(std::uint64_t run, const std::string& message) {
  string_sink buf(0);
  packer pk(buf);
  pack_head(pk, "error", run, 1);
  pk.pack(message);
  return done(buf);
}

expected<load_request> decode_load_request(std::string_view bytes) {
  return guarded("load", [&] {
    reader r{bytes, "load", 1};
    load_request m;
    m.run = r.run;
    bin::read_into(r.at(0), m.weights.data(), m.weights.size());
    return m;
  });
}

expected<load_reply> decode_load_reply(std::string_view bytes) {
  return guarded("loaded", [&] {
    if (auto oh = unpack(bytes); oh.get().type == msgpack::type::ARRAY &&
                                 oh.get().via.array.size == 2 + 9)
      throw malformed{"the node runs an older eddy (its load reply has no per-item "
                      "times): run the same eddy build on every node"};
    reader r{bytes, "loaded", 10};
    load_reply m;
    m.run = r.run;
    m.users = r.at(0).as<std::vector<std::string>>();
    m.items = r.at(1).as<std::vector<std::string>>();
    m.pair_user = bin::read<std::int32_t>(r.at(2));
    m.pair_item = bin::read<std::int32_t>(r.at(3));
    m.r = bin::read<float>(r.at(4));
    m.events = r.at(5).as<std::uint64_t>();
    m.zero_weight = r.at(6).as<std::uint64_t>();
    m.min_ts = r.at(7).as<std::int64_t>();
    m.max_ts = r.at(8).as<std::int64_t>();
    m.item_last_ts = bin::read<std::int64_t>(r.at(9));
    if (m.item_last_ts.size() != m.items.size())
      throw malformed{"one last event time per item expected"};
    if (m.pair_user.size() != m.r.size() || m.pair_item.size() != m.r.size())
      throw malformed{"pair arrays of different lengths"};
    for (std::size_t i = 0; i < m.r.size(); ++i)
      if (m.pair_user[i] < 0 ||
          static_cast<std::size_t>(m.pair_user[i]) >= m.users.size() ||
          m.pair_item[i] < 0 ||
          static_cast<std::size_t>(m.pair_item[i]) >= m.items.size())
        throw malformed{"pair index out of range"};
    return m;
  });
}

expected<assign_request> decode_assign_request(std::string_view bytes) {
  return guarded("assign", [&] {
    reader r{bytes, "assign", 8};
    assign_request m;
    m.run = r.run;
    m.which = side_of(r.at(0));
    m.factors = r.at(1).as<int>();
    m.cg_steps = r.at(2).as<int>();
    m.threads = r.at(3).as<int>();
    m.block = csr_of(r.at(4));
    m.rows = factors_of(r.at(5));
    m.globals = bin::read<std::int32_t>(r.at(6));
    if (m.factors < 1 || m.cg_steps < 0 || m.threads < 1 ||
        m.rows.rows() != m.block.rows || m.rows.cols() != m.factors ||
        m.globals.size() != static_cast<std::size_t>(m.block.rows))
      throw malformed{"block and factor rows do not match"};
    const auto& peers = r.at(7);
    if (peers.type != msgpack::type::ARRAY) throw malformed{"peers is not an array"};
    for (std::uint32_t i = 0; i < peers.via.array.size; ++i) {
      const auto& e = peers.via.array.ptr[i];
      if (e.type != msgpack::type::ARRAY || e.via.array.size != 3)
        throw malformed{"bad peer entry"};
      assign_request::peer_rows p;
      p.node = e.via.array.ptr[0].as<std::string>();
      p.local = bin::read<std::int32_t>(e.via.array.ptr[1]);
      p.positions = bin::read<std::int32_t>(e.via.array.ptr[2]);
      if (p.local.size() != p.positions.size()) throw malformed{"bad peer entry"};
      for (auto l : p.local)
        if (l < 0 || l >= m.block.rows) throw malformed{"peer row out of range"};
      m.peers.push_back(std::move(p));
    }
    return m;
  });
}

expected<std::uint64_t> decode_assigned(std::string_view bytes) {
  return guarded("assigned", [&] { return reader{bytes, "assigned", 0}.run; });
}

expected<solve_request> decode_solve_request(std::string_view bytes) {
  return guarded("solve", [&] {
    reader r{bytes, "solve", 7};
    solve_request m;
    m.run = r.run;
    m.which = side_of(r.at(0));
    m.want_loss = r.at(1).as<bool>();
    m.start = r.at(2).as<bool>();
    m.want_rows = r.at(3).as<bool>();
    m.share = r.at(4).as<bool>();
    auto k = r.at(5).as<std::int64_t>();
    if (k < 1 || k > 4096) throw malformed{"bad gram size"};
    m.gram.resize(k, k);
    bin::read_into(r.at(6), m.gram.data(), static_cast<std::size_t>(k * k));
    return m;
  });
}

expected<rows_message> decode_rows(std::string_view bytes) {
  return guarded("rows", [&] {
    reader r{bytes, "rows", 4};
    rows_message m;
    m.run = r.run;
    m.which = side_of(r.at(0));
    m.positions = bin::read<std::int32_t>(r.at(1));
    m.k = r.at(2).as<std::int64_t>();
    const auto& o = r.at(3);
    if (m.k < 1 || m.k > 4096 || o.type != msgpack::type::BIN ||
        o.via.bin.size != 4 * static_cast<std::size_t>(m.k) * m.positions.size())
      throw malformed{"rows of the wrong size"};
    // Bodies are referenced in `bytes` (reference_bodies), not copied.
    m.rows = std::string_view{o.via.bin.ptr, o.via.bin.size};
    return m;
  });
}

expected<solve_reply> decode_solve_reply(std::string_view bytes) {
  return guarded("solved", [&] {
    reader r{bytes, "solved", 8};
    solve_reply m;
    m.run = r.run;
    m.which = side_of(r.at(0));
    m.rows = factors_of(r.at(1));
    auto k = r.at(2).as<std::int64_t>();
    if (k < 0 || k > 4096) throw malformed{"bad gram size"};
    m.partial_gram.resize(k, k);
    bin::read_into(r.at(3), m.partial_gram.data(), static_cast<std::size_t>(k * k));
    m.loss.value = r.at(4).as<double>();
    m.loss.confidence_sum = r.at(5).as<double>();
    m.loss.nnz = r.at(6).as<std::int64_t>();
    m.shared_bytes = r.at(7).as<std::uint64_t>();
    return m;
  });
}

expected<join_request> decode_join_request(std::string_view bytes) {
  return guarded("join", [&] {
    reader r{bytes, "join", 6};
    join_request m;
    m.run = r.run;
    m.n = r.at(0).as<int>();
    m.threads = r.at(1).as<int>();
    m.items = bin::read<std::int32_t>(r.at(2));
    m.vectors = factors_of(r.at(3));
    m.buckets.members = bin::read<std::int32_t>(r.at(4));
    m.buckets.offsets = bin::read<std::uint32_t>(r.at(5));
    // Enough checking that join_buckets cannot read out of bounds.
    if (m.n < 1 || m.n > 255 || m.threads < 1 || m.threads > 256 ||
        m.vectors.rows() != static_cast<Eigen::Index>(m.items.size()))
      throw malformed{"bad list length, thread count or vector rows"};
    const auto& off = m.buckets.offsets;
    if (off.empty() || off.front() != 0 ||
        off.back() != m.buckets.members.size() ||
        !std::is_sorted(off.begin(), off.end()))
      throw malformed{"inconsistent bucket offsets"};
    for (auto id : m.buckets.members)
      if (id < 0 || static_cast<std::size_t>(id) >= m.items.size())
        throw malformed{"bucket member out of range"};
    std::vector<std::int32_t> members; // an item twice in a bucket would pair with itself
    for (std::size_t b = 0; b < m.buckets.size(); ++b) {
      members.assign(m.buckets[b].begin(), m.buckets[b].end());
      std::sort(members.begin(), members.end());
      if (std::adjacent_find(members.begin(), members.end()) != members.end())
        throw malformed{"a bucket holds an item twice"};
    }
    return m;
  });
}

expected<join_reply> decode_join_reply(std::string_view bytes) {
  return guarded("joined", [&] {
    reader r{bytes, "joined", 5};
    join_reply m;
    m.run = r.run;
    m.table.n = r.at(0).as<std::int32_t>();
    m.table.query = bin::read<std::int32_t>(r.at(1));
    m.table.ids = bin::read<std::int32_t>(r.at(2));
    m.table.scores = bin::read<float>(r.at(3));
    m.table.rows = static_cast<std::int32_t>(m.table.query.size());
    m.comparisons = r.at(4).as<std::uint64_t>();
    const auto cells = m.table.query.size() * static_cast<std::size_t>(std::max(m.table.n, 0));
    if (m.table.n < 1 || m.table.ids.size() != cells || m.table.scores.size() != cells)
      throw malformed{"neighbour lists of the wrong size"};
    for (std::size_t i = 0; i < cells; ++i)
      if (m.table.ids[i] >= 0 && !std::isfinite(m.table.scores[i]))
        throw malformed{"a neighbour score is not a finite number"};
    return m;
  });
}

expected<store_request> decode_store_request(std::string_view bytes) {
  return guarded("store", [&] {
    reader r{bytes, "store", 1};
    store_request m;
    m.run = r.run;
    const auto& o = r.at(0);
    if (o.type != msgpack::type::BIN) throw malformed{"table is not bytes"};
    m.table.assign(o.via.bin.ptr, o.via.bin.size);
    return m;
  });
}

expected<std::string> decode_stored(std::string_view bytes) {
  return guarded("stored", [&] { return reader{bytes, "stored", 1}.at(0).as<std::string>(); });
}

std::string decode_error(std::string_view bytes) {
  auto m = guarded("error", [&] {
    reader r{bytes, "error", 1};
    return r.at(0).as<std::string>();
  });
  return m ? *m : std::string{"an unreadable error reply"};
}

} // namespace eddy::actors::als
