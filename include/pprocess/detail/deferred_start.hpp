// SPDX-License-Identifier: MIT
#pragma once

#include <cstddef>
#include <cstdlib>
#include <new>
#include <type_traits>
#include <utility>

#include <pprocess/channel.hpp>

namespace pprocess::detail {

/// A move-only `Channel()` callable: how to start a process later (the work
/// waiting for a free place, the next worker of a pool).
///
/// A callable that fits (a function and a few small arguments, the common
/// case) is kept inline: with a fork per task, each allocation in the
/// creator copies a heap page that the last created process still shares.
class deferred_start {
 public:
  deferred_start() noexcept = default;

  template <class F>
    requires(!std::is_same_v<std::decay_t<F>, deferred_start>)
  explicit deferred_start(F&& fn) {
    using model_t = model<std::decay_t<F>>;
    if constexpr (fits_inline<model_t>) {
      impl_ = ::new (static_cast<void*>(storage_)) model_t(std::forward<F>(fn));
    } else {
      impl_ = new model_t(std::forward<F>(fn));
    }
  }

  deferred_start(deferred_start&& other) noexcept { take(other); }
  deferred_start& operator=(deferred_start&& other) noexcept {
    if (this != &other) {
      reset();
      take(other);
    }
    return *this;
  }
  deferred_start(const deferred_start&) = delete;
  deferred_start& operator=(const deferred_start&) = delete;
  ~deferred_start() { reset(); }

  explicit operator bool() const noexcept { return impl_ != nullptr; }

  Channel operator()() { return impl_->start(); }

 private:
  static constexpr std::size_t inline_size = 6 * sizeof(void*);

  struct concept_t {
    virtual ~concept_t() = default;
    virtual Channel start() = 0;
    /// Moves the callable into `storage` and destroys this one.
    virtual concept_t* relocate(void* storage) noexcept = 0;
  };

  template <class F>
  struct model final : concept_t {
    template <class G>
    explicit model(G&& f) : fn(std::forward<G>(f)) {}
    Channel start() override { return fn(); }
    concept_t* relocate(void* storage) noexcept override {
      if constexpr (fits_inline<model>) {
        auto* moved = ::new (storage) model(std::move(fn));
        this->~model();
        return moved;
      } else {
        // Never called: a model on the heap moves with its pointer. Not
        // compiled either, so that g++ (12, -O2 and up) cannot warn about
        // a placement it imagines into the inline storage (-Warray-bounds).
        (void)storage;
        std::abort();
      }
    }
    F fn;
  };

  template <class M>
  static constexpr bool fits_inline = sizeof(M) <= inline_size &&
                                      alignof(M) <= alignof(std::max_align_t) &&
                                      std::is_nothrow_move_constructible_v<M>;

  [[nodiscard]] bool is_inline() const noexcept {
    return static_cast<const void*>(impl_) ==
           static_cast<const void*>(storage_);
  }

  void take(deferred_start& other) noexcept {
    if (other.is_inline()) {
      impl_ = other.impl_->relocate(storage_);
    } else {
      impl_ = other.impl_;
    }
    other.impl_ = nullptr;
  }

  void reset() noexcept {
    if (is_inline()) {
      impl_->~concept_t();
    } else {
      delete impl_;
    }
    impl_ = nullptr;
  }

  concept_t* impl_ = nullptr;
  alignas(std::max_align_t) unsigned char storage_[inline_size];
};

}  // namespace pprocess::detail
