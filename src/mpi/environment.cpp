// SPDX-License-Identifier: MIT
#include "environment.hpp"

#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <elf.h>
#include <link.h>

namespace pprocess::mpi::detail {

namespace {

/// Reads the NT_GNU_BUILD_ID note of the first object dl_iterate_phdr
/// lists: the program itself.
int find_build_id(dl_phdr_info* info, std::size_t /*size*/, void* data) {
  auto& id = *static_cast<std::string*>(data);
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& header = info->dlpi_phdr[i];
    if (header.p_type != PT_NOTE) {
      continue;
    }
    const char* at =
        reinterpret_cast<const char*>(info->dlpi_addr + header.p_vaddr);
    const char* end = at + header.p_memsz;
    while (at + sizeof(ElfW(Nhdr)) <= end) {
      ElfW(Nhdr) note;
      std::memcpy(&note, at, sizeof note);
      const char* name = at + sizeof note;
      const char* desc = name + ((note.n_namesz + 3) & ~3U);
      if (note.n_type == NT_GNU_BUILD_ID && note.n_namesz == 4 &&
          std::memcmp(name, "GNU", 4) == 0 && desc + note.n_descsz <= end) {
        static constexpr char digits[] = "0123456789abcdef";
        for (std::uint32_t b = 0; b < note.n_descsz; ++b) {
          const auto byte = static_cast<unsigned char>(desc[b]);
          id += digits[byte >> 4];
          id += digits[byte & 15];
        }
        return 1;
      }
      at = desc + ((note.n_descsz + 3) & ~3U);
    }
  }
  return 1;  // only the program, the first object listed
}

}  // namespace

std::string program_build_id() {
  std::string id;
  dl_iterate_phdr(find_build_id, &id);
  return id;
}

std::string host_name() {
  std::array<char, 256> name{};
  if (::gethostname(name.data(), name.size() - 1) != 0) {
    return "unknown";
  }
  return name.data();
}

std::size_t online_processors() {
  const long online = ::sysconf(_SC_NPROCESSORS_ONLN);
  return online > 0 ? static_cast<std::size_t>(online) : 1;
}

}  // namespace pprocess::mpi::detail
