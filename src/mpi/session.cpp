// SPDX-License-Identifier: MIT
//
// pprocess::mpi over the MPI C API, on a duplicate of MPI_COMM_WORLD (so
// that its messages never meet the program's own).
//
// Rank 0 keeps, per rank, how much of its room (two pieces' worth of its
// processes) is taken, and hands pieces out while there is room; every
// rank, rank 0 included, runs its pieces in its own processes. One thread
// does everything, in turns (see step()): hand out, take in what the local
// processes finished, take in messages (MPI_Improbe/MPI_Mrecv: any size,
// any source, one message each), see sends complete. When a turn brings
// nothing, the rank sleeps a little longer each time, up to a
// millisecond, in poll() on its processes when it has any: MPI's blocking
// calls would spin on a core.

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <mpi.h>
#include <numeric>
#include <stdexcept>
#include <thread>
#include <time.h>

#include <pprocess/error.hpp>
#include <pprocess/mpi/session.hpp>
#include <pprocess/system.hpp>

#include "../crash_signals.hpp"
#include "environment.hpp"

namespace pprocess::mpi {

namespace detail {

namespace {

enum class message_kind : std::uint32_t {
  assign = 1,  // rank 0 → rank: run a piece of a call
  result,      // rank → rank 0: a piece's results
  done,        // rank 0 → ranks: a call is finished or given up
  end,         // rank 0 → ranks: the session ends
  ack,         // rank → rank 0: ready to end
};

constexpr std::uint32_t message_magic = 0x49504d50;  // "PMPI"

/// The start of every message; the body (a description, or a piece's
/// results) follows.
struct message_header {
  std::uint32_t magic = message_magic;
  message_kind kind{};
  std::uint64_t seq = 0;
  std::uint64_t signature = 0;
  piece part{};
  std::uint64_t made = 0;  // done: managed calls made; end: calls made
  std::int64_t elapsed_ns = 0;
  std::uint64_t total_size = 0;  // header and body, all pieces together
};

constexpr int tag_message = 1;
constexpr int tag_piece = 2;  // the rest of a message too large for one

/// How much of a message goes in one MPI message: MPI 3.1 counts in int.
/// PPROCESS_MPI_PIECE_BYTES makes it smaller, for tests.
std::size_t piece_bytes() {
  static const std::size_t bytes = [] {
    if (const char* set = std::getenv("PPROCESS_MPI_PIECE_BYTES")) {
      const long long value = std::atoll(set);
      if (value > 0) {
        return static_cast<std::size_t>(value);
      }
    }
    return std::size_t{1} << 30;
  }();
  return bytes;
}

/// What every rank tells the others as the session starts.
struct rank_facts {
  char build_id[96];
  char host[256];
  std::uint64_t processors;
  std::uint64_t online;
};

void copy_text(char* to, std::size_t size, const std::string& text) {
  const std::size_t n = std::min(size - 1, text.size());
  std::memcpy(to, text.data(), n);
  to[n] = '\0';
}

/// A message on its way out, kept until MPI is done with its bytes.
struct outgoing {
  std::shared_ptr<std::vector<char>> bytes;
  std::vector<MPI_Request> requests;
};

class mpi_session final : public session_core {
 public:
  mpi_session(int& argc, char**& argv);
  ~mpi_session() override;

  [[nodiscard]] int rank() const noexcept override { return rank_; }
  [[nodiscard]] int size() const noexcept override { return size_; }
  [[nodiscard]] const std::string& host(int rank) const override {
    return hosts_.at(static_cast<std::size_t>(rank));
  }
  [[nodiscard]] std::size_t processors(int rank) const override {
    return processors_.at(static_cast<std::size_t>(rank));
  }

  void enlist(const std::shared_ptr<call>& c,
              std::optional<std::size_t> limit) override;
  void finish(call& c) override;
  void deliver(call& c, const piece& p, std::vector<char> payload,
               std::chrono::nanoseconds elapsed) override;
  void serve_until(const std::function<bool()>& done) override;
  [[nodiscard]] bool ahead() const override {
    return !early_.empty() && early_.rbegin()->first >= next_seq_;
  }
  [[noreturn]] void abort_job(const std::string& what) const override;

 private:
  struct enlisted {
    std::shared_ptr<call> c;
    std::optional<std::size_t> limit;
    std::vector<std::uint64_t> units;  // rank 0: taken on each rank
  };
  struct message {
    int source;
    message_header header;
    std::vector<char> body;
  };

