// SPDX-License-Identifier: MIT
//
// Options::journal: the file. Opened (created, locked, checked, scanned)
// when a journaled Map(fn, range) call begins, appended to as results
// arrive. The format is in docs/journal.md:
//
//   header:  magic "PPJOURNL" | version u32 | result name size u32 |
//            element name size u32 | 0 u32 | count u64 | synced u64 |
//            result name | element name | checksum u64
//   record:  index u64 | fingerprint u64 | payload size u64 | checksum u64 |
//            payload
//
// Little-endian, as the machine writes them. `synced` (outside the header's
// checksum, rewritten in place after each fdatasync) is how far the file
// was known durable: a damaged record before it is damage, one after it
// may be the torn tail of a crash.
#include "pprocess/detail/journal.hpp"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string>

#include "errors.hpp"
#include "this_process.hpp"

namespace pprocess::detail {

std::uint64_t hash_bytes(std::span<const char> bytes,
                         std::uint64_t seed) noexcept {
  constexpr std::uint64_t k = 0x9e3779b97f4a7c15ULL;  // odd
  // Each step is a bijection of the state for a given word, so a change of
  // one word always changes the result.
  std::uint64_t h = seed ^ (bytes.size() * 0xc2b2ae3d27d4eb4fULL);
  const char* p = bytes.data();
  std::size_t left = bytes.size();
  const auto step = [&](std::uint64_t word) {
    h = (h ^ word) * k;
    h ^= h >> 29;
  };
  for (; left >= 8; p += 8, left -= 8) {
    std::uint64_t word = 0;
    std::memcpy(&word, p, 8);
    step(word);
  }
  if (left > 0) {
    std::uint64_t word = 0;
    std::memcpy(&word, p, left);
    step(word);
  }
  // MurmurHash3's final mix.
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

namespace {

constexpr std::array<char, 8> journal_magic = {'P', 'P', 'J', 'O',
                                               'U', 'R', 'N', 'L'};
constexpr std::uint32_t journal_version = 1;
constexpr std::size_t fixed_header = 40;  // up to the names
constexpr std::size_t synced_at = 32;     // the offset of `synced`
constexpr std::size_t record_header = 32;

template <class U>
U read_at(std::span<const char> bytes, std::size_t offset) {
  U value{};
  std::memcpy(&value, bytes.data() + offset, sizeof value);
  return value;
}

template <class U>
void append(std::vector<char>& out, const U& value) {
  const std::size_t at = out.size();
  out.resize(at + sizeof value);
  std::memcpy(out.data() + at, &value, sizeof value);
}

// The checksum of a header: every byte but `synced`.
std::uint64_t header_checksum(std::span<const char> header) noexcept {
  return hash_bytes(header.subspan(fixed_header),
                    hash_bytes(header.first(synced_at)));
}

std::vector<char> header_for(const journal_identity& identity) {
  std::vector<char> header(journal_magic.begin(), journal_magic.end());
  append(header, journal_version);
  append(header, static_cast<std::uint32_t>(identity.result_type.size()));
  append(header, static_cast<std::uint32_t>(identity.element_type.size()));
  append(header, std::uint32_t{0});
  append(header, identity.count);
  append(header, std::uint64_t{0});  // synced: nothing yet
  header.insert(header.end(), identity.result_type.begin(),
                identity.result_type.end());
  header.insert(header.end(), identity.element_type.begin(),
                identity.element_type.end());
  append(header, header_checksum(header));
  return header;
}

std::uint64_t record_checksum(std::uint64_t index, std::uint64_t fingerprint,
                              std::span<const char> payload) {
  const std::array<std::uint64_t, 3> head = {index, fingerprint,
                                             payload.size()};
  return hash_bytes(
      payload,
      hash_bytes({reinterpret_cast<const char*>(head.data()), sizeof head}));
}

/// The whole file, mapped for reading while it is scanned.
class mapped_file {
 public:
  mapped_file(int fd, std::size_t size) : size_(size) {
    if (size_ > 0) {
      void* at = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (at == MAP_FAILED) {
        throw detail::os_error(errno, "mmap");
      }
      data_ = static_cast<const char*>(at);
    }
  }
  ~mapped_file() {
    if (data_ != nullptr) {
      (void)::munmap(const_cast<char*>(data_), size_);
    }
  }
  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;

  [[nodiscard]] std::span<const char> bytes() const noexcept {
    return {data_, size_};
  }

 private:
  const char* data_ = nullptr;
  std::size_t size_;
};

bool write_all_at(int fd, const char* data, std::size_t size,
                  std::uint64_t offset) {
  while (size > 0) {
    const ssize_t n = ::pwrite(fd, data, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      if (n == 0) {
        errno = EIO;
      }
      return false;
    }
    data += n;
    size -= static_cast<std::size_t>(n);
    offset += static_cast<std::uint64_t>(n);
  }
  return true;
}

}  // namespace

journal_file::journal_file(
    const std::filesystem::path& path, const journal_identity& identity,
    const std::function<void(const journal_record&)>& found)
    : path_(path), owner_(this_process()) {
  int raw = -1;
  do {
    raw = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  } while (raw < 0 && errno == EINTR);
  if (raw < 0) {
    throw os_error(errno, "cannot open or create it");
  }
  // Private at once: a process created from now on replaces its copy, so
  // that it never holds the lock.
  fd_ = private_fd(unique_fd(raw));
  int locked = -1;
  do {
    locked = ::flock(fd_.get(), LOCK_EX | LOCK_NB);
  } while (locked < 0 && errno == EINTR);
  if (locked < 0) {
    if (errno == EWOULDBLOCK) {
      throw error(
          "another creator is using it (it is locked); a journal serves one "
          "call at a time");
    }
    throw os_error(errno, "cannot lock it");
  }
  struct stat st {};
  if (::fstat(fd_.get(), &st) < 0) {
    throw os_error(errno, "fstat");
  }
  const std::vector<char> expected = header_for(identity);
  const auto size = static_cast<std::uint64_t>(st.st_size);
  bool torn_header = false;
  if (size < expected.size()) {
    // Empty, or cut off while it was created: only then a prefix of ours.
    const mapped_file file(fd_.get(), static_cast<std::size_t>(size));
    torn_header =
        std::equal(file.bytes().begin(), file.bytes().end(), expected.begin());
  }
  if (torn_header) {
    create(expected);
    return;
  }
  const mapped_file file(fd_.get(), static_cast<std::size_t>(size));
  check_header(expected, file.bytes());
  synced_ = read_at<std::uint64_t>(file.bytes(), synced_at);
  scan(file.bytes(), expected.size(), found);
}

journal_file::~journal_file() {
  // A forked copy (its creator's Map copied into a raw fork) leaves the
  // file to its creator.
  if (fd_ && end_ != synced_ && owner_ == this_process()) {
    (void)sync(true);
  }
}

void journal_file::create(const std::vector<char>& header) {
  if (::ftruncate(fd_.get(), 0) < 0) {
    throw os_error(errno, "ftruncate");
  }
  if (!write_all_at(fd_.get(), header.data(), header.size(), 0) ||
      ::fdatasync(fd_.get()) < 0) {
    throw os_error(errno, "cannot write its header");
  }
  // The file's name, durable too.
  std::filesystem::path directory = path_.parent_path();
  if (directory.empty()) {
    directory = ".";
  }
  const unique_fd dir(
      ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir) {
    (void)::fsync(dir.get());
  }
  end_ = header.size();
  synced_ = end_;
  last_sync_ = std::chrono::steady_clock::now();
}

void journal_file::check_header(const std::vector<char>& expected,
                                std::span<const char> found) const {
  if (found.size() < fixed_header ||
      !std::equal(journal_magic.begin(), journal_magic.end(), found.begin())) {
    throw error("it is not a pprocess journal (no journal header)");
  }
  const auto version = read_at<std::uint32_t>(found, 8);
  if (version != journal_version) {
    throw error("its format is version " + std::to_string(version) +
                "; this library reads version " +
                std::to_string(journal_version));
  }
  const auto result_size = read_at<std::uint32_t>(found, 12);
  const auto element_size = read_at<std::uint32_t>(found, 16);
  const std::uint64_t size =
      fixed_header + std::uint64_t{result_size} + element_size + 8;
  if (size > found.size()) {
    throw error("its header is cut off (" + std::to_string(found.size()) +
                " bytes, of " + std::to_string(size) + ")");
  }
  const auto name = [&](std::span<const char> header, std::size_t at,
                        std::size_t length) {
    return std::string(header.data() + at, length);
  };
  const auto expected_result = read_at<std::uint32_t>(expected, 12);
  const auto expected_element = read_at<std::uint32_t>(expected, 16);
  const std::string result = name(found, fixed_header, result_size);
  const std::string wanted_result =
      name(expected, fixed_header, expected_result);
  if (result != wanted_result) {
    throw error("it was written for results of type " + result +
                "; this call's results are " + wanted_result);
  }
  const std::string element =
      name(found, fixed_header + result_size, element_size);
  const std::string wanted_element =
      name(expected, fixed_header + expected_result, expected_element);
  if (element != wanted_element) {
    throw error("it was written for elements of type " + element +
                "; this call's elements are " + wanted_element);
  }
  const auto count = read_at<std::uint64_t>(found, 24);
  const auto wanted_count = read_at<std::uint64_t>(expected, 24);
  if (count != wanted_count) {
    throw error("it was written for " + std::to_string(count) +
                " elements; this call has " + std::to_string(wanted_count));
  }
  const std::span<const char> header = found.first(size);
  if (read_at<std::uint64_t>(header, size - 8) !=
      header_checksum(header.first(size - 8))) {
    throw error("its header is damaged (bad checksum)");
  }
}

void journal_file::scan(
    std::span<const char> bytes, std::uint64_t header_size,
    const std::function<void(const journal_record&)>& found) {
  const std::uint64_t size = bytes.size();
  std::uint64_t at = header_size;
  while (at < size) {
    if (size - at < record_header) {
      break;  // torn: the end of the last record is missing
    }
    const auto index = read_at<std::uint64_t>(bytes, at);
    const auto fingerprint = read_at<std::uint64_t>(bytes, at + 8);
    const auto length = read_at<std::uint64_t>(bytes, at + 16);
    const auto checksum = read_at<std::uint64_t>(bytes, at + 24);
    if (length > size - at - record_header) {
      break;  // torn likewise
    }
    const std::span<const char> payload =
        bytes.subspan(at + record_header, length);
    const std::uint64_t next = at + record_header + length;
    if (checksum != record_checksum(index, fingerprint, payload)) {
      if (next == size || at >= synced_) {
        break;  // the last record, or written after the last sync: torn
      }
      throw error("the record at byte " + std::to_string(at) +
                  " is damaged (bad checksum), with records after it; the "
                  "journal cannot be trusted");
    }
    found({index, fingerprint, payload, at});
    at = next;
  }
  end_ = at;
  if (at < size) {
    // Cut the torn tail off, so that records go after good ones.
    if (::ftruncate(fd_.get(), static_cast<off_t>(at)) < 0) {
      throw os_error(errno, "cannot cut off its torn last record");
    }
  }
  synced_ = std::min(synced_, end_);
  last_sync_ = std::chrono::steady_clock::now();
}

void journal_file::add(std::uint64_t index, std::uint64_t fingerprint,
                       std::span<const char> payload) {
  append(pending_, index);
  append(pending_, fingerprint);
  append(pending_, static_cast<std::uint64_t>(payload.size()));
  append(pending_, record_checksum(index, fingerprint, payload));
  pending_.insert(pending_.end(), payload.begin(), payload.end());
  ++unsynced_;
}

void journal_file::write() {
  if (pending_.empty()) {
    return;
  }
  if (!write_all_at(fd_.get(), pending_.data(), pending_.size(), end_)) {
    const int code = errno;
    // No part of these records stays: the next write goes where they were.
    (void)::ftruncate(fd_.get(), static_cast<off_t>(end_));
    pending_.clear();
    throw os_error(code,
                   "cannot append results (they will be computed again "
                   "on a rerun)");
  }
  end_ += pending_.size();
  pending_.clear();
  if (unsynced_ >= sync_records ||
      std::chrono::steady_clock::now() - last_sync_ >= sync_interval) {
    if (!sync()) {
      throw os_error(errno, "fdatasync");
    }
  }
}

bool journal_file::sync(bool last) noexcept {
  if (::fdatasync(fd_.get()) < 0) {
    return false;
  }
  // Made durable by the next sync (the last one makes its own); until then
  // the older mark stays, which is safe.
  const std::uint64_t now_synced = end_;
  if (!write_all_at(fd_.get(), reinterpret_cast<const char*>(&now_synced),
                    sizeof now_synced, synced_at) ||
      (last && ::fdatasync(fd_.get()) < 0)) {
    return false;
  }
  synced_ = now_synced;
  unsynced_ = 0;
  last_sync_ = std::chrono::steady_clock::now();
  return true;
}

Error journal_file::error(const std::string& what) const {
  return Error("journal " + path_.string() + ": " + what);
}

Error journal_file::os_error(int code, const std::string& what) const {
  return detail::os_error(code, "journal " + path_.string() + ": " + what);
}

}  // namespace pprocess::detail
