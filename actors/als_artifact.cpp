#include "actors/als_artifact.hpp"

#include "models/topk.hpp"
#include "schema/writers.hpp"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <unistd.h>

namespace eddy::actors {

namespace fs = std::filesystem;

namespace {

constexpr char factors_magic[8] = {'E', 'D', 'D', 'Y', 'F', '3', '2', '\n'};
constexpr char csr_magic[8] = {'E', 'D', 'D', 'Y', 'C', 'S', 'R', '\n'};

template <class T>
void put(std::string& out, const T& v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof(T));
}

template <class T>
void put_array(std::string& out, const T* p, std::size_t n) {
  out.append(reinterpret_cast<const char*>(p), n * sizeof(T));
}

std::string ids_bytes(const models::id_map& m) {
  std::string out;
  put(out, static_cast<std::uint32_t>(m.size()));
  for (const auto& id : m.ids()) {
    put(out, static_cast<std::uint32_t>(id.size()));
    out += id;
  }
  return out;
}

std::string factors_bytes(const models::factor_matrix& m) {
  std::string out(factors_magic, 8);
  put(out, static_cast<std::uint64_t>(m.rows()));
  put(out, static_cast<std::uint64_t>(m.cols()));
  put_array(out, m.data(), static_cast<std::size_t>(m.size()));
  return out;
}

std::string csr_bytes(const models::csr_matrix& m) {
  std::string out(csr_magic, 8);
  put(out, static_cast<std::int64_t>(m.rows));
  put(out, static_cast<std::int64_t>(m.cols));
  put(out, m.nnz());
  put_array(out, m.indptr.data(), m.indptr.size());
  put_array(out, m.indices.data(), m.indices.size());
  put_array(out, m.values.data(), m.values.size());
  return out;
}

// A bounds-checked reader over a whole file.
struct cursor {
  std::string bytes;
  std::size_t pos = 0;
  std::string file;

  template <class T>
  T get() {
    T v{};
    need(sizeof(T));
    std::memcpy(&v, bytes.data() + pos, sizeof(T));
    pos += sizeof(T);
    return v;
  }
  template <class T>
  void get_array(T* out, std::size_t n) {
    need(n * sizeof(T));
    if (n > 0) std::memcpy(out, bytes.data() + pos, n * sizeof(T));
    pos += n * sizeof(T);
  }
  void need(std::size_t n) const {
    if (bytes.size() - pos < n) throw std::runtime_error{file + ": truncated"};
  }
  void magic(const char (&m)[8]) {
    need(8);
    if (std::memcmp(bytes.data() + pos, m, 8) != 0)
      throw std::runtime_error{file + ": not an eddy model file"};
    pos += 8;
  }
};

cursor slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error{"cannot read " + p.string()};
  cursor c;
  c.bytes.assign(std::istreambuf_iterator<char>{in},
                 std::istreambuf_iterator<char>{});
  c.file = p.string();
  return c;
}

models::id_map read_ids(const fs::path& p) {
  auto c = slurp(p);
  auto n = c.get<std::uint32_t>();
  std::vector<std::string> ids;
  ids.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    auto len = c.get<std::uint32_t>();
    c.need(len);
    ids.emplace_back(c.bytes.data() + c.pos, len);
    c.pos += len;
  }
  models::id_map m{ids};
  if (m.size() != static_cast<std::int32_t>(n))
    throw std::runtime_error{p.string() + ": ids are not unique"};
  return m;
}

models::factor_matrix read_factors(const fs::path& p) {
  auto c = slurp(p);
  c.magic(factors_magic);
  auto rows = c.get<std::uint64_t>(), cols = c.get<std::uint64_t>();
  if (cols == 0 || cols > 4096 || rows > (c.bytes.size() / 4) / cols)
    throw std::runtime_error{p.string() + ": bad shape"};
  models::factor_matrix m(static_cast<Eigen::Index>(rows),
                          static_cast<Eigen::Index>(cols));
  c.get_array(m.data(), static_cast<std::size_t>(m.size()));
  return m;
}

