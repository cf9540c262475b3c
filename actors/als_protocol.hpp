#pragma once
// Distributed ALS (DESIGN.md §5): the messages between the ALS coordinator and
// the ALS workers, CAF-free. Every message is one MessagePack array
// [op, run, ...]; numeric arrays travel as MessagePack bin (raw little-endian
// float32 / int32 / int64 / float64), so a factor block costs 4 bytes per
// value. The same bytes go to the local worker (a CAF message) and to a peer's
// worker (node frames ["als", corr, bytes] -> ["alsr", corr, bytes], routed by
// the gateways), so one code path serves 1 or N nodes.
//
//  load    coordinator -> worker: the type weights (256 floats). The worker
//  scans
//          its node's shard logs and answers with r(user, item) = sum of the
//          weights of the pair's events, for the items of its shards (pairs
//          with r > 0 only), as dictionaries of its user and item ids plus
//          index pairs.
//  assign  one of the worker's blocks (one message per side): its user block
//  (CSR
//          rows = its users, columns = GLOBAL item index) or item block (rows =
//          its items, columns = GLOBAL user index), values = confidences 1 +
//          alpha r; the block's initial factor rows (warm starts) and their
//          global indices; which of its rows each peer's block needs; factors,
//          CG steps, threads.
//  solve   one half-step of one side: the k x k gram (reg included). The
//          worker solves its rows over the other side's rows its block
//          references, placed there by "rows" messages and by itself, waiting
//          for any still on their way (a row missing, repeated or out of place
//          fails the solve); it answers their partial gram (rows^T rows,
//          float64), if asked its loss terms, and if asked the new rows
//          themselves (the coordinator wants them for the model: in the last
//          iteration, or every time with gram=coordinator). With "share", it
//          then sends its new rows straight to the workers whose blocks
//          reference them ("rows"). The run's first solve ("start") first
//          shares the initial rows of the worker's other block the same way.
//  rows    worker -> worker: rows the sender just solved that the receiver's
//          block of `which` references, with their positions in that block's
//          needed rows ("placed"). They travel while slower workers still
//          solve, and never through the coordinator. A worker places its own
//          new rows itself (assign gives each block row's global index), so
//          no row travels to the node that solved it. assign tells each
//          worker which of its rows each peer needs.
//  join    after the last iteration (the similar-items table, DESIGN.md §5): a
//          share of the LSH buckets of the normalized item factors, over the
//          rows they reference (renumbered 0..m-1, with their global item
//          indices and vectors); the worker runs models::join_buckets and
//          answers each row's top-n in global indices ("joined").
//  store   the similar-items lists of the items of the worker's shards
//          (actors/similar_table.hpp bytes): the worker writes them under its
//          node's models directory and switches serving to them ("stored").
//  error   any step that failed on the worker: [ "error", run, message ].

