// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// Options::journal: the file (journal_file, in src/journal.cpp) and the
/// glue that turns a Map's results and elements into its records
/// (map_journal). The format and the guarantees are in docs/journal.md.

#include <sys/types.h>  // pid_t

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <pprocess/detail/private_fd.hpp>
#include <pprocess/detail/type_name.hpp>
#include <pprocess/detail/wire.hpp>
#include <pprocess/error.hpp>

namespace pprocess::detail {

/// A 64-bit hash of `bytes` (8 bytes a step, then a final mix): the
/// fingerprints of elements and the checksums of records. Not
/// cryptographic; a change of one 8-byte word always changes it.
[[nodiscard]] std::uint64_t hash_bytes(std::span<const char> bytes,
                                       std::uint64_t seed = 0) noexcept;

/// What a journal is written for: the header names them, and a journal
/// written for something else is refused.
struct journal_identity {
  std::string_view result_type;
  std::string_view element_type;
  std::uint64_t count;
};

/// One record found in a journal when it was opened.
struct journal_record {
  std::uint64_t index;        // the element's offset in the sequence
  std::uint64_t fingerprint;  // hash_bytes of the element's bytes
  std::span<const char> payload;
  std::uint64_t offset;  // where the record begins in the file
};

/// An open, locked journal file: checked and scanned when opened, then
/// appended to. Its descriptor is private (created processes do not keep
/// it, nor the lock).
class journal_file {
 public:
  /// Records between two fdatasync() calls, at most...
  static constexpr std::size_t sync_records = 65536;
  /// ... and time: a write this long after the last sync syncs.
  static constexpr std::chrono::milliseconds sync_interval{1000};

  /// Opens `path`, creating it if missing, and locks it. An existing
  /// journal must have been written for `identity`; each of its good
  /// records goes to `found` (a torn last record is cut off the file).
  /// @throws Error naming the path: it cannot be opened or created, another
  ///   creator holds it, it is no journal or one written for something
  ///   else, a record in its middle is damaged, or `found` threw.
  journal_file(const std::filesystem::path& path,
               const journal_identity& identity,
               const std::function<void(const journal_record&)>& found);
  /// Syncs what was written (errors ignored) and closes the file.
  ~journal_file();

  journal_file(const journal_file&) = delete;
  journal_file& operator=(const journal_file&) = delete;

  /// Adds a record to those the next write() writes.
  void add(std::uint64_t index, std::uint64_t fingerprint,
           std::span<const char> payload);
  /// Writes the records added since the last write, in one write(), and
  /// syncs when sync_records or sync_interval is reached.
  /// @throws Error naming the path: the write failed (its records are then
  ///   not in the file), or the sync did
  void write();
  /// fdatasync(), then marks everything written so far as synced in the
  /// header (a mark the next sync makes durable, or this one when `last`).
  /// Returns false when a call failed.
  bool sync(bool last = false) noexcept;

  [[nodiscard]] const std::filesystem::path& path() const noexcept {
    return path_;
  }

 private:
  void create(const std::vector<char>& header);
  void check_header(const std::vector<char>& expected,
                    std::span<const char> found) const;
  void scan(std::span<const char> bytes, std::uint64_t header_size,
            const std::function<void(const journal_record&)>& found);
  [[nodiscard]] Error error(const std::string& what) const;
  [[nodiscard]] Error os_error(int code, const std::string& what) const;

