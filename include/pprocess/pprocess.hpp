// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// The whole public API of pprocess: run ordinary C++ code in parallel in
/// created (forked) processes and collect the results through channels.
///
/// | header        | provides                                            |
/// |---------------|-----------------------------------------------------|
/// | error.hpp     | Error, RemoteError, ProcessError, ChannelError       |
/// | channel.hpp   | Channel, create(), start(), exit(), serializable     |
/// | exchange.hpp  | Options, Exchange                                    |
/// | parallel.hpp  | MakeParallel, MakeReusable                           |
/// | map.hpp       | Map, pmap                                            |
/// | queue.hpp     | Queue                                                |
/// | persistent.hpp| BackgroundCallable, BackgroundQueue, PersistentQueue, |
/// |               | PersistentExchange                                   |
/// | shared_array.hpp | SharedArray (zero-copy bulk data)                  |
/// | system.hpp    | waitall(), get_number_of_cores()                     |

#include <pprocess/channel.hpp>
#include <pprocess/error.hpp>
#include <pprocess/exchange.hpp>
#include <pprocess/map.hpp>
#include <pprocess/parallel.hpp>
#include <pprocess/persistent.hpp>
#include <pprocess/queue.hpp>
#include <pprocess/shared_array.hpp>
#include <pprocess/system.hpp>
