#!/usr/bin/env bash
# Runs an MPI job across two simulated hosts on this one machine.
#
#   netns_run.sh [--ranks-per-host N] [--seconds S] MPIRUN [MPIRUN-OPTIONS...] PROGRAM [ARGS...]
#
# Hosts h1 and h2 are network namespaces, each with its own UTS namespace
# (its own host name: otherwise Open MPI sees one node and the ranks talk
# over shared memory), joined by a bridge in a fourth namespace; mpirun runs
# in a third, h0, and starts its daemons through an agent script in place of
# ssh. Addresses exist only inside these namespaces, never in the root one
# (the workplace's network rules). Rank r runs on h(1 + r / N): with N = 1,
# rank 0 on h1 and rank 1 on h2, and every message between them crosses TCP.
#
# Needs root, iproute2's `ip`, util-linux's `unshare` and a kernel that lets
# us create network namespaces, veth pairs and a bridge (a container often
# does not): without them it exits with 77, which the test registers as a
# skip. Otherwise it exits with mpirun's status (124 or 137: out of time).
# Everything it creates is removed on exit, and so is anything left by an
# earlier run that was killed before it could clean up.

set -euo pipefail

readonly skip_status=77
ranks_per_host=1
# Below the test's own timeout, so that a hung job still ends here, where
# the EXIT trap tears the namespaces down: a test killed by ctest would leave
# them behind.
seconds=150

skip() {
  echo "SKIPPED: netns_run.sh: $*" >&2
  exit "$skip_status"
}

while [[ $# -gt 0 ]]; do
  case $1 in
    --ranks-per-host) ranks_per_host=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    *) break ;;
  esac