models::csr_matrix read_csr(const fs::path& p) {
  auto c = slurp(p);
  c.magic(csr_magic);
  models::csr_matrix m;
  auto rows = c.get<std::int64_t>(), cols = c.get<std::int64_t>(),
       nnz = c.get<std::int64_t>();
  if (rows < 0 || cols < 0 || nnz < 0 || rows > INT32_MAX || cols > INT32_MAX ||
      static_cast<std::uint64_t>(nnz) > c.bytes.size())
    throw std::runtime_error{p.string() + ": bad shape"};
  m.rows = static_cast<std::int32_t>(rows);
  m.cols = static_cast<std::int32_t>(cols);
  m.indptr.resize(static_cast<std::size_t>(rows) + 1);
  m.indices.resize(static_cast<std::size_t>(nnz));
  m.values.resize(static_cast<std::size_t>(nnz));
  c.get_array(m.indptr.data(), m.indptr.size());
  c.get_array(m.indices.data(), m.indices.size());
  c.get_array(m.values.data(), m.values.size());
  if (m.indptr.front() != 0 || m.indptr.back() != nnz)
    throw std::runtime_error{p.string() + ": inconsistent"};
  for (std::size_t i = 1; i < m.indptr.size(); ++i)
    if (m.indptr[i] < m.indptr[i - 1])
      throw std::runtime_error{p.string() + ": inconsistent"};
  for (auto col : m.indices)
    if (col < 0 || col >= m.cols)
      throw std::runtime_error{p.string() + ": column out of range"};
  return m;
}

} // namespace

status write_synced(const std::filesystem::path& p, const std::string& bytes) {
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return error{"cannot create " + p.string() + ": " + std::strerror(errno)};
  std::size_t off = 0;
  while (off < bytes.size()) {
    auto n = ::write(fd, bytes.data() + off, bytes.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      auto why = std::string{std::strerror(errno)};
      ::close(fd);
      return error{"cannot write " + p.string() + ": " + why};
    }
    off += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    auto why = std::string{std::strerror(errno)};
    ::close(fd);
    return error{"cannot fsync " + p.string() + ": " + why};
  }
  ::close(fd);
  return {};
}