  [[nodiscard]] std::size_t capacity(const enlisted& e, int rank) const {
    return e.limit.value_or(processors(rank));
  }

  bool step();
  void idle(unsigned rounds);
  bool hand_out();
  void finish_complete();
  bool take_messages();
  void handle(message m);
  void check_signature(const call& c, const message& m) const;
  bool reap_sends(bool wait = false);
  void send(int to, message_header header, std::span<const char> body);
  void end_root();
  void end_other();

  MPI_Comm comm_ = MPI_COMM_NULL;
  bool owns_mpi_ = false;
  int rank_ = 0;
  int size_ = 1;
  std::vector<std::string> hosts_;
  std::vector<std::size_t> processors_;

  std::uint64_t next_seq_ = 0;
  std::map<std::uint64_t, enlisted> calls_;
  // Messages for calls this rank has not made yet (rank 0 is ahead).
  std::map<std::uint64_t, std::vector<message>> early_;
  std::vector<std::uint64_t> taken_;  // rank 0: units taken on each rank
  std::deque<outgoing> sending_;
  std::vector<std::shared_ptr<call>> busy_;  // step()'s, between turns empty
  bool ended_ = false;  // other ranks: rank 0 said the session ends
  std::uint64_t rank0_calls_ = 0;
  int acks_ = 0;  // rank 0: ranks ready to end
};

mpi_session::mpi_session(int& argc, char**& argv) {
  // Ours first: Open MPI installs no handler where one is installed, and
  // its handlers would print their own report in every crashing process.
  pprocess::detail::install_crash_handlers();
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized == 0) {
    int provided = 0;
    if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) !=
        MPI_SUCCESS) {
      throw Error("pprocess::mpi::Session: MPI_Init_thread failed");
    }
    owns_mpi_ = true;
  }
  MPI_Comm_dup(MPI_COMM_WORLD, &comm_);
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &size_);

  rank_facts mine{};
  copy_text(mine.build_id, sizeof mine.build_id, program_build_id());
  copy_text(mine.host, sizeof mine.host, host_name());
  mine.processors = available_processors();
  mine.online = online_processors();
  std::vector<rank_facts> all(static_cast<std::size_t>(size_));
  MPI_Allgather(&mine, sizeof mine, MPI_BYTE, all.data(), sizeof mine, MPI_BYTE,
                comm_);
  std::string bound;
  for (int r = 0; r < size_; ++r) {
    const rank_facts& facts = all[static_cast<std::size_t>(r)];
    hosts_.emplace_back(facts.host);
    processors_.push_back(std::max<std::size_t>(1, facts.processors));
    if (std::strcmp(facts.build_id, all[0].build_id) != 0) {
      if (rank_ == 0) {
        abort_job("rank " + std::to_string(r) + " (host " + facts.host +
                  ") runs another build of the program (build id " +
                  facts.build_id + ", rank 0's " + all[0].build_id +
                  "): every rank must run the same program");
      }
      MPI_Abort(comm_, 1);
    }
    if (facts.processors == 1 && facts.online > 1) {
      bound += (bound.empty() ? "" : ", ") + std::to_string(r);
    }
  }
  if (rank_ == 0 && !bound.empty()) {
    std::fprintf(stderr,
                 "pprocess::mpi: rank(s) %s may run on one processor only "
                 "(MPI's default binding): their processes share it, and "
                 "limit defaults to 1; launch with --bind-to none\n",
                 bound.c_str());
  }
  taken_.assign(static_cast<std::size_t>(size_), 0);
}

mpi_session::~mpi_session() {
  if (rank_ == 0) {
    end_root();
  } else {
    end_other();
  }
  MPI_Comm_free(&comm_);
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (owns_mpi_ && finalized == 0) {
    MPI_Finalize();
  }
}

void mpi_session::end_root() {
  // Calls still listed belong to Maps and Queues that outlive the session
  // (or to a failed run): given up.
  while (!calls_.empty()) {
    finish(*calls_.begin()->second.c);
  }
  message_header header;
  header.kind = message_kind::end;
  header.made = next_seq_;
  for (int r = 1; r < size_; ++r) {
    send(r, header, {});
  }
  // Until every rank is ready: results of given-up calls are still taken
  // in (and dropped), so that no rank waits on a send.
  for (unsigned rounds = 0; acks_ < size_ - 1;) {
    const bool took = take_messages();
    const bool moved = reap_sends() || took;
    rounds = moved ? 0 : rounds + 1;
    if (!moved) {
      idle(rounds);
    }
  }
  reap_sends(true);
}

