// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// pprocess::mpi: the same programs over the ranks of an MPI job (Session,
/// pmap, Map, Queue). A separate component: link pprocess::mpi
/// (find_package(pprocess CONFIG REQUIRED COMPONENTS mpi)); not included
/// by <pprocess/pprocess.hpp>. See docs/mpi.md.

#include <pprocess/mpi/map.hpp>
#include <pprocess/mpi/queue.hpp>
#include <pprocess/mpi/session.hpp>