status sync_dir(const std::filesystem::path& p) {
  int fd = ::open(p.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return error{"cannot open directory " + p.string() + ": " +
                 std::strerror(errno)};
  int r = ::fsync(fd);
  ::close(fd);
  if (r != 0)
    return error{"cannot fsync directory " + p.string() + ": " +
                 std::strerror(errno)};
  return {};
}


std::optional<std::uint64_t> newest_artifact(const std::string& models_dir) {
  std::error_code ec;
  std::optional<std::uint64_t> best;
  for (fs::directory_iterator it{models_dir, ec}, end; !ec && it != end;
       it.increment(ec)) {
    auto name = it->path().filename().string();
    if (!name.starts_with("als-") || name.size() <= 4) continue;
    auto digits = name.substr(4);
    if (digits.find_first_not_of("0123456789") != std::string::npos ||
        digits.size() > 18)
      continue;
    auto v = std::stoull(digits);
    if (!best || v > *best) best = v;
  }
  return best;
}

std::uint64_t next_artifact_version(const std::string& models_dir) {
  return newest_artifact(models_dir).value_or(0) + 1;
}

expected<std::string> write_artifact(const std::string& models_dir,
                                     const als_artifact& a) {
  std::error_code ec;
  fs::create_directories(models_dir, ec);
  if (ec) return error{"cannot create " + models_dir + ": " + ec.message()};
  const auto name = "als-" + std::to_string(a.version);
  const fs::path final_dir = fs::path{models_dir} / name;
  const fs::path tmp = fs::path{models_dir} /
                       (".tmp-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(tmp, ec);
  fs::create_directory(tmp, ec);
  if (ec) return error{"cannot create " + tmp.string() + ": " + ec.message()};
  const std::pair<const char*, std::string> files[] = {
      {"MODEL.json", a.meta_json},
      {"users.ids", ids_bytes(a.users)},
      {"items.ids", ids_bytes(a.items)},
      {"user_factors.f32", factors_bytes(a.user_factors)},
      {"item_factors.f32", factors_bytes(a.item_factors)},
      {"seen.csr", csr_bytes(a.seen)},
  };
  for (const auto& [file, bytes] : files)
    if (auto st = write_synced(tmp / file, bytes); !st) {
      fs::remove_all(tmp, ec);
      return error{st.message()};
    }
  if (auto st = sync_dir(tmp); !st) return error{st.message()};
  if (fs::exists(final_dir)) {
    fs::remove_all(tmp, ec);
    return error{final_dir.string() +
                 " already exists (another training run wrote it)"};
  }
  fs::rename(tmp, final_dir, ec);
  if (ec) {
    fs::remove_all(tmp, ec);
    return error{"cannot rename the model into " + final_dir.string() + ": " +
                 ec.message()};
  }
  if (auto st = sync_dir(models_dir); !st) return error{st.message()};
  return final_dir.string();
}

expected<std::shared_ptr<const als_artifact>>
read_artifact(const std::string& models_dir, std::uint64_t version) {
  const fs::path dir =
      fs::path{models_dir} / ("als-" + std::to_string(version));
  try {
    auto a = std::make_shared<als_artifact>();
    a->version = version;
    a->path = dir.string();
    a->users = read_ids(dir / "users.ids");
    a->items = read_ids(dir / "items.ids");
    a->user_factors = read_factors(dir / "user_factors.f32");
    a->item_factors = read_factors(dir / "item_factors.f32");
    a->seen = read_csr(dir / "seen.csr");
    a->meta_json = slurp(dir / "MODEL.json").bytes;
    if (a->user_factors.rows() != a->users.size() ||
        a->item_factors.rows() != a->items.size() ||
        a->user_factors.cols() != a->item_factors.cols() ||
        a->seen.rows != a->users.size() || a->seen.cols != a->items.size())
      return error{dir.string() +
                   ": files of different sizes (a damaged model)"};
    return std::shared_ptr<const als_artifact>{std::move(a)};
  } catch (const std::exception& e) {
    return error{std::string{"cannot load model: "} + e.what()};
  }
}

expected<std::string> recommend_json(const als_artifact& a,
                                     const std::string& user, std::size_t k,
                                     bool include_seen) {
  auto u = a.users.find(user);
  if (!u)
    return error{
        "unknown user '" + user + "': model version " +
        std::to_string(a.version) + " (" + a.path + ") was trained on " +
        std::to_string(a.users.size()) +
        " users and this one is not among them; train again after ingesting "
        "its events (eddy train)"};
  const auto row = static_cast<std::size_t>(*u);
  const auto first = a.seen.indptr[row], last = a.seen.indptr[row + 1];
  Eigen::VectorXf scores = a.item_factors * a.user_factors.row(*u).transpose();
  if (!include_seen)
    for (auto j = first; j < last; ++j)
      scores[a.seen.indices[static_cast<std::size_t>(j)]] = -INFINITY;
  models::top_k<std::int32_t> top{k};
  for (std::int32_t i = 0; i < a.items.size(); ++i)
    if (scores[i] != -INFINITY) top.push(i, static_cast<double>(scores[i]));
  std::string j = "{\"user\":";
  append_json_string(j, user);
  j += ",\"model_version\":" + std::to_string(a.version) + ",\"model\":";
  append_json_string(j, a.path);
  j += ",\"seen_items\":" + std::to_string(last - first);
  j += ",\"seen_filtered\":";
  j += include_seen ? "false" : "true";
  j += ",\"items\":[";
  std::size_t rank = 0;
  char buf[64];
  for (const auto& e : top.items()) {
    j += rank ? ",{" : "{";
    j += "\"rank\":" + std::to_string(++rank) + ",\"item\":";
    append_json_string(j, a.items.id(e.key));
    std::snprintf(buf, sizeof buf, ",\"score\":%.6g}", e.score);
    j += buf;
  }
  j += "]}";
  return j;
}

} // namespace eddy::actors
