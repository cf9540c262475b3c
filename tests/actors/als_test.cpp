// Distributed ALS pieces without a cluster: the coordinator <-> worker encoding
// (round trips, malformed input is an error), the train arguments, and model
// artifacts (atomic versions, read back, recommendations without seen items).
// tests/integration/als_test.py runs the whole thing on 1 and 3 nodes.
#include "actors/als_artifact.hpp"
#include "actors/als_coordinator.hpp"
#include "actors/als_protocol.hpp"

#include "schema/interactions.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <unistd.h>

namespace eddy::actors {
namespace {

const interaction_registry& registry() {
  static auto r = interaction_registry::load(std::string{EDDY_SOURCE_DIR} +
                                             "/configs/interactions.toml");
  EXPECT_TRUE(r) << r.err().message;
  return *r;
}

models::csr_matrix small_csr() {
  return models::csr_matrix::from_triples(
      3, 4, {{0, 1, 2.0F}, {0, 3, 1.0F}, {2, 0, 6.0F}});
}

TEST(als_protocol, messages_round_trip) {
  als::load_request lr;
  lr.run = 77;
  lr.weights[3] = 2.5F;
  auto lr2 = als::decode_load_request(als::encode(lr));
  ASSERT_TRUE(lr2) << lr2.err().message;
  EXPECT_EQ(lr2->run, 77u);
  EXPECT_EQ(lr2->weights, lr.weights);

  als::load_reply ly;
  ly.run = 5;
  ly.users = {"a", "b"};
  ly.items = {"x"};
  ly.pair_user = {0, 1};
  ly.pair_item = {0, 0};
  ly.r = {1.0F, 3.5F};
  ly.events = 9;
  ly.zero_weight = 2;
  ly.min_ts = -4;
  ly.max_ts = 1700000000000;
  ly.item_last_ts = {1700000000000};
  auto ly2 = als::decode_load_reply(als::encode(ly));
  ASSERT_TRUE(ly2) << ly2.err().message;
  EXPECT_EQ(ly2->users, ly.users);
  EXPECT_EQ(ly2->r, ly.r);
  EXPECT_EQ(ly2->max_ts, ly.max_ts);
  EXPECT_EQ(ly2->item_last_ts, ly.item_last_ts);
  EXPECT_EQ(ly2->zero_weight, 2u);
  ly.item_last_ts.clear(); // one per item is required
  EXPECT_FALSE(als::decode_load_reply(als::encode(ly)));

  // The similar-items join: buckets over local rows, lists in global ids.
  als::join_request jr;
  jr.run = 8;
  jr.n = 10;
  jr.threads = 2;
  jr.items = {3, 7, 9};
  jr.vectors = models::factor_matrix::Identity(3, 4);
  jr.buckets.add(std::vector<std::int32_t>{0, 2});
  jr.buckets.add(std::vector<std::int32_t>{1, 2});
  auto jr2 = als::decode_join_request(als::encode(jr));
  ASSERT_TRUE(jr2) << jr2.err().message;
  EXPECT_EQ(jr2->items, jr.items);
  EXPECT_EQ(jr2->buckets.members, jr.buckets.members);
  EXPECT_EQ(jr2->buckets.offsets, jr.buckets.offsets);
  EXPECT_TRUE(jr2->vectors.isApprox(jr.vectors));
  auto bad = jr;
  bad.buckets.members[1] = 3; // only rows 0..2 exist
  EXPECT_FALSE(als::decode_join_request(als::encode(bad)));
  bad = jr;
  bad.n = 0;
  EXPECT_FALSE(als::decode_join_request(als::encode(bad)));
  als::join_reply jy;
  jy.run = 8;
  jy.table.n = 2;
  jy.table.rows = 1;
  jy.table.query = {3};
  jy.table.ids = {9, -1};
  jy.table.scores = {0.5F, -1.0F};
  jy.comparisons = 12;
  auto jy2 = als::decode_join_reply(als::encode(jy));
  ASSERT_TRUE(jy2) << jy2.err().message;
  EXPECT_EQ(jy2->table.ids, jy.table.ids);
  EXPECT_EQ(jy2->table.rows, 1);
  EXPECT_EQ(jy2->comparisons, 12u);
  jy.table.ids.pop_back();
  EXPECT_FALSE(als::decode_join_reply(als::encode(jy)));

  als::assign_request a;
  a.run = 1;
  a.which = als::side::items;
  a.factors = 2;
  a.cg_steps = 3;
  a.threads = 1;
  a.block = small_csr().transpose();
  a.rows = models::init_factors(4, 2, 1, 1, 0.1F);
  a.globals = {3, 5, 8, 13};
  a.peers = {{"n2", {0, 3}, {7, 1}}, {"n3", {}, {}}};
  auto a2 = als::decode_assign_request(als::encode(a));
  ASSERT_TRUE(a2) << a2.err().message;
  EXPECT_EQ(a2->which, als::side::items);
  EXPECT_EQ(a2->block.indices, a.block.indices);
  EXPECT_EQ(a2->block.values, a.block.values);
  EXPECT_EQ(a2->rows, a.rows);
  EXPECT_EQ(a2->globals, a.globals);
  ASSERT_EQ(a2->peers.size(), 2u);
  EXPECT_EQ(a2->peers[0].node, "n2");
  EXPECT_EQ(a2->peers[0].local, a.peers[0].local);
  EXPECT_EQ(a2->peers[0].positions, a.peers[0].positions);
  EXPECT_TRUE(a2->peers[1].local.empty());
  als::solve_request s;
  s.run = 1;
  s.which = als::side::items;
  s.want_loss = true;
  s.gram = Eigen::MatrixXf::Identity(2, 2);
  auto s2 = als::decode_solve_request(als::encode(s));
  ASSERT_TRUE(s2) << s2.err().message;
  EXPECT_EQ(s2->which, als::side::items);
  EXPECT_TRUE(s2->want_loss);
  EXPECT_EQ(s2->gram, s.gram);
  EXPECT_FALSE(s2->start);
  EXPECT_FALSE(s2->want_rows);
  EXPECT_FALSE(s2->share);
  s.start = true;
  s.want_rows = true;
  s.share = true;
  s2 = als::decode_solve_request(als::encode(s));
  ASSERT_TRUE(s2) << s2.err().message;
  EXPECT_TRUE(s2->start);
  EXPECT_TRUE(s2->want_rows);
  EXPECT_TRUE(s2->share);

  // "rows": the chosen rows of a block, gathered into the message in the given order.
  const std::vector<std::int32_t> positions{2, 0};
  const auto bytes = als::encode_rows(9, als::side::users, positions, a.rows, {3, 1});
  EXPECT_EQ(als::op_of(bytes), "rows");
  auto rm = als::decode_rows(bytes);
  ASSERT_TRUE(rm) << rm.err().message;
  EXPECT_EQ(rm->run, 9u);
  EXPECT_EQ(rm->which, als::side::users);
  EXPECT_EQ(rm->positions, positions);
  ASSERT_EQ(rm->k, 2);
  ASSERT_EQ(rm->rows.size(), 2 * 2 * sizeof(float));
  float got[4];
  std::memcpy(got, rm->rows.data(), sizeof got);
  EXPECT_EQ(got[0], a.rows(3, 0));
  EXPECT_EQ(got[1], a.rows(3, 1));
  EXPECT_EQ(got[2], a.rows(1, 0));
  EXPECT_EQ(got[3], a.rows(1, 1));
  EXPECT_EQ(als::op_of(als::encode_placed(9)), "placed");

  als::solve_reply sr;
  sr.run = 1;
  sr.rows = a.rows;
  sr.partial_gram = Eigen::MatrixXd::Constant(2, 2, 0.25);
  sr.loss = {1.5, 7.0, 3};
  sr.shared_bytes = 123456;
  auto sr2 = als::decode_solve_reply(als::encode(sr));
  ASSERT_TRUE(sr2) << sr2.err().message;
  EXPECT_EQ(sr2->rows, sr.rows);
  EXPECT_EQ(sr2->partial_gram, sr.partial_gram);
  EXPECT_EQ(sr2->loss.nnz, 3);
  EXPECT_EQ(sr2->shared_bytes, 123456u);

  EXPECT_EQ(als::op_of(als::encode_error(3, "disk full")), "error");
  EXPECT_EQ(als::decode_error(als::encode_error(3, "disk full")), "disk full");
}

TEST(als_protocol, malformed_messages_are_errors) {
  EXPECT_FALSE(als::decode_load_request("not msgpack at all"));
  EXPECT_FALSE(als::decode_solve_request(als::encode(als::load_request{})));
  EXPECT_EQ(als::op_of("\xff\x01"), "");
  als::assign_request a;
  a.factors = 2;
  a.block = small_csr();
  a.rows = models::factor_matrix(1, 2); // not one row per block row
  auto r = als::decode_assign_request(als::encode(a));
  ASSERT_FALSE(r);
  EXPECT_NE(r.err().message.find("do not match"), std::string::npos);
  a.rows = models::factor_matrix(small_csr().rows, 2);
  a.globals = {0}; // not one global index per block row
  r = als::decode_assign_request(als::encode(a));
  ASSERT_FALSE(r);
  EXPECT_NE(r.err().message.find("do not match"), std::string::npos);
  // A peer entry naming a row the block does not have.
  a.globals.assign(static_cast<std::size_t>(small_csr().rows), 0);
  a.peers = {{"n2", {0, 99}, {0, 1}}};
  r = als::decode_assign_request(als::encode(a));
  ASSERT_FALSE(r);
  EXPECT_NE(r.err().message.find("out of range"), std::string::npos);
  // Rows whose bytes do not match their positions and width.
  auto bytes = als::encode_rows(1, als::side::items, {0, 1}, a.rows, {0});
  auto rm = als::decode_rows(bytes);
  ASSERT_FALSE(rm);
  EXPECT_NE(rm.err().message.find("wrong size"), std::string::npos);
  // A solve cut short inside its gram.
  als::solve_request s;
  s.gram = Eigen::MatrixXf::Identity(2, 2);
  auto bad = als::encode(s);
  EXPECT_TRUE(als::decode_solve_request(bad));
  bad.pop_back();
  EXPECT_FALSE(als::decode_solve_request(bad));
}

TEST(als_protocol, needed_columns_and_args) {
  EXPECT_EQ(als::needed_columns(small_csr()),
            (std::vector<std::int32_t>{0, 1, 3}));
  EXPECT_EQ(als::needed_columns(small_csr(), {0}), (std::vector<std::int32_t>{1, 3}));
  EXPECT_EQ(als::needed_columns(small_csr(), {2, 1}), (std::vector<std::int32_t>{0}));
  auto a = als::parse_args("user=a%26b&k=5");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->at("user"), "a&b");
  EXPECT_FALSE(als::parse_args("user=%zz"));
  EXPECT_FALSE(als::parse_args("novalue"));
}

TEST(als_train_args, preset_overrides_and_errors) {
  auto s = parse_train_args("preset=movielens&iterations=3&seed=9", registry());
  ASSERT_TRUE(s) << s.err().message;
  EXPECT_EQ(s->als.factors, 64);
  EXPECT_EQ(s->als.iterations, 3);
  EXPECT_EQ(s->als.seed, 9u);
  EXPECT_EQ(s->alpha, 5.0F);
  EXPECT_EQ(s->weights_from, "unit");
  EXPECT_EQ(s->weights[200], 1.0F);
  auto d = parse_train_args("", registry());
  ASSERT_TRUE(d);
  EXPECT_EQ(d->weights_from, "registry");
  EXPECT_EQ(d->weights[*registry().resolve("rate")], 2.0F);
  auto bad = parse_train_args("factros=3", registry());
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.err().message.find("unknown argument 'factros'"),
            std::string::npos);
  EXPECT_FALSE(parse_train_args("factors=0", registry()));
  EXPECT_EQ(d->gram, "reduce");
  auto g = parse_train_args("gram=coordinator", registry());
  ASSERT_TRUE(g);
  EXPECT_EQ(g->gram, "coordinator");
  EXPECT_FALSE(parse_train_args("gram=sometimes", registry()));
  EXPECT_FALSE(parse_train_args("preset=spark", registry()));
}