void mpi_session::end_other() {
  // This rank makes no more calls: one that rank 0 makes and this rank
  // has not made proves the ranks went different ways.
  serve_until([this] { return ended_ || ahead(); });
  if (!ended_) {
    abort_job("rank 0 made call #" + std::to_string(early_.rbegin()->first) +
              ", which this rank (done after " + std::to_string(next_seq_) +
              " pprocess::mpi calls) does not make: every rank must make the "
              "same calls");
  }
  if (rank0_calls_ != next_seq_) {
    abort_job("rank 0 made " + std::to_string(rank0_calls_) +
              " pprocess::mpi calls, this rank " + std::to_string(next_seq_) +
              ": every rank must make the same calls");
  }
  calls_.clear();
  reap_sends(true);
  message_header header;
  header.kind = message_kind::ack;
  send(0, header, {});
  reap_sends(true);
}

void mpi_session::enlist(const std::shared_ptr<call>& c,
                         std::optional<std::size_t> limit) {
  c->seq = next_seq_++;
  enlisted& e = calls_[c->seq];
  e.c = c;
  e.limit = limit;
  e.units.assign(static_cast<std::size_t>(size_), 0);
  const auto early = early_.find(c->seq);
  if (early != early_.end()) {
    std::vector<message> messages = std::move(early->second);
    early_.erase(early);
    for (message& m : messages) {
      handle(std::move(m));
    }
  }
}

void mpi_session::finish(call& c) {
  const auto it = calls_.find(c.seq);
  if (it == calls_.end()) {
    return;
  }
  c.done = true;
  message_header header;
  header.kind = message_kind::done;
  header.seq = c.seq;
  header.signature = c.signature;
  header.made = c.made();
  for (int r = 1; r < size_; ++r) {
    send(r, header, {c.description.data(), c.description.size()});
  }
  for (std::size_t r = 0; r < taken_.size(); ++r) {
    taken_[r] -= it->second.units[r];
  }
  const std::shared_ptr<call> keep = it->second.c;
  calls_.erase(it);
  keep->end(c.made());
}

void mpi_session::deliver(call& c, const piece& p, std::vector<char> payload,
                          std::chrono::nanoseconds elapsed) {
  if (rank_ == 0) {
    const auto it = calls_.find(c.seq);
    if (it != calls_.end()) {
      it->second.units[0] -= p.units;
      taken_[0] -= p.units;
    }
    return;
  }
  message_header header;
  header.kind = message_kind::result;
  header.seq = c.seq;
  header.signature = c.signature;
  header.part = p;
  header.elapsed_ns = elapsed.count();
  send(0, header, payload);
}

void mpi_session::serve_until(const std::function<bool()>& done) {
  for (unsigned rounds = 0;;) {
    const bool moved = step();
    if (done()) {
      return;
    }
    rounds = moved ? 0 : rounds + 1;
    if (!moved) {
      idle(rounds);
    }
  }
}

bool mpi_session::step() {
  bool moved = false;
  if (rank_ == 0) {
    moved |= hand_out();
  }
  // Listed first: driving a call may end it (and change calls_). The list
  // is kept, so that a turn allocates nothing.
  busy_.clear();
  for (auto& [seq, e] : calls_) {
    if (e.c->busy()) {
      busy_.push_back(e.c);
    }
  }
  for (const auto& c : busy_) {
    moved |= c->drive(std::chrono::milliseconds(0));
  }
  busy_.clear();
  moved |= take_messages();
  moved |= reap_sends();
  if (rank_ == 0) {
    finish_complete();
  }
  return moved;
}

void mpi_session::idle(unsigned rounds) {
  // A few quick turns first (a message may be on its way), then sleeps
  // that double up to a millisecond: an idle rank costs next to nothing.
  // Alone, no message can come: it waits on its processes at once, as
  // pprocess::pmap would.
  const bool alone = size_ == 1;
  if (rounds < 4 && !alone) {
    std::this_thread::yield();
    return;
  }
  for (auto& [seq, e] : calls_) {
    if (e.c->busy()) {
      const std::shared_ptr<call> c = e.c;
      // poll() on its processes
      c->drive(std::chrono::milliseconds(alone ? 100 : 1));
      return;
    }
  }
  const unsigned doublings = std::min(rounds >= 4 ? rounds - 4 : 0U, 6U);
  const long micros = std::min(1000L, 16L << doublings);
  const timespec pause{0, micros * 1000};
  ::nanosleep(&pause, nullptr);
}