  std::filesystem::path path_;
  pid_t owner_;  // the creator that opened it
  private_fd fd_;
  std::uint64_t end_ = 0;     // where the next record goes
  std::uint64_t synced_ = 0;  // what the header says is synced
  std::vector<char> pending_;
  std::size_t unsynced_ = 0;  // records written since the last sync
  std::chrono::steady_clock::time_point last_sync_{};
};

/// The bytes of `value` as a channel would send them (its own bytes, or
/// cereal's encoding in `scratch`).
/// @throws Error the value carries descriptors (SharedArray): a file
///   cannot keep them
template <class T>
std::span<const char> journal_bytes(const T& value,
                                    std::vector<char>& scratch) {
  std::vector<int> fds;
  const std::span<const char> bytes = payload_of(value, scratch, fds);
  if (!fds.empty()) {
    throw Error(std::string("journal: a ") + std::string(type_name<T>()) +
                " holds descriptors (SharedArray): a journal cannot keep it");
  }
  return bytes;
}

/// Decodes what journal_bytes() made; false when the bytes do not decode
/// as a `T` exactly.
template <class T>
bool journal_decode(std::span<const char> bytes, T& value) {
  if constexpr (raw_value<T>) {
    if (bytes.size() != sizeof(T)) {
      return false;
    }
    std::memcpy(&value, bytes.data(), sizeof(T));
    return true;
  } else if constexpr (raw_sequence<T>) {
    using element = typename is_raw_sequence<T>::element;
    if (bytes.size() % sizeof(element) != 0) {
      return false;
    }
    value.resize(bytes.size() / sizeof(element));
    if (!bytes.empty()) {  // an empty vector's data() may be null
      std::memcpy(value.data(), bytes.data(), bytes.size());
    }
    return true;
  } else {
    try {
      return cereal_decode(bytes, value);
    } catch (const std::exception&) {
      return false;
    }
  }
}

/// The journal of one Map(fn, range) call: element i is task `first + i`.
template <class T>
class map_journal {
 public:
  /// Opens the journal at `path` for `elements` (each fingerprinted now)
  /// and hands each result it holds to `found(element index, value)`.
  /// @throws Error as journal_file does; also for a record written for
  ///   another element, or whose result does not decode
  template <class E, class Found>
  map_journal(const std::filesystem::path& path, std::span<const E> elements,
              std::size_t first, Found&& found)
      : first_(first), count_(elements.size()) {
    fingerprints_.reserve(elements.size());
    for (const E& e : elements) {
      fingerprints_.push_back(hash_bytes(journal_bytes(e, scratch_)));
    }
    T value{};
    file_ = std::make_unique<journal_file>(
        path, journal_identity{type_name<T>(), type_name<E>(), count_},
        [&](const journal_record& r) {
          const std::string where = "journal " + path.string() + ": ";
          if (r.index >= count_ || r.fingerprint != fingerprints_[r.index]) {
            throw Error(
                where + "its record of element " + std::to_string(r.index) +
                " (at byte " + std::to_string(r.offset) +
                ") was written for other elements: " +
                (r.index >= count_ ? "there are " + std::to_string(count_)
                                   : std::string("that element differs now")) +
                "; use another journal for other elements");
          }
          if (!journal_decode(r.payload, value)) {
            throw Error(where + "the record at byte " +
                        std::to_string(r.offset) + " does not decode as a " +
                        std::string(type_name<T>()));
          }
          found(static_cast<std::size_t>(r.index), std::move(value));
        });
  }

  /// Whether task `task` is one of this journal's elements.
  [[nodiscard]] bool covers(std::size_t task) const noexcept {
    return task >= first_ && task - first_ < count_;
  }
  [[nodiscard]] std::size_t first() const noexcept { return first_; }
  [[nodiscard]] std::size_t count() const noexcept { return count_; }

  /// Adds the result of task `task` (covered) to the next write.
  void record(std::size_t task, const T& value) {
    const std::size_t index = task - first_;
    file_->add(index, fingerprints_[index], journal_bytes(value, scratch_));
  }
  void write() { file_->write(); }
  /// Every element is settled: what was written is made durable now.
  bool sync() noexcept { return file_->sync(true); }

  /// How many elements from the first on are known settled (a value or an
  /// error in the Map): kept by the Map, which syncs when all are.
  std::size_t settled = 0;

 private:
  std::size_t first_;
  std::size_t count_;
  std::vector<std::uint64_t> fingerprints_;
  std::vector<char> scratch_;
  std::unique_ptr<journal_file> file_;
};

}  // namespace pprocess::detail
