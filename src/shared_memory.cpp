// SPDX-License-Identifier: MIT
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include <pprocess/detail/wire.hpp>
#include <pprocess/shared_array.hpp>

#include "errors.hpp"

namespace pprocess::detail {
namespace {

// What a received memory file must promise before we map it: a sender that
// could shrink it afterwards could make our reads fault (SIGBUS).
constexpr int required_seals = F_SEAL_SHRINK;

}  // namespace

std::shared_ptr<shared_memory> shared_memory::create(std::size_t bytes) {
  unique_fd fd(
      ::memfd_create("pprocess.SharedArray", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd) {
    throw os_error(errno, "SharedArray: memfd_create");
  }
  if (::ftruncate(fd.get(), static_cast<off_t>(bytes)) != 0) {
    throw os_error(errno,
                   "SharedArray: sizing " + std::to_string(bytes) + " bytes");
  }
  void* data =
      ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (data == MAP_FAILED) {
    throw os_error(errno,
                   "SharedArray: mapping " + std::to_string(bytes) + " bytes");
  }
  return std::shared_ptr<shared_memory>(
      new shared_memory(std::move(fd), data, bytes));
}

std::shared_ptr<shared_memory> shared_memory::adopt(unique_fd fd,
                                                    std::size_t bytes) {
  struct stat status {};
  const int seals = ::fcntl(fd.get(), F_GET_SEALS);
  if (::fstat(fd.get(), &status) != 0 || !S_ISREG(status.st_mode) ||
      seals < 0 || (seals & required_seals) != required_seals ||
      static_cast<std::size_t>(status.st_size) < bytes) {
    throw ChannelError(ChannelErrc::malformed_frame,
                       "receive: a SharedArray whose memory is not a sealed "
                       "memory file of " +
                           std::to_string(bytes) + " bytes");
  }
  // MAP_POPULATE: the pages exist already (the sender wrote them); mapping
  // them all at once is cheaper than a fault per page on first reading.
  void* data = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_POPULATE, fd.get(), 0);
  if (data == MAP_FAILED) {
    throw ChannelError(std::error_code(errno, std::system_category()),
                       "receive: mapping a SharedArray of " +
                           std::to_string(bytes) + " bytes");
  }
  return std::shared_ptr<shared_memory>(
      new shared_memory(std::move(fd), data, bytes));
}

shared_memory::~shared_memory() {
  (void)::munmap(data_, bytes_);
}

int shared_memory::fd_for_sending() const {
  const int seals = ::fcntl(fd_.get(), F_GET_SEALS);
  if (seals < 0 || (seals & required_seals) != required_seals) {
    if (::fcntl(fd_.get(), F_ADD_SEALS, required_seals) != 0) {
      throw os_error(errno, "SharedArray: sealing its memory");
    }
  }
  return fd_.get();
}

std::vector<unique_fd> duplicate_fds(std::span<const int> fds) {
  std::vector<unique_fd> copies;
  copies.reserve(fds.size());
  for (const int fd : fds) {
    copies.emplace_back(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
    if (!copies.back()) {
      throw os_error(errno, "duplicating a descriptor to send later");
    }
  }
  return copies;
}

}  // namespace pprocess::detail