bool mpi_session::hand_out() {
  bool moved = false;
  std::size_t total = 0;
  std::vector<int> order(static_cast<std::size_t>(size_));
  for (auto& entry : calls_) {
    // (Not a structured binding: lambdas below use it, which clang 14,
    // the fuzz build's compiler, does not allow.)
    enlisted& e = entry.second;
    if (e.c->done) {
      continue;
    }
    total = 0;
    for (int r = 0; r < size_; ++r) {
      total += capacity(e, r);
    }
    for (;;) {
      // The rank with the most room first.
      std::iota(order.begin(), order.end(), 0);
      auto room = [&](int r) -> std::size_t {
        const std::size_t most = 2 * capacity(e, r);
        const std::uint64_t used = taken_[static_cast<std::size_t>(r)];
        return used < most ? most - used : 0;
      };
      std::stable_sort(order.begin(), order.end(),
                       [&](int a, int b) { return room(a) > room(b); });
      bool given = false;
      for (const int r : order) {
        const std::size_t free = room(r);
        if (free == 0) {
          break;
        }
        const std::optional<piece> p =
            e.c->next_piece(free, capacity(e, r), total);
        if (!p) {
          continue;
        }
        taken_[static_cast<std::size_t>(r)] += p->units;
        e.units[static_cast<std::size_t>(r)] += p->units;
        if (r == 0) {
          e.c->run(*p);
        } else {
          message_header header;
          header.kind = message_kind::assign;
          header.seq = e.c->seq;
          header.signature = e.c->signature;
          header.part = *p;
          send(r, header, {e.c->description.data(), e.c->description.size()});
        }
        given = true;
        moved = true;
        break;
      }
      if (!given) {
        break;
      }
    }
  }
  return moved;
}

void mpi_session::finish_complete() {
  std::vector<call*> complete;
  for (auto& [seq, e] : calls_) {
    if (!e.c->done && e.c->complete()) {
      complete.push_back(e.c.get());
    }
  }
  for (call* c : complete) {
    finish(*c);
  }
}

bool mpi_session::take_messages() {
  bool moved = false;
  for (;;) {
    int flag = 0;
    MPI_Message handle_ = MPI_MESSAGE_NULL;
    MPI_Status status;
    MPI_Improbe(MPI_ANY_SOURCE, tag_message, comm_, &flag, &handle_, &status);
    if (flag == 0) {
      return moved;
    }
    moved = true;
    int count = 0;
    MPI_Get_count(&status, MPI_BYTE, &count);
    std::vector<char> bytes(static_cast<std::size_t>(count));
    MPI_Mrecv(bytes.data(), count, MPI_BYTE, &handle_, MPI_STATUS_IGNORE);
    message m;
    m.source = status.MPI_SOURCE;
    if (bytes.size() < sizeof m.header) {
      abort_job("a message of " + std::to_string(bytes.size()) +
                " bytes from rank " + std::to_string(m.source) +
                " is too short");
    }
    std::memcpy(&m.header, bytes.data(), sizeof m.header);
    if (m.header.magic != message_magic ||
        m.header.total_size < sizeof m.header) {
      abort_job("a malformed message from rank " + std::to_string(m.source));
    }
    // The rest of a large message follows in pieces, in order.
    std::size_t have = bytes.size();
    bytes.resize(m.header.total_size);
    while (have < bytes.size()) {
      const std::size_t part = std::min(piece_bytes(), bytes.size() - have);
      MPI_Recv(bytes.data() + have, static_cast<int>(part), MPI_BYTE, m.source,
               tag_piece, comm_, MPI_STATUS_IGNORE);
      have += part;
    }
    m.body.assign(bytes.begin() + sizeof m.header, bytes.end());
    handle(std::move(m));
  }
}

void mpi_session::check_signature(const call& c, const message& m) const {
  if (c.signature != m.header.signature) {
    abort_job("call #" + std::to_string(c.seq) +
              " differs between ranks: on rank 0 it is " +
              std::string(m.body.begin(), m.body.end()) + ", here " +
              c.description + "; every rank must make the same calls");
  }
}

