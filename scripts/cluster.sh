#!/usr/bin/env bash
# Start, inspect and stop a local 3-broker chronik cluster from the example
# configs in examples/cluster-<backend>/ (node N is broker N).
#
#   scripts/cluster.sh up     [raft|etcd]   build bin/chronik, start 3 brokers, wait until ready
#   scripts/cluster.sh status [raft|etcd]   chronik cluster status, as broker 1 sees it
#   scripts/cluster.sh down   [raft|etcd]   stop the brokers (SIGTERM), keep their data
#   scripts/cluster.sh clean  [raft|etcd]   stop them and delete their data and logs
#
# The backend defaults to raft. Data, logs (nodeN.log) and pids (nodeN.pid)
# go to examples/cluster-<backend>/data/ (gitignored). The etcd example needs
# an etcd at 127.0.0.1:2379. BUILD=0 skips the build (uses bin/chronik as
# it is). Works from any directory.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cmd=${1:-}
backend=${2:-raft}
case $backend in
raft | etcd) ;;
*) echo "unknown backend $backend (raft or etcd)" >&2; exit 2 ;;
esac
ex=$root/examples/cluster-$backend
run=$ex/data
bin=$root/bin/chronik

http_port() { # node -> its HTTP address
	if [ "$backend" = raft ]; then echo "127.0.0.1:9${1}44"; else echo "127.0.0.1:9${1}46"; fi
}

alive() { # node -> status 0 if its pid file names a running process
	local pidf=$run/node$1.pid
	[ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null
}

ready() { # node -> status 0 if /readyz answers 200
	curl -fsS -o /dev/null --max-time 1 "http://$(http_port "$1")/readyz" 2>/dev/null
}

up() {
	if [ "$backend" = etcd ] && ! curl -fsS --max-time 2 http://127.0.0.1:2379/health >/dev/null 2>&1; then
		echo "no etcd answers at 127.0.0.1:2379: start one first (see README, \"A local cluster\")" >&2
		exit 1
	fi
	if [ "${BUILD:-1}" != 0 ]; then
		echo "building $bin"
		(cd "$root" && go build -o bin/chronik ./cmd/chronik)
	fi
	mkdir -p "$run"
	for n in 1 2 3; do
		if alive "$n"; then
			echo "broker $n already running (pid $(cat "$run/node$n.pid"))"
			continue
		fi
		"$bin" --config "$ex/node$n.yaml" >>"$run/node$n.log" 2>&1 &
		echo $! >"$run/node$n.pid"
		echo "broker $n started (pid $!, log $run/node$n.log)"
	done
	for n in 1 2 3; do
		for _ in $(seq 1 300); do
			ready "$n" && break
			if ! alive "$n"; then
				echo "broker $n exited; the end of its log:" >&2
				tail -n 20 "$run/node$n.log" >&2
				exit 1
			fi
			sleep 0.1
		done
		if ! ready "$n"; then
			echo "broker $n not ready after 30s; see $run/node$n.log" >&2
			exit 1
		fi
	done
	echo "all 3 brokers ready"
	status
}

status() {
	if [ ! -x "$bin" ]; then
		echo "no $bin: run '$0 up $backend' first" >&2
		exit 1
	fi
	local n
	for n in 1 2 3; do
		if "$bin" cluster status --broker "$(http_port "$n")" --timeout 5s; then
			return 0
		fi
	done
	return 1
}

down() {
	local n pid
	for n in 1 2 3; do
		alive "$n" && kill -TERM "$(cat "$run/node$n.pid")"
	done
	for n in 1 2 3; do
		[ -f "$run/node$n.pid" ] || continue
		pid=$(cat "$run/node$n.pid")
		for _ in $(seq 1 300); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			echo "broker $n (pid $pid) still running after 30s; killing it" >&2
			kill -KILL "$pid"
		fi
		rm -f "$run/node$n.pid"
		echo "broker $n stopped"
	done
}

case $cmd in
up) up ;;
status) status ;;
down) down ;;
clean) down; rm -rf "$run"; echo "removed $run" ;;
*) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
