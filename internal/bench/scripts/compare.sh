#!/usr/bin/env bash
# compare.sh: the issue's performance comparison, chronik vs franz-go's kfake
# (the reference peer), back to back, on this machine.
#
#   make build && internal/bench/scripts/compare.sh [RUNS] [DURATION] [OUT]
#
# For each run and each broker: a fresh data dir, `bench produce` (1 KiB,
# 6 partitions, acks=all, idempotent, linger 5ms) with the broker's RSS
# and CPU time sampled, then `bench consume` of everything produced. Then,
# RUNS times per broker, `bench e2e` at 1000 records/s (linger 0 and 5ms),
# and chronik with --log.flush=always vs kfake --sync. Medians at the end.
# JSON reports go to OUT (default /tmp/chronik-compare).
set -euo pipefail
RUNS=${1:-3}
DUR=${2:-20s}
OUT=${3:-/tmp/chronik-compare}
BIN=${BIN:-./bin/chronik}
WORK=${WORK:-/tmp/chronik-compare-data}
PORT=${PORT:-39092}
mkdir -p "$OUT"
COMMON=(--brokers 127.0.0.1:$PORT --topic bench --partitions 6 --record-size 1024 --acks all --idempotent --linger 5ms --json)

pid=
start_broker() { # name extra-args...
	local name=$1; shift
	rm -rf "$WORK"; mkdir -p "$WORK"
	if [ "$name" = chronik ]; then
		"$BIN" --data-dir "$WORK" --listen 127.0.0.1:$PORT --http 127.0.0.1:$((PORT+1)) \
			--metadata.address 127.0.0.1:$((PORT+2)) "$@" >"$OUT/$name.log" 2>&1 &
		pid=$!
		for _ in $(seq 300); do curl -sf http://127.0.0.1:$((PORT+1))/readyz >/dev/null && return; sleep 0.1; done
		echo "chronik not ready" >&2; exit 1
	else
		"$BIN" bench peer-kfake --listen 127.0.0.1:$PORT --data-dir "$WORK" "$@" >"$OUT/$name.log" 2>&1 &
		pid=$!
		for _ in $(seq 300); do grep -q listening "$OUT/$name.log" && return; sleep 0.1; done
		echo "kfake not ready" >&2; exit 1
	fi
}
stop_broker() { kill -TERM "$pid"; wait "$pid" || true; rm -rf "$WORK"; }
val() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, d))' "$@"; }

for run in $(seq "$RUNS"); do
	for b in chronik kfake; do
		start_broker $b
		"$BIN" bench produce "${COMMON[@]}" --duration "$DUR" --watch-pid "$pid" >"$OUT/$b-produce-$run.json"
		"$BIN" bench consume "${COMMON[@]}" --watch-pid "$pid" >"$OUT/$b-consume-$run.json"
		stop_broker
		echo "run $run $b: produce $(val "$OUT/$b-produce-$run.json" 'round(mib_per_sec,1)') MiB/s" \
			"(peak RSS $(val "$OUT/$b-produce-$run.json" 'round(broker_memory["peak_rss_mib"],1)') MiB," \
			"broker cpu $(val "$OUT/$b-produce-$run.json" 'round(broker_memory["cpu_seconds"]/(bytes/2**30),2)') s/GiB)," \
			"consume $(val "$OUT/$b-consume-$run.json" 'round(mib_per_sec,1)') MiB/s" \
			"(broker cpu $(val "$OUT/$b-consume-$run.json" 'round(broker_memory["cpu_seconds"]/(bytes/2**30),2)') s/GiB)"
	done
done
for run in $(seq "$RUNS"); do
	for b in chronik kfake; do
		start_broker $b
		for linger in 0 5ms; do
			"$BIN" bench e2e "${COMMON[@]}" --linger $linger --rate 1000 --duration "$DUR" --watch-pid "$pid" >"$OUT/$b-e2e-linger$linger-$run.json"
			echo "run $run $b e2e at 1000 records/s, linger $linger: p50 $(val "$OUT/$b-e2e-linger$linger-$run.json" 'latency_ms["p50"]') ms," \
				"p99 $(val "$OUT/$b-e2e-linger$linger-$run.json" 'latency_ms["p99"]') ms, errors $(val "$OUT/$b-e2e-linger$linger-$run.json" 'errors')"
		done
		stop_broker
	done
done
for run in $(seq "$RUNS"); do
	start_broker chronik --log.flush=always
	"$BIN" bench produce "${COMMON[@]}" --duration "$DUR" --watch-pid "$pid" >"$OUT/chronik-always-$run.json"
	stop_broker
	start_broker kfake --sync
	"$BIN" bench produce "${COMMON[@]}" --duration "$DUR" --watch-pid "$pid" >"$OUT/kfake-sync-$run.json"
	stop_broker
	echo "run $run flush=always: chronik $(val "$OUT/chronik-always-$run.json" 'round(mib_per_sec,1)') MiB/s," \
		"kfake --sync $(val "$OUT/kfake-sync-$run.json" 'round(mib_per_sec,1)') MiB/s"
done
python3 - "$OUT" "$RUNS" <<'PY'
import json, statistics, sys
out, runs = sys.argv[1], int(sys.argv[2])
def med(name, key):
    return statistics.median(json.load(open(f"{out}/{name}-{r}.json"))[key] for r in range(1, runs+1))
def medf(name, f):
    return statistics.median(f(json.load(open(f"{out}/{name}-{r}.json"))) for r in range(1, runs+1))
cpu = lambda d: d["broker_memory"]["cpu_seconds"] / (d["bytes"] / 2**30)
for b in ("chronik", "kfake"):
    print(f"median {b}: produce {med(b+'-produce','mib_per_sec'):.1f} MiB/s"
          f" (peak RSS {medf(b+'-produce', lambda d: d['broker_memory']['peak_rss_mib']):.1f} MiB,"
          f" broker cpu {medf(b+'-produce', cpu):.2f} s/GiB),"
          f" consume {med(b+'-consume','mib_per_sec'):.1f} MiB/s (broker cpu {medf(b+'-consume', cpu):.2f} s/GiB)")
for b in ("chronik", "kfake"):
    for l in ("0", "5ms"):
        print(f"median {b} e2e linger {l}: p50 {medf(b+'-e2e-linger'+l, lambda d: d['latency_ms']['p50']):.3f} ms,"
              f" p99 {medf(b+'-e2e-linger'+l, lambda d: d['latency_ms']['p99']):.3f} ms")
print(f"median flush=always: chronik {med('chronik-always','mib_per_sec'):.1f} MiB/s, kfake --sync {med('kfake-sync','mib_per_sec'):.1f} MiB/s")
PY