void mpi_session::handle(message m) {
  const message_header& h = m.header;
  switch (h.kind) {
    case message_kind::assign:
    case message_kind::done: {
      const auto it = calls_.find(h.seq);
      if (it == calls_.end()) {
        if (h.seq >= next_seq_) {
          early_[h.seq].push_back(std::move(m));  // not made here yet
        }
        return;
      }
      const std::shared_ptr<call> c = it->second.c;
      check_signature(*c, m);
      if (h.kind == message_kind::assign) {
        c->run(h.part);
      } else {
        calls_.erase(it);
        c->done = true;
        c->end(h.made);
      }
      return;
    }
    case message_kind::result: {
      const auto it = calls_.find(h.seq);
      if (it == calls_.end()) {
        return;  // a call given up: its results are dropped
      }
      enlisted& e = it->second;
      e.units[static_cast<std::size_t>(m.source)] -= h.part.units;
      taken_[static_cast<std::size_t>(m.source)] -= h.part.units;
      const std::shared_ptr<call> c = e.c;
      c->receive(m.source, h.part, m.body,
                 std::chrono::nanoseconds(h.elapsed_ns));
      return;
    }
    case message_kind::end:
      ended_ = true;
      rank0_calls_ = h.made;
      return;
    case message_kind::ack: ++acks_; return;
  }
  abort_job("a message of unknown kind from rank " + std::to_string(m.source));
}

void mpi_session::send(int to, message_header header,
                       std::span<const char> body) {
  auto bytes = std::make_shared<std::vector<char>>(sizeof header + body.size());
  header.total_size = bytes->size();
  std::memcpy(bytes->data(), &header, sizeof header);
  if (!body.empty()) {
    std::memcpy(bytes->data() + sizeof header, body.data(), body.size());
  }
  outgoing out;
  out.bytes = bytes;
  for (std::size_t at = 0, tag = tag_message; at < bytes->size();
       tag = tag_piece) {
    const std::size_t part = std::min(piece_bytes(), bytes->size() - at);
    MPI_Request request = MPI_REQUEST_NULL;
    MPI_Isend(bytes->data() + at, static_cast<int>(part), MPI_BYTE, to,
              static_cast<int>(tag), comm_, &request);
    out.requests.push_back(request);
    at += part;
  }
  sending_.push_back(std::move(out));
}

bool mpi_session::reap_sends(bool wait) {
  bool moved = false;
  for (auto it = sending_.begin(); it != sending_.end();) {
    int complete = 0;
    if (wait) {
      MPI_Waitall(static_cast<int>(it->requests.size()), it->requests.data(),
                  MPI_STATUSES_IGNORE);
      complete = 1;
    } else {
      MPI_Testall(static_cast<int>(it->requests.size()), it->requests.data(),
                  &complete, MPI_STATUSES_IGNORE);
    }
    if (complete != 0) {
      it = sending_.erase(it);
      moved = true;
    } else {
      ++it;
    }
  }
  return moved;
}

void mpi_session::abort_job(const std::string& what) const {
  const Error error(
      "pprocess::mpi: rank " + std::to_string(rank_) + " (host " +
      (hosts_.empty() ? host_name() : hosts_[static_cast<std::size_t>(rank_)]) +
      "): " + what);
  std::fprintf(stderr, "%s\n", error.what());
  std::fflush(stderr);
  MPI_Abort(comm_ == MPI_COMM_NULL ? MPI_COMM_WORLD : comm_, 1);
  std::abort();  // MPI_Abort does not return
}

}  // namespace

void release_calls(session_core& core,
                   std::vector<std::shared_ptr<call>>& calls) {
  if (core.rank() == 0) {
    for (const auto& c : calls) {
      c->close();
      core.finish(*c);
    }
  } else {
    // Closed first: a call rank 0 hands out from now on that this rank has
    // not made, it never will.
    for (const auto& c : calls) {
      c->close();
    }
    serve_calls(core, calls);
  }
  calls.clear();
}

void serve_calls(session_core& core,
                 const std::vector<std::shared_ptr<call>>& calls) {
  core.serve_until([&] {
    return core.ahead() ||
           std::any_of(calls.begin(), calls.end(),
                       [](const auto& c) { return c->behind(); }) ||
           std::all_of(calls.begin(), calls.end(),
                       [](const auto& c) { return c->done; });
  });
}

}  // namespace detail

Session::Session(int& argc, char**& argv)
    : core_(std::make_unique<detail::mpi_session>(argc, argv)) {}

Session::~Session() = default;

}  // namespace pprocess::mpi