#include "models/als.hpp"
#include "models/lsh.hpp"
#include "models/similar.hpp"
#include "schema/error.hpp"

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace eddy::actors::als {

enum class side : std::uint8_t { users = 0, items = 1 };

struct load_request {
  std::uint64_t run = 0;
  std::array<float, 256> weights{};
};

struct load_reply {
  std::uint64_t run = 0;
  std::vector<std::string> users, items; ///< ascending byte order, unique
  std::vector<std::int32_t> pair_user,
      pair_item;        ///< indices into users / items
  std::vector<float> r; ///< r(user, item) > 0 per pair
  std::uint64_t events = 0, zero_weight = 0;
  std::int64_t min_ts = 0, max_ts = 0; ///< of the events read (0 if none)
  std::vector<std::int64_t> item_last_ts; ///< per item: its newest event
};

/// One side's block (two messages per worker, users then items, to keep each
/// under the node links' message limit).
struct assign_request {
  std::uint64_t run = 0;
  side which = side::users;
  int factors = 0, cg_steps = 0, threads = 1;
  /// users: rows = the block's users, cols = global items; items: rows = the
  /// block's items, cols = global users.
  models::csr_matrix block;
  models::factor_matrix rows; ///< warm starts
  std::vector<std::int32_t> globals; ///< global index of each block row
  /// After each solve with "share": rows local[i] of the block go to the
  /// peer's needed rows at positions[i].
  struct peer_rows {
    std::string node;
    std::vector<std::int32_t> local, positions;
  };
  std::vector<peer_rows> peers;
};

struct solve_request {
  std::uint64_t run = 0;
  side which = side::users;
  bool want_loss = false;
  /// The run's first half-step: first send the initial rows of the other
  /// block to the peers that need them (and place this worker's own).
  bool start = false;
  bool want_rows = false; ///< the reply carries the new rows
  /// Send the new rows to the peers that need them. false only in the run's
  /// last half-step: nothing follows, and the worker frees its blocks.
  bool share = false;
  Eigen::MatrixXf gram; ///< k x k, reg included
};

/// Rows for a block's needed rows: rows.row(i) goes to position positions[i].
struct rows_message {
  std::uint64_t run = 0;
  side which = side::users; ///< the block that needs them (rows of the other side)
  std::vector<std::int32_t> positions;
  std::string_view rows; ///< positions.size() x k float32, in the decoded bytes
  std::int64_t k = 0;
};

struct solve_reply {
  std::uint64_t run = 0;
  side which = side::users;
  models::factor_matrix rows;   ///< the block's new rows (0 rows unless wanted)
  Eigen::MatrixXd partial_gram; ///< rows^T rows
  models::loss_terms loss;
  std::uint64_t shared_bytes = 0; ///< "rows" bytes sent to peers after this solve
};

struct join_request {
  std::uint64_t run = 0;
  int n = 0, threads = 1;
  std::vector<std::int32_t> items; ///< global index of each row, ascending
  models::factor_matrix vectors;   ///< normalized item factors, one per row
  models::bucket_list buckets;     ///< over rows 0 .. items.size() - 1
};

struct join_reply {
  std::uint64_t run = 0;
  models::neighbor_table table; ///< query and ids are global item indices
  std::uint64_t comparisons = 0;
};

struct store_request {
  std::uint64_t run = 0;
  std::string table; ///< actors/similar_table.hpp encoding
};

/// key=value&key=value with %XX escapes (the syntax of every client query);
/// errors name the bad part.
expected<std::map<std::string, std::string>> parse_args(std::string_view args);

/// The ascending, unique columns a CSR references: the other side's rows a
/// block needs.
std::vector<std::int32_t> needed_columns(const models::csr_matrix& m);
/// The same for rows `rows` of m only (what a block built from them needs).
std::vector<std::int32_t> needed_columns(const models::csr_matrix& m,
                                         const std::vector<std::int32_t>& rows);

std::string op_of(std::string_view bytes); ///< "" if malformed

std::string encode(const load_request& m);
std::string encode(const load_reply& m);
std::string encode(const assign_request& m);
std::string encode_assigned(std::uint64_t run);
std::string encode(const solve_request& m);
std::string encode(const solve_reply& m);
/// Rows src_rows[i] of src, to be placed at positions[i] (same length).
std::string encode_rows(std::uint64_t run, side which, const std::vector<std::int32_t>& positions,
                        const models::factor_matrix& src,
                        const std::vector<std::int32_t>& src_rows);
std::string encode_placed(std::uint64_t run);
std::string encode(const join_request& m);
std::string encode(const join_reply& m);
std::string encode(const store_request& m);
std::string encode_stored(std::uint64_t run, const std::string& path);
std::string encode_error(std::uint64_t run, const std::string& message);

expected<load_request> decode_load_request(std::string_view bytes);
expected<load_reply> decode_load_reply(std::string_view bytes);
expected<assign_request> decode_assign_request(std::string_view bytes);
expected<std::uint64_t> decode_assigned(std::string_view bytes);
expected<solve_request> decode_solve_request(std::string_view bytes);
expected<solve_reply> decode_solve_reply(std::string_view bytes);
/// The view's rows point into `bytes`, which must outlive it.
expected<rows_message> decode_rows(std::string_view bytes);
expected<join_request> decode_join_request(std::string_view bytes);
expected<join_reply> decode_join_reply(std::string_view bytes);
expected<store_request> decode_store_request(std::string_view bytes);
expected<std::string> decode_stored(std::string_view bytes); ///< the path
/// The message of an "error" reply.
std::string decode_error(std::string_view bytes);

} // namespace eddy::actors::als
