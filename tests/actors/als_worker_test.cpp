// The ALS worker actor on its own (one node's worker, its peer only a list of the
// "rows" messages it was given to send): a solve over placed rows waits for the
// rows still on their way, its new rows go to the peers that need them, and a
// row that is missing, repeated or does not fit fails the solve with a reason.
// tests/integration/als_test.py runs the workers of real node processes.
#include "actors/als_protocol.hpp"
#include "actors/als_worker.hpp"
#include "actors/messages.hpp"

#include <caf/all.hpp>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <mutex>
#include <unistd.h>

namespace eddy::actors {
namespace {

constexpr int k = 2;

// Users 0, 1 and items 0, 1 are this node's (n1); user 2 and items 2, 3 are n2's.
// Pairs: (0,0) (0,2) (1,1) (1,3) (2,0) (2,3), confidence 2 each.
als::assign_request user_block(std::uint64_t run) {
  als::assign_request a;
  a.run = run;
  a.which = als::side::users;
  a.factors = k;
  a.cg_steps = 3;
  a.block = models::csr_matrix::from_triples(
      2, 4, {{0, 0, 2.0F}, {0, 2, 2.0F}, {1, 1, 2.0F}, {1, 3, 2.0F}});
  a.rows = models::init_factors(2, k, 7, 0, 0.1F);
  a.globals = {0, 1};
  a.peers = {{"n2", {0, 1}, {0, 1}}}; // n2's items need users 0 and 1
  return a;
}

als::assign_request item_block(std::uint64_t run) {
  als::assign_request a = user_block(run);
  a.which = als::side::items;
  // Item 0: users 0 and 2; item 1: user 1 (columns = global users 0..2).
  a.block = models::csr_matrix::from_triples(2, 3, {{0, 0, 2.0F}, {0, 2, 2.0F}, {1, 1, 2.0F}});
  a.rows = models::init_factors(2, k, 7, 1, 0.1F);
  a.peers = {{"n2", {0}, {0}}}; // n2's users need item 0
  return a;
}

struct worker_fixture : ::testing::Test {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  std::mutex mu;
  std::vector<std::pair<std::string, std::string>> sent; // (node, bytes) to peers
  caf::actor worker;
  std::string dir = (std::filesystem::temp_directory_path() /
                     ("eddy_als_worker_" + std::to_string(::getpid())))
                        .string();

  void SetUp() override {
    worker = spawn_als_worker(sys, "n1", {}, dir, [this](const std::string& node, std::string b) {
      std::lock_guard lock{mu};
      sent.emplace_back(node, std::move(b));
    });
  }
  void TearDown() override {
    self->send_exit(worker, caf::exit_reason::user_shutdown);
    std::filesystem::remove_all(dir);
  }

  std::string ask(const std::string& bytes) {
    std::string out;
    self->request(worker, std::chrono::seconds{30}, als_atom::value, bytes)
        .receive([&](std::string& r) { out = std::move(r); },
                 [&](caf::error& e) { ADD_FAILURE() << to_string(e); });
    return out;
  }

  als::solve_request solve(als::side which, bool start = false) {
    als::solve_request s;
    s.run = 5;
    s.which = which;
    s.start = start;
    s.share = true;
    s.want_rows = true;
    s.gram = Eigen::MatrixXf::Identity(k, k) * 0.5F;
    return s;
  }

