// The shard log: one folder per shard, append-only segment files of checksummed
// records, each holding one wire batch (cluster/SHARD_LOG.md has the full
// format).
//
// On disk:
//
//   <dir>/00000000000000000000.seg    segment files, named by the ordinal
//   (0-based, <dir>/00000000000000001234.seg    counted over the whole log) of
//   their first
//                                     batch, 20 digits so names sort like
//                                     numbers
//
//   segment = header (8 bytes: "EDDYSEG" + format byte 0x02) + record*
//   record  = u32 LE payload length + u32 LE checksum(payload) + payload
//             (XXH3-64's low 32 bits; zlib crc32 in format 1 segments)
//   payload = one wire batch frame (wire::encode_batch: version byte + map)
//
// Why it is built this way:
//  - One pwrite(2) of whole records per append call (all the parts given to
//    it, so a shard that receives several parts at once makes one system call).
//    Once it returns, the bytes are in
//    the page cache and survive a kill of this process in every fsync mode;
//    only power loss depends on the fsync policy. A failed or partial write is
//    cut back with ftruncate so the file never keeps half a record while we
//    keep appending.
//  - A process crash can only tear the record being written, and power loss (in
//    group/none mode) only the unsynced tail of the newest segment. So on open,
//    the first bad record of the LAST segment and everything after it is a torn
//    tail and is truncated; a bad record in any other segment cannot come from
//    a crash and is an error for the operator (file + offset), never silently
//    dropped.
//  - A record whose checksum is right but whose frame does not decode was not
//  torn:
//    it was written by a newer eddy (or a bug). That is always an error, even
//    at the tail, so a downgrade cannot truncate data it does not understand.
//  - Replay and scan() share one streaming reader (read_segment): a 1 MiB
//  buffer,
//    grown only to the largest record, so memory does not depend on segment
//    size.
//  - Dedupe per producer: the highest seq seen and a ring bitmap of the
//  `window`
//    seqs up to it. A seq at or below (max - window) counts as already stored:
//    producers must never resend a batch that old (their credit window is far
//    smaller). The index is rebuilt from the records on open.
//  - The folder is flock()ed while open: two writers on one log would
//  interleave
//    records and corrupt it.
//  - After an fsync failure the kernel may have dropped the dirty pages and a
//  retry
//    can report success anyway, so the log refuses further writes ("poisoned")
//    until it is reopened and replayed; the same after a failed cut-back.
//
// Not thread-safe: one owner (the shard actor) calls every member. No CAF, no
// logging here: failures are eddy::error values (STYLE.md habit 8), stats are
// returned.

#include "cluster/shard_log.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zlib.h>

namespace eddy::cluster {

namespace {

namespace fs = std::filesystem;

constexpr std::array<char, 7> segment_magic = {'E', 'D', 'D', 'Y',
                                               'S', 'E', 'G'};
/// Newest segment format: the one this build writes, and the newest it reads.
/// 1: records checksummed with zlib's crc32; 2: with XXH3 (SHARD_LOG.md).
constexpr std::uint8_t segment_format = 2;
constexpr std::size_t segment_header_bytes = 8;
constexpr std::size_t record_header_bytes = 8;
/// Upper bound on one payload: a length above it is corruption, not a record.
constexpr std::uint32_t max_record_bytes = 256u << 20;
constexpr std::size_t read_chunk_bytes = 1u << 20;
constexpr std::size_t segment_name_digits = 20;

std::string errno_text(int err) {
  return std::string{std::strerror(err)} + " (errno " + std::to_string(err) +
         ")";
}

error sys_error(const std::string& what, const std::string& path, int err) {
  return error{"shard log: cannot " + what + " " + path + ": " +
               errno_text(err)};
}

void put_le32(char* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i)
    p[i] = static_cast<char>(v >> (8 * i));
}

std::uint32_t get_le32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v |= static_cast<std::uint32_t>(static_cast<unsigned char>(p[i]))
         << (8 * i);
  return v;
}

/// The record checksum of segment format `format`: XXH3 (64-bit, its low 32
/// bits) since format 2, about ten times cheaper per byte than zlib's crc32 of
/// format 1, which is still read.
std::uint32_t checksum(std::uint8_t format, std::string_view bytes) {
  if (format >= 2)
    return static_cast<std::uint32_t>(XXH3_64bits(bytes.data(), bytes.size()));
  // zlib's crc32 takes a 32-bit length; records are <= 256 MiB.
  return static_cast<std::uint32_t>(
      ::crc32(0L, reinterpret_cast<const Bytef*>(bytes.data()),
              static_cast<uInt>(bytes.size())));
}