done
if [[ $# -lt 2 || ! $ranks_per_host =~ ^[1-9][0-9]*$ || ! $seconds =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 [--ranks-per-host N] [--seconds S] MPIRUN [MPIRUN-OPTIONS...] PROGRAM [ARGS...]" >&2
  exit 2
fi
mpirun=$1
shift

[[ $(id -u) -eq 0 ]] || skip "needs root to create network namespaces"
for tool in ip unshare timeout; do
  command -v "$tool" >/dev/null || skip "no '$tool' command"
done
command -v "$mpirun" >/dev/null || skip "no '$mpirun' command"

# Unique to this run (parallel runs must not clash); the PID in the name is
# also how a later run tells whether the namespaces are still in use.
readonly tag=pprocess-netns
readonly prefix=$tag-$$
readonly subnet=10.77.0.0/24
readonly hosts=(h0 h1 h2)
workdir=

# Kills what still runs in the namespace (mpirun's daemons and ranks, and
# the ranks' own processes, whatever process group they moved to), then
# deletes it: its veth end and, in the bridge's namespace, the bridge go
# with it.
remove_namespace() {
  local pids
  pids=$(ip netns pids "$1" 2>/dev/null || true)
  if [[ -n $pids ]]; then
    # shellcheck disable=SC2086  # one PID a word
    kill -KILL $pids 2>/dev/null || true
    # Until they are gone the namespace and its links outlive the deletion.
    for _ in $(seq 50); do
      [[ -z $(ip netns pids "$1" 2>/dev/null || true) ]] && break
      sleep 0.1
    done
  fi
  ip netns delete "$1" 2>/dev/null || true
}

# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
  local status=$?
  trap - EXIT INT TERM HUP
  local ns
  for ns in "${hosts[@]}" br; do
    if [[ -e /run/netns/$prefix-$ns ]]; then
      remove_namespace "$prefix-$ns"
    fi
  done
  [[ -n $workdir ]] && rm -rf "$workdir"
  exit "$status"
}
trap cleanup EXIT
# A signal ends the script through the EXIT trap, which then cleans up.
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP

# Namespaces of earlier runs whose script is gone (killed with SIGKILL, so
# its trap never ran).
if [[ -d /run/netns ]]; then
  for path in /run/netns/"$tag"-*; do
    [[ -e $path ]] || continue
    name=${path##*/}
    pid=${name#"$tag"-}
    pid=${pid%%-*}
    if [[ $pid =~ ^[0-9]+$ ]] && ! kill -0 "$pid" 2>/dev/null; then
      echo "netns_run.sh: removing $name, left by run $pid" >&2
      remove_namespace "$name"
      rm -rf "${TMPDIR:-/tmp}/$tag-$pid".*
    fi
  done
fi

# A step that fails here says what this machine does not allow: a skip.
need() {
  local what=$1
  shift
  local out
  if ! out=$("$@" 2>&1); then
    skip "cannot $what ($*: ${out:-failed})"
  fi
}

need "create a network namespace" ip netns add "$prefix-br"
need "create a bridge" ip -n "$prefix-br" link add br0 type bridge
need "bring up a bridge" ip -n "$prefix-br" link set br0 up
i=0
for host in "${hosts[@]}"; do
  ns=$prefix-$host
  need "create a network namespace" ip netns add "$ns"
  # Both ends made inside our namespaces: no name is taken in the root one.
  need "create a veth pair" \
    ip -n "$prefix-br" link add "$host" type veth peer name eth0 netns "$ns"
  need "attach a veth to the bridge" \
    ip -n "$prefix-br" link set "$host" master br0 up
  need "give an address" \
    ip -n "$ns" addr add "10.77.0.$((10 + i))/24" dev eth0
  need "bring up a link" ip -n "$ns" link set eth0 up
  need "bring up loopback" ip -n "$ns" link set lo up
  i=$((i + 1))
done
need "give a namespace its own host name" \
  ip netns exec "$prefix-h0" unshare --uts \
  sh -c 'echo probe >/proc/sys/kernel/hostname'

workdir=$(mktemp -d "${TMPDIR:-/tmp}/$prefix.XXXXXX")
# mpirun's ssh: `agent HOST COMMAND-WORDS...`. Like ssh, it hands the
# words to a shell on that host (they carry their own quoting). Open MPI
# starts the agent with its environment, which the daemon then inherits.
cat >"$workdir/agent" <<EOF
#!/bin/sh
host=\$1
shift
exec ip netns exec "$prefix-\$host" unshare --uts \\
  sh -c "echo \$host >/proc/sys/kernel/hostname && \$*"
EOF
chmod +x "$workdir/agent"
printf '%s slots=%s\n' h1 "$ranks_per_host" h2 "$ranks_per_host" \
  >"$workdir/hosts"

# This runs as root, where mpirun and the ranks refuse to start without
# these. Passed with -x as they would be over ssh (the agent passes every
# variable anyway); PPROCESS_* and others come with the caller's options.
export OMPI_ALLOW_RUN_AS_ROOT=${OMPI_ALLOW_RUN_AS_ROOT:-1}
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-1}

# mpirun starts a daemon on h1 and one on h2 through the agent; only they
# take ranks (the hostfile), and TCP stays on our subnet. Not
# plm_rsh_no_tree_spawn: with it the daemons daemonize, leaving the agent's
# process tree.
status=0
timeout --kill-after=10 "$seconds" \
  ip netns exec "$prefix-h0" unshare --uts \
  sh -c 'echo h0 >/proc/sys/kernel/hostname && exec "$@"' sh \
  "$mpirun" \
  --mca plm_rsh_agent "$workdir/agent" \
  --mca oob_tcp_if_include "$subnet" \
  --mca btl_tcp_if_include "$subnet" \
  --hostfile "$workdir/hosts" \
  --map-by "ppr:$ranks_per_host:node" --bind-to none \
  -np $((2 * ranks_per_host)) \
  -x OMPI_ALLOW_RUN_AS_ROOT -x OMPI_ALLOW_RUN_AS_ROOT_CONFIRM \
  ${ASAN_OPTIONS:+-x ASAN_OPTIONS} \
  "$@" || status=$?
if [[ $status -eq 124 || $status -eq 137 ]]; then
  echo "netns_run.sh: the job did not end within $seconds s" >&2
fi
exit "$status"
