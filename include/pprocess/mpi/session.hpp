// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// pprocess::mpi::Session: the program's place in an MPI job.
///
///     int main(int argc, char* argv[]) {
///       pprocess::mpi::Session session(argc, argv);  // every rank
///       auto squares = pprocess::mpi::pmap(session, square, inputs);
///       if (session.root()) { for (int s : squares) ... }
///     }
///
/// Every rank runs the same program and makes the same pprocess::mpi calls
/// in the same order (SPMD); only task indices and results cross the
/// network. See docs/mpi.md.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace pprocess::mpi {

class Session;

namespace detail {

/// Work handed to one rank: elements [first, last) of a pmap, or the
/// managed calls [first, last) of a Map or Queue. `units` is how much of
/// the rank's room it takes (a pmap range: all its processes; a call: one);
/// its results bring them back.
struct piece {
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  std::uint64_t units = 0;
};

/// One collective call (a pmap, or a Map's or Queue's managed callable):
/// every rank makes it, under the same sequence number. Rank 0 hands out
/// its pieces; every rank, rank 0 included, runs the pieces it is given in
/// its own processes.
class call {
 public:
  call() = default;
  call(const call&) = delete;
  call& operator=(const call&) = delete;
  virtual ~call() = default;

  /// Its place in the session's sequence of calls (set by enlist).
  std::uint64_t seq = 0;
  /// What every rank's call must agree on: kind, types, element count.
  std::uint64_t signature = 0;
  /// For messages: "pmap<int> of 100 elements of int", and so on.
  std::string description;
  /// Rank 0 is done with it: nothing more is handed out or collected.
  bool done = false;

  /// Rank 0: the next piece for a rank with `room` of its `capacity` units
  /// free, `total` the capacity of all ranks; none when nothing is left to
  /// hand out now (or not to this rank).
  virtual std::optional<piece> next_piece(std::size_t room,
                                          std::size_t capacity,
                                          std::size_t total) = 0;
  /// Every rank: runs `p` in this rank's processes.
  virtual void run(const piece& p) = 0;
  /// Every rank: this rank's processes run something of it.
  [[nodiscard]] virtual bool busy() const = 0;
  /// Every rank: takes in what this rank's processes finished, waiting up
  /// to `wait` for it; finished pieces go to rank 0 (on rank 0: into the
  /// results). True when anything came in.
  virtual bool drive(std::chrono::milliseconds wait) = 0;
  /// Rank 0: the results of `p`, computed by `rank`, in `elapsed`.
  virtual void receive(int rank, const piece& p, std::span<const char> payload,
                       std::chrono::nanoseconds elapsed) = 0;
  /// Rank 0: every result is in and no more can be asked for (a pmap).
  [[nodiscard]] virtual bool complete() const = 0;
  /// How many managed calls this rank made (0 for a pmap).
  [[nodiscard]] virtual std::uint64_t made() const = 0;
  /// Other ranks: rank 0 is done with the call, after `made` managed calls;
  /// the local work stops.
  virtual void end(std::uint64_t made) = 0;
  /// Every rank: the Map or Queue that made the call is gone (no more
  /// managed calls will be made on this rank).
  virtual void close() = 0;
  /// Other ranks: rank 0 handed this rank a managed call it has not made
  /// yet (rank 0 is further on in the program).
  [[nodiscard]] virtual bool behind() const = 0;
};

/// What the templates use of a Session; implemented over MPI in
/// src/mpi/session.cpp.
class session_core {
 public:
  session_core() = default;
  session_core(const session_core&) = delete;
  session_core& operator=(const session_core&) = delete;
  virtual ~session_core() = default;

  [[nodiscard]] virtual int rank() const noexcept = 0;
  [[nodiscard]] virtual int size() const noexcept = 0;
  /// The host name of `rank`.
  [[nodiscard]] virtual const std::string& host(int rank) const = 0;
  /// The processors `rank` may run on (its default `limit`).
  [[nodiscard]] virtual std::size_t processors(int rank) const = 0;

  /// Gives `c` its sequence number and runs what rank 0 already sent for
  /// it. `limit` is the call's Options::limit (unset: each rank's
  /// processors).
  virtual void enlist(const std::shared_ptr<call>& c,
                      std::optional<std::size_t> limit) = 0;
  /// Rank 0: `c` is finished or given up; the other ranks stop its work.
  virtual void finish(call& c) = 0;
  /// A piece of `c` this rank ran is done: other ranks send `payload` to
  /// rank 0; rank 0 (which stored its results itself) takes its units back.
  virtual void deliver(call& c, const piece& p, std::vector<char> payload,
                       std::chrono::nanoseconds elapsed) = 0;
  /// Runs the job (hands out work, runs this rank's share, takes in
  /// messages) until `done()`; sleeps with back-off when nothing happens.
  virtual void serve_until(const std::function<bool()>& done) = 0;
  /// Other ranks: rank 0 has made a call this rank has not made yet, so
  /// that waiting here would wait for nothing.
  [[nodiscard]] virtual bool ahead() const = 0;
  /// Ends the whole job: writes `what` (naming this rank and host) to
  /// stderr, then MPI_Abort.
  [[noreturn]] virtual void abort_job(const std::string& what) const = 0;
};

/// Ends the calls of a Map or Queue that is going away: rank 0 gives them up
/// (the other ranks stop their work); another rank lends its processes to
/// rank 0 until rank 0 is done with them or has moved on.
void release_calls(session_core& core,
                   std::vector<std::shared_ptr<call>>& calls);

/// Another rank: serves rank 0 until it is done with every one of `calls`
/// or has moved on to a call this rank has not made yet (a later call, or
/// a later managed call of one of these).
void serve_calls(session_core& core,
                 const std::vector<std::shared_ptr<call>>& calls);

struct session_access {
  static session_core& core(Session& session) noexcept;
};

}  // namespace detail

/// One per program, on every rank: initializes MPI unless it already is
/// (and finalizes only what it initialized), checks that every rank runs
/// the same build of the program, and serves the other ranks until rank 0
/// is done. Collective: every rank constructs and destroys it.
class Session {
 public:
  /// @throws Error MPI cannot be initialized
  /// Ranks that run different builds of the program end the job (MPI_Abort)
  /// with a message naming both build ids.
  Session(int& argc, char**& argv);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  /// This rank, from 0.
  [[nodiscard]] int rank() const noexcept { return core_->rank(); }
  /// How many ranks the job has.
  [[nodiscard]] int size() const noexcept { return core_->size(); }
  /// Rank 0: where results are.
  [[nodiscard]] bool root() const noexcept { return rank() == 0; }

 private:
  friend struct detail::session_access;
  std::unique_ptr<detail::session_core> core_;
};

inline detail::session_core& detail::session_access::core(
    Session& session) noexcept {
  return *session.core_;
}

}  // namespace pprocess::mpi
