#pragma once
// ALS model artifacts (DESIGN.md §5 "models are versioned"), CAF-free.
//
// DATA_DIR/NODE/models/als-<version>/ (version = 1, 2, ... per node), written
// into a temporary sibling directory, every file fsynced, then renamed into
// place (and the models directory fsynced): a reader sees a whole model or
// none.
//   MODEL.json         version, settings, sizes, per-iteration losses, data
//   range users.ids          u32 count, then per id: u32 length + bytes (row
//   order) items.ids          the same for items (column order)
//   user_factors.f32   "EDDYF32\n", u64 rows, u64 cols, rows*cols float32
//   item_factors.f32   (row-major; all numbers little-endian)
//   seen.csr           "EDDYCSR\n", i64 rows, i64 cols, i64 nnz, indptr (i64 x
//                      rows+1), indices (i32 x nnz), values (float32 r x nnz):
//                      the training pairs, to filter already-seen items
// Ids are in ascending byte order (models/training.hpp), so row i of the user
// factors belongs to the i-th user id.

#include "models/als.hpp"
#include "models/training.hpp"
#include "schema/error.hpp"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

namespace eddy::actors {

struct als_artifact {
  std::uint64_t version = 0;
  std::string path;
  models::id_map users, items;
  models::factor_matrix user_factors, item_factors;
  models::csr_matrix
      seen;              ///< users x items, r(user, item) of the training pairs
  std::string meta_json; ///< MODEL.json
};

/// Writes `bytes` to `p` (created or truncated) and fsyncs it.
status write_synced(const std::filesystem::path& p, const std::string& bytes);
/// fsyncs a directory (after a rename into it).
status sync_dir(const std::filesystem::path& p);

/// The newest als-<version> under `models_dir`, if any.
std::optional<std::uint64_t> newest_artifact(const std::string& models_dir);

/// Writes `a` as the next version (a.version and a.meta_json's "version" field
/// are set by the caller from `version`; see next_artifact_version). Returns
/// the final path.
expected<std::string> write_artifact(const std::string& models_dir,
                                     const als_artifact& a);

/// newest_artifact() + 1 (1 when there is none).
std::uint64_t next_artifact_version(const std::string& models_dir);

expected<std::shared_ptr<const als_artifact>>
read_artifact(const std::string& models_dir, std::uint64_t version);

/// The JSON answer to "recommend": the top k items by x_u . y_i, without the
/// user's training items unless include_seen. An unknown user is an error that
/// says so.
expected<std::string> recommend_json(const als_artifact& a,
                                     const std::string& user, std::size_t k,
                                     bool include_seen);

} // namespace eddy::actors