  // The run's start: the users solve shares this worker's initial item rows
  // and waits for n2's (items 2 and 3), then shares its new user rows.
  als::solve_reply start_users() {
    auto pending = self->request(worker, std::chrono::seconds{30}, als_atom::value,
                                 als::encode(solve(als::side::users, true)));
    const models::factor_matrix items23 = models::init_factors(2, k, 9, 1, 0.1F);
    EXPECT_EQ(als::op_of(ask(als::encode_rows(5, als::side::users, {2, 3}, items23, {0, 1}))),
              "placed");
    std::string bytes;
    pending.receive([&](std::string& r) { bytes = std::move(r); },
                    [&](caf::error& e) { ADD_FAILURE() << to_string(e); });
    auto r = als::decode_solve_reply(bytes);
    EXPECT_TRUE(r) << als::decode_error(bytes);
    return r ? *r : als::solve_reply{};
  }
};

TEST_F(worker_fixture, waits_for_rows_on_their_way_and_shares_its_own) {
  ASSERT_EQ(als::op_of(ask(als::encode(user_block(5)))), "assigned");
  ASSERT_EQ(als::op_of(ask(als::encode(item_block(5)))), "assigned");

  // Users: the initial item 0 goes to n2 first, then the new user rows.
  const auto users = start_users();
  ASSERT_EQ(users.rows.rows(), 2);
  {
    std::lock_guard lock{mu};
    ASSERT_EQ(sent.size(), 2u);
    EXPECT_EQ(sent[0].first, "n2");
    auto first = als::decode_rows(sent[0].second);
    ASSERT_TRUE(first) << first.err().message;
    EXPECT_EQ(first->which, als::side::users);
    EXPECT_EQ(first->positions, (std::vector<std::int32_t>{0}));
    const models::factor_matrix item0 = item_block(5).rows.topRows(1);
    EXPECT_EQ(0, std::memcmp(first->rows.data(), item0.data(), first->rows.size()));
    EXPECT_EQ(sent[1].first, "n2");
    auto m = als::decode_rows(sent[1].second);
    ASSERT_TRUE(m) << m.err().message;
    EXPECT_EQ(m->which, als::side::items);
    EXPECT_EQ(m->positions, (std::vector<std::int32_t>{0, 1}));
    ASSERT_EQ(m->rows.size(), sizeof(float) * 2 * k);
    EXPECT_EQ(0, std::memcmp(m->rows.data(), users.rows.data(), m->rows.size()));
    EXPECT_EQ(users.shared_bytes, sent[0].second.size() + sent[1].second.size());
  }

  // Items: users 0 and 1 are placed (this worker's own), user 2 (n2's) is not
  // yet. The solve waits for it: its answer comes once the rows are placed.
  auto items_pending = self->request(worker, std::chrono::seconds{30}, als_atom::value,
                                     als::encode(solve(als::side::items)));
  const models::factor_matrix user2 = models::init_factors(1, k, 9, 0, 0.1F);
  EXPECT_EQ(als::op_of(ask(als::encode_rows(5, als::side::items, {2}, user2, {0}))), "placed");
  std::string items_bytes;
  items_pending.receive([&](std::string& r) { items_bytes = std::move(r); },
                        [&](caf::error& e) { ADD_FAILURE() << to_string(e); });
  auto items = als::decode_solve_reply(items_bytes);
  ASSERT_TRUE(items) << als::decode_error(items_bytes);
  EXPECT_EQ(items->rows.rows(), 2);

  // The run's last half-step (nothing to share): answered, then the blocks are freed.
  const models::factor_matrix items23 = models::init_factors(2, k, 9, 1, 0.1F);
  EXPECT_EQ(als::op_of(ask(als::encode_rows(5, als::side::users, {2, 3}, items23, {0, 1}))),
            "placed");
  auto last = solve(als::side::users);
  last.share = false;
  EXPECT_EQ(als::op_of(ask(als::encode(last))), "solved");
  const auto after = ask(als::encode(solve(als::side::items)));
  ASSERT_EQ(als::op_of(after), "error");
  EXPECT_NE(als::decode_error(after).find("has no blocks"), std::string::npos);
}

TEST_F(worker_fixture, a_repeated_or_misfit_rows_message_fails_the_solve_that_needs_it) {
  ASSERT_EQ(als::op_of(ask(als::encode(user_block(5)))), "assigned");
  ASSERT_EQ(als::op_of(ask(als::encode(item_block(5)))), "assigned");
  ASSERT_EQ(start_users().rows.rows(), 2);
  const models::factor_matrix user2 = models::init_factors(1, k, 9, 0, 0.1F);
  const auto rows = als::encode_rows(5, als::side::items, {2}, user2, {0});
  ASSERT_EQ(als::op_of(ask(rows)), "placed");
  ASSERT_EQ(als::op_of(ask(rows)), "placed"); // the same rows twice: 4 placed for 3
  auto reply = ask(als::encode(solve(als::side::items)));
  ASSERT_EQ(als::op_of(reply), "error");
  EXPECT_NE(als::decode_error(reply).find("4 rows placed for the 3"), std::string::npos)
      << als::decode_error(reply);

  // Users: a rows message with a position beyond the block's needed rows.
  const auto misfit = als::encode_rows(5, als::side::users, {2, 99}, user2, {0, 0});
  reply = ask(misfit);
  ASSERT_EQ(als::op_of(reply), "error");
  EXPECT_NE(als::decode_error(reply).find("did not fit"), std::string::npos);
  reply = ask(als::encode(solve(als::side::users)));
  ASSERT_EQ(als::op_of(reply), "error");
  EXPECT_NE(als::decode_error(reply).find("did not fit"), std::string::npos);

  // Rows of another run are refused.
  reply = ask(als::encode_rows(6, als::side::users, {2}, user2, {0}));
  ASSERT_EQ(als::op_of(reply), "error");
  EXPECT_NE(als::decode_error(reply).find("has no blocks of training run 6"), std::string::npos);
}

} // namespace
} // namespace eddy::actors