TEST(als_artifact, versions_read_back_and_recommend_without_seen_items) {
  namespace fs = std::filesystem;
  auto dir = fs::temp_directory_path() /
             ("eddy-als-artifact-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const auto models_dir = (dir / "models").string();
  EXPECT_FALSE(newest_artifact(models_dir));
  EXPECT_EQ(next_artifact_version(models_dir), 1u);

  als_artifact a;
  a.version = 1;
  a.users = models::id_map{{"u1", "u2", "u3"}};
  a.items = models::id_map{{"i1", "i2", "i3", "i4"}};
  a.user_factors = models::factor_matrix::Ones(3, 2);
  a.item_factors = models::factor_matrix(4, 2);
  a.item_factors << 4, 0, 3, 0, 2, 0, 1, 0; // i1 best, then i2, i3, i4
  a.seen = small_csr();                     // u1 saw i2 and i4
  a.meta_json = "{\"version\":1}\n";
  auto p = write_artifact(models_dir, a);
  ASSERT_TRUE(p) << p.err().message;
  EXPECT_EQ(*p, (fs::path{models_dir} / "als-1").string());
  fs::create_directories(fs::path{models_dir} /
                         ".tmp-als-2-1"); // a crashed writer
  EXPECT_EQ(newest_artifact(models_dir), std::optional<std::uint64_t>{1});
  a.version = 2;
  ASSERT_TRUE(write_artifact(models_dir, a));
  EXPECT_FALSE(write_artifact(models_dir, a)); // a version is written once
  EXPECT_EQ(next_artifact_version(models_dir), 3u);

  auto m = read_artifact(models_dir, 2);
  ASSERT_TRUE(m) << m.err().message;
  EXPECT_EQ((*m)->users.ids(), a.users.ids());
  EXPECT_EQ((*m)->item_factors, a.item_factors);
  EXPECT_EQ((*m)->seen.indices, a.seen.indices);
  EXPECT_EQ((*m)->meta_json, a.meta_json);

  auto j = recommend_json(**m, "u1", 2, false);
  ASSERT_TRUE(j) << j.err().message;
  EXPECT_NE(j->find("\"item\":\"i1\""), std::string::npos) << *j;
  EXPECT_NE(j->find("\"item\":\"i3\""), std::string::npos) << *j;
  EXPECT_EQ(j->find("\"item\":\"i2\""), std::string::npos) << *j; // seen
  auto all = recommend_json(**m, "u1", 2, true);
  ASSERT_TRUE(all);
  EXPECT_NE(all->find("\"item\":\"i2\""), std::string::npos) << *all;
  auto unknown = recommend_json(**m, "nobody", 2, false);
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.err().message.find("unknown user 'nobody'"),
            std::string::npos);

  // A damaged file is an error, not a crash.
  fs::resize_file(fs::path{models_dir} / "als-2" / "item_factors.f32", 20);
  EXPECT_FALSE(read_artifact(models_dir, 2));
  fs::remove_all(dir);
}

} // namespace
} // namespace eddy::actors