std::string segment_header() {
  std::string h(segment_magic.begin(), segment_magic.end());
  h += static_cast<char>(segment_format);
  return h;
}

std::string segment_name(std::uint64_t first_ordinal) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020llu.seg",
                static_cast<unsigned long long>(first_ordinal));
  return buf;
}

/// The first ordinal if `name` is a segment file name, else nothing.
std::optional<std::uint64_t> parse_segment_name(std::string_view name) {
  if (name.size() != segment_name_digits + 4 || !name.ends_with(".seg"))
    return std::nullopt;
  std::uint64_t v = 0;
  auto digits = name.substr(0, segment_name_digits);
  if (!std::all_of(digits.begin(), digits.end(),
                   [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  auto [end, ec] =
      std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec != std::errc{} || end != digits.data() + digits.size())
    return std::nullopt;
  return v;
}

/// The decoder rejects a frame with a bad producer as a whole, so a batch with
/// one would be written fine and then read back as corruption. Refuse it up
/// front.
bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  while (i < s.size()) {
    unsigned c = byte(i);
    std::size_t n;
    std::uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      n = 1, cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2, cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      if ((byte(i + k) & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (byte(i + k) & 0x3f);
    }
    static constexpr std::uint32_t min_cp[] = {0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += n + 1;
  }
  return true;
}

/// Limits for reading our own records back: as generous as a record allows. No
/// registry either: every type id 1..255 that was stored comes back.
wire::limits replay_limits() {
  wire::limits lim;
  lim.max_frame_bytes = max_record_bytes;
  lim.max_events =
      max_record_bytes; // every array entry takes at least one byte
  return lim;
}

// ---------------------------------------------------------------------------
// Dedupe index.
// ---------------------------------------------------------------------------

class dedupe_index {
 public:
  explicit dedupe_index(std::uint32_t window)
      : window_(std::max<std::uint32_t>(window, 1)) {}

  bool contains(std::string_view producer, std::uint64_t seq) const {
    auto it = producers_.find(producer);
    if (it == producers_.end()) return false;
    auto& st = it->second;
    if (seq > st.max) return false;
    if (st.max - seq >= window_)
      return true; // older than the window: treated as stored (documented)
    return test(st, seq);
  }

  void insert(std::string_view producer, std::uint64_t seq) {
    auto it = producers_.find(producer);
    if (it == producers_.end()) {
      producer_state st;
      st.max = seq;
      st.bits.assign((window_ + 63) / 64, 0);
      set(st, seq);
      producers_.emplace(std::string{producer}, std::move(st));
      return;
    }
    auto& st = it->second;
    if (seq > st.max) {
      // Slots of the seqs we skip over now belong to them, and they are unseen.
      if (seq - st.max >= window_) {
        std::fill(st.bits.begin(), st.bits.end(), 0);
      } else {
        for (auto q = st.max + 1; q <= seq; ++q)
          clear(st, q);
      }
      st.max = seq;
      set(st, seq);
    } else if (st.max - seq < window_) {
      set(st, seq);
    }
  }

 private:
  struct producer_state {
    std::uint64_t max = 0;           ///< highest seq stored
    std::vector<std::uint64_t> bits; ///< ring bitmap, slot = seq % window
  };

  // Heterogeneous lookup (eddy::string_hash): contains() runs per batch and must
  // not allocate.
  bool test(const producer_state& st, std::uint64_t seq) const {
    auto slot = seq % window_;
    return (st.bits[slot / 64] >> (slot % 64)) & 1u;
  }
  void set(producer_state& st, std::uint64_t seq) const {
    auto slot = seq % window_;
    st.bits[slot / 64] |= std::uint64_t{1} << (slot % 64);
  }
  void clear(producer_state& st, std::uint64_t seq) const {
    auto slot = seq % window_;
    st.bits[slot / 64] &= ~(std::uint64_t{1} << (slot % 64));
  }

  std::uint64_t window_;
  std::unordered_map<std::string, producer_state, string_hash, std::equal_to<>>
      producers_;
};

// ---------------------------------------------------------------------------
// The one segment reader, shared by open() (replay) and scan().
// ---------------------------------------------------------------------------

/// Streams a file through a bounded buffer with pread: views of [off, off + n),
/// clipped at `limit`. The buffer grows only to the largest record.
class chunk_reader {
 public:
  chunk_reader(int fd, std::uint64_t limit) : fd_(fd), limit_(limit) {}

  /// A view of up to `n` bytes at `off` (fewer only at the limit or end of
  /// file); valid until the next call. A read error is returned as errno.
  std::pair<std::string_view, int> peek(std::uint64_t off, std::size_t n) {
    if (off >= limit_) return {{}, 0};
    n = static_cast<std::size_t>(std::min<std::uint64_t>(n, limit_ - off));
    if (off >= buf_off_ && off + n <= buf_off_ + buf_len_)
      return {std::string_view{buf_.data() + (off - buf_off_), n}, 0};
    auto want = static_cast<std::size_t>(
        std::min<std::uint64_t>(std::max(n, read_chunk_bytes), limit_ - off));
    if (buf_.size() < want) buf_.resize(want);
    std::size_t got = 0;
    while (got < want) {
      auto r = ::pread(fd_, buf_.data() + got, want - got,
                       static_cast<off_t>(off + got));
      if (r < 0) {
        if (errno == EINTR) continue;
        buf_len_ = 0;
        return {{}, errno};
      }
      if (r == 0) break; // the file is shorter than the limit
      got += static_cast<std::size_t>(r);
    }
    buf_off_ = off;
    buf_len_ = got;
    return {std::string_view{buf_.data(), std::min(n, got)}, 0};
  }

 private:
  int fd_;
  std::uint64_t limit_;
  std::vector<char> buf_;
  std::uint64_t buf_off_ = 0;
  std::size_t buf_len_ = 0;
};

struct segment_read {
  std::uint64_t good_end = 0; ///< offset just after the last good record
  std::uint64_t batches = 0;
  std::uint64_t events = 0;
  std::uint8_t format = segment_format; ///< from the header, if it was read
  bool torn = false; ///< stopped at a bad record (at good_end) before limit
  std::string why;   ///< what was bad there
};

/// Reads the records of one segment up to `limit` bytes, calling `on_batch` for
/// each. A short or checksum-failing record stops the read with `torn` set: the
/// caller decides whether that is a torn tail or corruption. Errors that are
/// never a torn write (I/O error, foreign or newer file, a checksummed record
/// that does not decode) are returned as an error.
expected<segment_read>
read_segment(int fd, const std::string& path, std::uint64_t limit,
             const std::function<void(const wire::batch&)>& on_batch) {
  static const auto lim = replay_limits();
  segment_read out;
  chunk_reader in{fd, limit};
  auto io_error = [&](int err) { return sys_error("read", path, err); };

  auto [head, err] = in.peek(0, segment_header_bytes);
  if (err != 0) return io_error(err);
  if (head.size() < segment_header_bytes) {
    out.torn = true;
    out.why = "segment header cut short (" + std::to_string(head.size()) +
              " of " + std::to_string(segment_header_bytes) + " bytes)";
    return out;
  }
  if (!std::equal(segment_magic.begin(), segment_magic.end(), head.begin()))
    return error{
        "shard log: " + path +
        " is not an eddy shard log segment (bad magic); move it out of "
        "the shard folder"};
  auto format = static_cast<std::uint8_t>(head[segment_magic.size()]);
  if (format == 0 || format > segment_format)
    return error{"shard log: " + path + " has segment format " +
                 std::to_string(format) + " (this build reads 1.." +
                 std::to_string(segment_format) + "); upgrade eddy"};
  out.format = format;

  std::uint64_t off = segment_header_bytes;
  while (off < limit) {
    auto [rh, e1] = in.peek(off, record_header_bytes);
    if (e1 != 0) return io_error(e1);
    if (rh.size() < record_header_bytes) {
      out.torn = true;
      out.why = "record header cut short (" + std::to_string(rh.size()) +
                " of " + std::to_string(record_header_bytes) + " bytes)";
      break;
    }
    auto len = get_le32(rh.data());
    auto crc = get_le32(rh.data() + 4);
    if (len == 0 || len > max_record_bytes) {
      out.torn = true;
      out.why = "implausible record length " + std::to_string(len);
      break;
    }
    auto [payload, e2] = in.peek(off + record_header_bytes, len);
    if (e2 != 0) return io_error(e2);
    if (payload.size() < len) {
      out.torn = true;
      out.why = "record of " + std::to_string(len) + " bytes cut short (" +
                std::to_string(payload.size()) + " present)";
      break;
    }
    if (checksum(format, payload) != crc) {
      out.torn = true;
      out.why = "checksum mismatch";
      break;
    }
    auto b = wire::decode_batch(payload, lim, nullptr);
    if (!b)
      return error{"shard log: " + path + ": the record at offset " +
                   std::to_string(off) +
                   " passes its checksum but does not decode (" +
                   b.err().message +
                   "); was it written by a newer eddy? Nothing was truncated"};
    out.batches += 1;
    out.events += b->events.size() + b->rejects.size();
    if (on_batch) on_batch(*b);
    off += record_header_bytes + len;
  }
  out.good_end = off;
  return out;
}

// ---------------------------------------------------------------------------
// Small syscall helpers (EINTR-safe).
// ---------------------------------------------------------------------------

int write_all(int fd, const char* p, std::size_t n, std::uint64_t off) {
  while (n > 0) {
    auto r = ::pwrite(fd, p, n, static_cast<off_t>(off));
    if (r < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (r == 0) return EIO; // no progress and no error: do not spin
    p += r;
    n -= static_cast<std::size_t>(r);
    off += static_cast<std::uint64_t>(r);
  }
  return 0;
}

int truncate_to(int fd, std::uint64_t size) {
  while (::ftruncate(fd, static_cast<off_t>(size)) != 0) {
    if (errno != EINTR) return errno;
  }
  return 0;
}

int data_sync(int fd) {
  while (::fdatasync(fd) != 0) {
    if (errno != EINTR) return errno;
  }
  return 0;
}

/// fsync of a folder, so a new entry in it survives power loss. Some
/// filesystems refuse fsync on folders (EINVAL): nothing more can be done
/// there.
int folder_sync(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  int e = 0;
  while (::fsync(fd) != 0) {
    if (errno != EINTR) {
      e = errno == EINVAL ? 0 : errno;
      break;
    }
  }
  ::close(fd);
  return e;
}

void close_fd(int& fd) {
  if (fd >= 0)
    ::close(fd); // a close error after fdatasync cannot lose synced data
  fd = -1;
}

} // namespace

// ---------------------------------------------------------------------------
// shard_log
// ---------------------------------------------------------------------------

struct shard_log::impl {
  struct segment {
    std::string path;
    std::uint64_t first = 0; ///< ordinal of its first batch
    std::uint64_t size = 0;  ///< bytes, header included
    std::uint8_t format = segment_format; ///< its records' checksum
  };

  explicit impl(const shard_log_options& o)
      : opt(o), dedupe(o.log.dedupe_window) {}

  ~impl() {
    // Clean shutdown in group mode: make what was acked durable. An error
    // cannot be reported from here; the next open replays whatever reached the
    // disk.
    if (fd >= 0 && dirty && opt.log.fsync == fsync_policy::group) data_sync(fd);
    close_fd(fd);
    close_fd(dir_fd); // releases the folder lock
  }

  impl(const impl&) = delete;
  impl& operator=(const impl&) = delete;

  bool syncs_dir() const { return opt.log.fsync != fsync_policy::none; }

  segment& current() { return segments.back(); }

  /// After this the log refuses writes until reopened (see the top of the
  /// file).
  error poison(error e) {
    if (failed.empty()) failed = e.message;
    return e;
  }

  status check_usable() const {
    if (failed.empty()) return {};
    return error{"shard log " + opt.dir +
                 " refuses writes after an earlier failure (" + failed +
                 "); reopen it (restart the shard) to replay and check it"};
  }

  status sync_dir() {
    if (!syncs_dir()) return {};
    if (int e = folder_sync(opt.dir); e != 0)
      return sys_error("fsync folder", opt.dir, e);
    return {};
  }

  status sync_current() {
    if (fd < 0 || !dirty) return {};
    if (int e = data_sync(fd); e != 0)
      return poison(sys_error("fdatasync", current().path, e));
    dirty = false;
    ++syncs;
    return {};
  }

  /// Creates segment `first` with its header and makes it the current one.
  status new_segment(std::uint64_t first) {
    auto path = (fs::path{opt.dir} / segment_name(first)).string();
    int nfd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (nfd < 0) return sys_error("create segment", path, errno);
    auto header = segment_header();
    if (int e = write_all(nfd, header.data(), header.size(), 0); e != 0) {
      ::close(nfd);
      ::unlink(path.c_str());
      return sys_error("write the header of", path, e);
    }
    if (auto st = sync_dir(); !st) {
      ::close(nfd);
      ::unlink(path.c_str());
      return st;
    }
    close_fd(fd);
    fd = nfd;
    segments.push_back({path, first, header.size()});
    bytes += header.size();
    current_records = 0;
    return {};
  }

  /// The old segment is synced first (unless fsync = none): after power loss a
  /// segment that is not the last must be complete, or open() reports
  /// corruption.
  status roll() {
    if (syncs_dir())
      if (auto st = sync_current(); !st) return st;
    return new_segment(batches);
  }

  shard_log_options opt;
  int dir_fd = -1; ///< the folder, flock()ed while open
  int fd = -1;     ///< the current (last) segment, read-write
  std::vector<segment> segments;
  std::uint64_t current_records = 0;
  std::uint64_t bytes = 0;
  std::uint64_t events = 0;
  std::uint64_t batches = 0;
  std::uint64_t syncs = 0;
  bool dirty = false; ///< appended since the last fdatasync
  std::optional<std::chrono::steady_clock::time_point>
      last_sync;      ///< by sync_if_due
  std::string failed; ///< set once poisoned
  std::string record; ///< reused encode buffer
  dedupe_index dedupe;
};

shard_log::shard_log(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

shard_log::~shard_log() = default;

expected<std::unique_ptr<shard_log>>
shard_log::open(const shard_log_options& opt, const replay_fn& on_batch,
                replay_stats* stats) {
  if (opt.dir.empty()) return error{"shard log: no folder given"};
  auto s = std::make_unique<impl>(opt);

  std::error_code ec;
  bool created = fs::create_directories(opt.dir, ec);
  if (ec)
    return error{"shard log: cannot create folder " + opt.dir + ": " +
                 ec.message()};
  if (created && s->syncs_dir()) {
    // The new folder's own entry must survive power loss too.
    auto parent = fs::absolute(fs::path{opt.dir}, ec).lexically_normal();
    parent = parent.has_filename() ? parent.parent_path()
                                   : parent.parent_path().parent_path();
    if (int e = ec ? 0 : folder_sync(parent.string()); e != 0)
      return sys_error("fsync folder", parent.string(), e);
  }
  s->dir_fd = ::open(opt.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (s->dir_fd < 0) return sys_error("open folder", opt.dir, errno);
  if (::flock(s->dir_fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK)
      return error{"shard log: " + opt.dir +
                   " is already open (by another process or another shard_log "
                   "in this one); one writer per shard log"};
    return sys_error("lock folder", opt.dir, errno);
  }

  // Segments in ordinal order; other files in the folder are left alone.
  std::vector<impl::segment> found;
  for (fs::directory_iterator it{opt.dir, ec}, end; !ec && it != end;
       it.increment(ec)) {
    auto name = it->path().filename().string();
    if (auto first = parse_segment_name(name))
      found.push_back({it->path().string(), *first, 0});
  }
  if (ec)
    return error{"shard log: cannot list folder " + opt.dir + ": " +
                 ec.message()};
  std::sort(found.begin(), found.end(),
            [](auto& a, auto& b) { return a.first < b.first; });

  replay_stats st;
  auto replay = [&](const wire::batch& b) {
    s->dedupe.insert(b.producer, b.seq);
    if (on_batch) on_batch(b);
  };
  for (std::size_t i = 0; i < found.size(); ++i) {
    auto& seg = found[i];
    bool last = i + 1 == found.size();
    if (seg.first != s->batches)
      return error{"shard log: " + seg.path + " should start at batch " +
                   std::to_string(s->batches) +
                   " (the segments before it hold that many); a segment is "
                   "missing or out of place"};
    int fd = ::open(seg.path.c_str(), (last ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (fd < 0) return sys_error("open", seg.path, errno);
    struct stat sb {};
    if (::fstat(fd, &sb) != 0) {
      int e = errno;
      ::close(fd);
      return sys_error("stat", seg.path, e);
    }
    auto size = static_cast<std::uint64_t>(sb.st_size);
    auto r = read_segment(fd, seg.path, size, replay);
    if (!r) {
      ::close(fd);
      return r.err();
    }
    if (r->torn && !last) {
      ::close(fd);
      return error{"shard log: " + seg.path + ": corrupt record at offset " +
                   std::to_string(r->good_end) + " (" + r->why +
                   "); it is not the last segment, so this is not a torn "
                   "write: restore the segment or move it and the ones after "
                   "it out of " +
                   opt.dir + ", then restart"};
    }
    if (r->torn) {
      // Torn tail: cut it off so new records follow the last good one.
      auto keep = r->good_end;
      st.truncated_bytes += size - keep;
      if (int e = truncate_to(fd, keep); e != 0) {
        ::close(fd);
        return sys_error("truncate the torn tail of", seg.path, e);
      }
      if (keep < segment_header_bytes) {
        // Crash between creating the file and writing its header.
        auto header = segment_header();
        if (int e = write_all(fd, header.data(), header.size(), 0); e != 0) {
          ::close(fd);
          return sys_error("rewrite the header of", seg.path, e);
        }
        keep = header.size();
      }
      if (int e = s->syncs_dir() ? data_sync(fd) : 0; e != 0) {
        ::close(fd);
        return sys_error("fdatasync", seg.path, e);
      }
      size = keep;
    }
    seg.size = size;
    seg.format = r->format; // the newest one if the header was rewritten just now
    s->batches += r->batches;
    s->events += r->events;
    s->bytes += size;
    if (last) {
      s->fd = fd;
      s->current_records = r->batches;
    } else {
      ::close(fd);
    }
  }
  s->segments = std::move(found);
  if (s->segments.empty())
    if (auto made = s->new_segment(0); !made) return error{made.message()};

  st.segments = s->segments.size();
  st.batches = s->batches;
  st.events = s->events;
  st.bytes = s->bytes;
  if (stats) *stats = st;
  return std::unique_ptr<shard_log>(new shard_log(std::move(s)));
}

expected<shard_log::append_result>
shard_log::append(std::string_view producer, std::uint64_t seq,
                  std::span<const event_view> events) {
  const part one{producer, seq, events};
  std::vector<append_result> out;
  if (auto ok = append(std::span<const part>{&one, 1}, out); !ok) return error{ok.message()};
  return out.front();
}

status shard_log::append(std::span<const part> parts, std::vector<append_result>& out) {
  auto& s = *impl_;
  out.clear();
  if (auto ok = s.check_usable(); !ok) return ok;
  for (auto& p : parts)
    if (p.producer.empty() || p.producer.size() > wire::limits{}.max_producer_bytes ||
        !valid_utf8(p.producer))
      return error{
          "shard log " + s.opt.dir +
          ": refusing a batch whose producer name is empty, longer than " +
          std::to_string(wire::limits{}.max_producer_bytes) +
          " bytes or not UTF-8 (it could not be read back)"};

  out.assign(parts.size(), append_result::duplicate);
  std::size_t settled = 0; // parts before this one are written or duplicates
  auto fail = [&](status st) {
    out.resize(settled);
    return st;
  };
  // Records for the current segment, written with one pwrite: `waiting` lists
  // their parts. Written before a roll and at the end.
  auto& buf = s.record;
  buf.clear();
  std::vector<std::size_t> waiting;
  const auto sync_from = s.current().size; // per_batch: what this call wrote here
  bool rolled = false;

  auto write_waiting = [&]() -> status {
    if (buf.empty()) return {};
    auto& seg = s.current();
    auto at = seg.size;
    if (int e = write_all(s.fd, buf.data(), buf.size(), at); e != 0) {
      auto err = sys_error("append " + std::to_string(buf.size()) +
                               " bytes at offset " + std::to_string(at) + " to",
                           seg.path, e);
      // A partial write would sit between good records: cut it back.
      if (int e2 = truncate_to(s.fd, at); e2 != 0)
        return s.poison(error{err.message +
                              "; cutting it back failed too: " + errno_text(e2)});
      return err;
    }
    seg.size += buf.size();
    s.bytes += buf.size();
    for (auto i : waiting) {
      s.events += parts[i].events.size();
      s.batches += 1;
      s.current_records += 1;
      s.dedupe.insert(parts[i].producer, parts[i].seq);
      out[i] = append_result::appended;
    }
    if (s.opt.log.fsync != fsync_policy::per_batch) s.dirty = true;
    buf.clear();
    waiting.clear();
    return {};
  };

  for (std::size_t i = 0; i < parts.size(); ++i) {
    const auto& p = parts[i];
    if (s.dedupe.contains(p.producer, p.seq)) continue;
    // A repeat inside this call (not in the index until written).
    if (std::any_of(waiting.begin(), waiting.end(), [&](std::size_t w) {
          return parts[w].seq == p.seq && parts[w].producer == p.producer;
        }))
      continue;
    const auto start = buf.size();
    buf.append(record_header_bytes, '\0');
    wire::encode_batch(p.producer, p.seq, p.events, buf);
    const auto payload = std::string_view{buf}.substr(start + record_header_bytes);
    if (payload.size() > max_record_bytes) {
      auto err = error{"shard log " + s.opt.dir + ": batch of " +
                       std::to_string(payload.size()) +
                       " bytes is over the record limit of " +
                       std::to_string(max_record_bytes) + " bytes"};
      buf.resize(start);
      if (auto ok = write_waiting(); !ok) return fail(ok);
      settled = i;
      return fail(err);
    }
    const auto payload_size = static_cast<std::uint32_t>(payload.size());
    // Roll before writing, so a segment exceeds segment_bytes only when a single
    // record does (a segment always holds at least one record).
    std::size_t at = start;
    if (s.current_records + waiting.size() > 0 &&
        s.current().size + buf.size() > s.opt.log.segment_bytes) {
      std::string rec = buf.substr(start);
      buf.resize(start);
      if (auto ok = write_waiting(); !ok) return fail(ok);
      settled = i;
      if (auto ok = s.roll(); !ok) return fail(ok);
      rolled = true;
      buf = std::move(rec);
      at = 0;
    }
    // The checksum of the segment that holds the record (its format).
    put_le32(buf.data() + at, payload_size);
    put_le32(buf.data() + at + 4,
             checksum(s.current().format,
                      std::string_view{buf}.substr(at + record_header_bytes)));
    waiting.push_back(i);
  }
  if (auto ok = write_waiting(); !ok) return fail(ok);
  settled = parts.size();

  if (s.opt.log.fsync == fsync_policy::per_batch &&
      std::any_of(out.begin(), out.end(),
                  [](auto r) { return r == append_result::appended; })) {
    // A roll synced the segments before the current one.
    if (int e = data_sync(s.fd); e != 0) {
      // Not durable, so not acked: take back what this call wrote here, or a
      // resend would be taken for a duplicate of a batch that may never reach
      // the disk.
      truncate_to(s.fd, rolled ? segment_header_bytes : sync_from);
      out.clear(); // nothing of this call counts as stored (earlier segments are,
                   // but the poisoned log has to be reopened anyway)
      return s.poison(sys_error("fdatasync", s.current().path, e));
    }
    ++s.syncs;
  }
  return {};
}

bool shard_log::contains(std::string_view producer, std::uint64_t seq) const {
  return impl_->dedupe.contains(producer, seq);
}

status shard_log::sync_if_due(std::chrono::steady_clock::time_point now) {
  auto& s = *impl_;
  if (s.opt.log.fsync != fsync_policy::group || !s.dirty) return {};
  // The first sync is due at once; then at most one per group_commit_ms.
  if (s.last_sync &&
      now - *s.last_sync < std::chrono::milliseconds{s.opt.log.group_commit_ms})
    return {};
  if (auto ok = s.check_usable(); !ok) return ok;
  if (auto ok = s.sync_current(); !ok) return ok;
  s.last_sync = now;
  return {};
}

status shard_log::sync() {
  auto& s = *impl_;
  if (auto ok = s.check_usable(); !ok) return ok;
  return s.sync_current();
}

std::uint64_t shard_log::bytes() const {
  return impl_->bytes;
}
std::uint64_t shard_log::events() const {
  return impl_->events;
}
std::uint64_t shard_log::batches() const {
  return impl_->batches;
}
std::uint64_t shard_log::syncs() const {
  return impl_->syncs;
}

status shard_log::scan(const replay_fn& on_batch) const {
  // Reads exactly what open() validated plus what was appended since: each
  // segment up to its known size. Anything odd there now is corruption, never
  // truncated.
  for (auto& seg : impl_->segments) {
    int fd = ::open(seg.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return sys_error("open", seg.path, errno);
    auto r = read_segment(fd, seg.path, seg.size, on_batch);
    ::close(fd);
    if (!r) return r.err();
    if (r->torn)
      return error{"shard log: " + seg.path + ": corrupt record at offset " +
                   std::to_string(r->good_end) + " (" + r->why +
                   ") found by scan; the file changed since it was opened"};
  }
  return {};
}

} // namespace eddy::cluster
