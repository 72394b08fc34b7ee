// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// The cereal archives behind channels: cereal's binary format, written
/// straight into a byte vector and read straight from a span.
///
/// Why not cereal::BinaryInputArchive: it trusts the sizes it reads. A frame
/// that claims a string of 2^60 bytes makes it allocate that much before it
/// notices the frame is short. input_archive refuses any container size
/// larger than the bytes left in the frame, so what a peer sends bounds what
/// decoding allocates.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include <cereal/cereal.hpp>

#include <pprocess/detail/unique_fd.hpp>

namespace pprocess::detail {

/// Appends cereal's binary encoding to a byte vector, and collects the
/// descriptors that travel with it (SharedArray's memory).
class output_archive
    : public cereal::OutputArchive<output_archive,
                                   cereal::AllowEmptyClassElision> {
 public:
  explicit output_archive(std::vector<char>& out,
                          std::vector<int>* fds = nullptr)
      : OutputArchive(this), out_(out), fds_(fds) {}

  // Grows the vector, then copies into its storage. Not
  // `out_.insert(out_.end(), bytes, bytes + size)`: the reallocating path of
  // g++ 12's vector::insert copies the new bytes in, then moves the elements
  // after the insertion point (none: it is the end) behind them. The copy
  // writes through a char pointer, which may alias the vector's own
  // pointers, so the optimizer reloads the end and cannot prove that move
  // empty; at -O3, on a fresh vector, it sees a move into the zero bytes
  // left of an exactly-sized buffer and warns (-Wstringop-overflow). Dead
  // code, but emitted; resize and memcpy have no such move.
  void saveBinary(const void* data, std::size_t size) {
    if (size == 0) {
      return;  // data may be null
    }
    const std::size_t offset = out_.size();
    out_.resize(offset + size);
    std::memcpy(out_.data() + offset, data, size);
  }

  /// Sends `fd` with the frame (borrowed: it must stay open until sent);
  /// returns its index among the frame's descriptors.
  std::uint32_t attach(int fd) {
    if (fds_ == nullptr) {
      throw cereal::Exception(
          "a descriptor (SharedArray) cannot be encoded here");
    }
    fds_->push_back(fd);
    return static_cast<std::uint32_t>(fds_->size() - 1);
  }

 private:
  std::vector<char>& out_;
  std::vector<int>* fds_;
};

/// Reads cereal's binary encoding from a span, within its bounds.
class input_archive
    : public cereal::InputArchive<input_archive,
                                  cereal::AllowEmptyClassElision> {
 public:
  explicit input_archive(std::span<const char> in,
                         std::vector<unique_fd>* fds = nullptr)
      : InputArchive(this), in_(in), fds_(fds) {}

  /// Takes the `index`-th descriptor that arrived with the frame.
  unique_fd take(std::uint32_t index) {
    if (fds_ == nullptr || index >= fds_->size() || !(*fds_)[index]) {
      throw cereal::Exception("a frame refers to a descriptor it lacks");
    }
    return std::move((*fds_)[index]);
  }

  void loadBinary(void* data, std::size_t size) {
    if (size > in_.size()) {
      throw cereal::Exception("the frame ends inside a value");
    }
    std::memcpy(data, in_.data(), size);
    in_ = in_.subspan(size);
  }

  /// Bytes not decoded yet.
  [[nodiscard]] std::size_t remaining() const noexcept { return in_.size(); }

 private:
  std::span<const char> in_;
  std::vector<unique_fd>* fds_;
};

}  // namespace pprocess::detail

namespace cereal {

template <class T>
std::enable_if_t<std::is_arithmetic_v<T>> CEREAL_SAVE_FUNCTION_NAME(
    pprocess::detail::output_archive& archive, const T& value) {
  archive.saveBinary(std::addressof(value), sizeof value);
}

template <class T>
std::enable_if_t<std::is_arithmetic_v<T>> CEREAL_LOAD_FUNCTION_NAME(
    pprocess::detail::input_archive& archive, T& value) {
  archive.loadBinary(std::addressof(value), sizeof value);
}

template <class Archive, class T>
CEREAL_ARCHIVE_RESTRICT(pprocess::detail::input_archive,
                        pprocess::detail::output_archive)
CEREAL_SERIALIZE_FUNCTION_NAME(Archive& archive, NameValuePair<T>& pair) {
  archive(pair.value);
}

template <class T>
void CEREAL_SAVE_FUNCTION_NAME(pprocess::detail::output_archive& archive,
                               const SizeTag<T>& tag) {
  archive(tag.size);
}

template <class T>
void CEREAL_LOAD_FUNCTION_NAME(pprocess::detail::input_archive& archive,
                               SizeTag<T>& tag) {
  archive(tag.size);
  // Every element takes at least one byte... or none, for empty types; then
  // the count still cannot exceed the frame, which bounds the allocation.
  if (tag.size > archive.remaining()) {
    throw Exception("a container of " + std::to_string(tag.size) +
                    " elements in a frame with " +
                    std::to_string(archive.remaining()) + " bytes left");
  }
}

template <class T>
void CEREAL_SAVE_FUNCTION_NAME(pprocess::detail::output_archive& archive,
                               const BinaryData<T>& data) {
  archive.saveBinary(data.data, static_cast<std::size_t>(data.size));
}

template <class T>
void CEREAL_LOAD_FUNCTION_NAME(pprocess::detail::input_archive& archive,
                               BinaryData<T>& data) {
  archive.loadBinary(data.data, static_cast<std::size_t>(data.size));
}

}  // namespace cereal

CEREAL_REGISTER_ARCHIVE(pprocess::detail::output_archive)
CEREAL_REGISTER_ARCHIVE(pprocess::detail::input_archive)
CEREAL_SETUP_ARCHIVE_TRAITS(pprocess::detail::input_archive,
                            pprocess::detail::output_archive)
