#pragma once
// "You May Also Like" lists on their items' owners (DESIGN.md §5), CAF-free.
//
// After an ALS run, the coordinator joins the LSH buckets of the item factors
// on every node's ALS worker (actors/als_protocol.hpp "join"), merges the
// lists and sends each node the lists of the items of its shards ("store").
// Each node keeps them under DATA_DIR/NODE/models/:
//   similar-<trained_by>-<version>-<created_ms>/table.msgpack  the encoding below
//   similar-<trained_by>-<version>-<created_ms>/SIMILAR.json   its header, readable
//   similar.current -> similar-<trained_by>-<version>-<created_ms>  (a symlink)
// (created_ms makes every table's name new: a reader that loaded a name never
// sees other contents under it.)
// The directory is written under a temporary name, fsynced and renamed; then
// a new symlink replaces similar.current with one rename: serving sees the
// old table or the new one, never a mix. Older tables stay on disk.
//
// table.msgpack: [format 1, model, version, trained_by, created_ms,
//   data_max_ts, recall_at_10, recall_sample, n, items (str array, ascending),
//   names (str array), last_ts (bin int64 per name), ids (bin int32, items x n,
//   into names, -1 pad), scores (bin float32)].
// `names` are the distinct neighbours, `last_ts` the newest event of each at
// training time (the "seen in the last N days" filter).
//
// A query ("similar" client command, args below) goes to the owners of its
// items; each answers that item's list (encode_item_list), and the node asked
// combines them (similar_json):
//   - one item: its list, best first (cosine of the ALS item factors);
//   - several items (a visitor's recent items): each candidate's score is the
//     sum of its cosines with the query items whose lists hold it (an item
//     close to several of them ranks first); query items never come back;
//   - exclude=A,B drops those items; days=N keeps only items with an event in
//     the N days before the newest event of the training data;
//   - ties by item id; at most k (<= the n the table keeps).

#include "schema/error.hpp"

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace eddy::actors {

struct similar_table {
  std::string model;      ///< "n1/als-3": the ALS model the lists come from
  std::uint64_t version = 0;
  std::string trained_by; ///< the node that coordinated the run
  std::int64_t created_ms = 0;
  std::int64_t data_max_ts = 0;  ///< newest event of the training data
  double recall_at_10 = -1;      ///< vs exact cosine top-10 on a sample
  std::uint32_t recall_sample = 0;
  std::int32_t n = 0;            ///< list length kept per item
  std::vector<std::string> items; ///< ascending: the rows
  std::vector<std::string> names; ///< neighbour dictionary
  std::vector<std::int64_t> last_ts; ///< per name
  std::vector<std::int32_t> ids;     ///< items * n, into names, -1 = none
  std::vector<float> scores;         ///< items * n

  /// The row of `item`, if this table has it.
  std::optional<std::size_t> row_of(std::string_view item) const;
};

std::string encode_similar_table(const similar_table& t);
expected<similar_table> decode_similar_table(std::string_view bytes);

/// Writes `t` under `models_dir` and switches similar.current to it. Returns
/// the directory written.
expected<std::string> store_similar_table(const std::string& models_dir,
                                          const similar_table& t);

/// The directory name similar.current points to, if any.
std::optional<std::string> current_similar(const std::string& models_dir);

/// Reads models_dir/name/table.msgpack.
expected<std::shared_ptr<const similar_table>>
read_similar_table(const std::string& models_dir, const std::string& name);

/// The table similar.current points to, read again only when the link switches
/// to another table (the switch is one pointer). Thread-safe: the model server
/// and a node's HTTP threads share the loading rule.
/// similar-<trained_by>-<version>-<created_ms>: the table's folder name, the
/// same on every node for the lists of one ALS run.
std::string table_id(const similar_table& t);

class current_similar_table {
public:
  explicit current_similar_table(std::string models_dir) : dir_(std::move(models_dir)) {}
  /// The current table; null while there is none; an error if it cannot be read.
  expected<std::shared_ptr<const similar_table>> get();

private:
  std::string dir_;
  std::mutex mutex_;
  std::string name_; ///< the similar.current target loaded
  std::shared_ptr<const similar_table> table_;
};

/// A parsed "similar" query: item=ID or items=A,B,..; k (default 10);
/// exclude=A,B; days=N. Lists are split on their commas first, then each
/// entry is %XX-decoded once (a comma inside an id travels as %2C).
struct similar_query {
  std::vector<std::string> items;
  std::size_t k = 10;
  std::vector<std::string> exclude;
  std::optional<std::int64_t> days;
};
expected<similar_query> parse_similar_query(std::string_view args);

/// One item's list as its owner sends it to the node combining the answer;
/// `t` may be null (no table on that node yet).
std::string encode_item_list(const similar_table* t, const std::string& item,
                             const std::string& node);
/// An item_list that says why the owner could not answer.
std::string encode_item_error(const std::string& item, const std::string& why);

/// The JSON answer to `q` from the owners' item lists (one per q.items, in
/// order): {"query":[..],"model":..,"model_version":..,"recall_at_10":..,
/// "k":..,"similar":[{"item":..,"score":..}],"unknown":[..]}, or
/// {"error": why} when no query item could be answered.
std::string similar_json(const similar_query& q,
                         const std::vector<std::string>& lists);

} // namespace eddy::actors
