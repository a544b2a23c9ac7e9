// Package bench is chronik's load tool, behind `chronik bench`: like
// kafka-producer-perf-test, it drives any Kafka-compatible broker with the
// franz-go client and reports records/s, MiB/s, latency percentiles and
// errors.
//
// # Usage
//
//	c := bench.DefaultConfig() // 1 KiB records, 6 partitions, acks=all, idempotent, linger 5ms, 20s
//	c.Brokers = []string{"127.0.0.1:9092"}
//	r, err := bench.Produce(ctx, c) // ack latency: Produce call to promise
//	r, err = bench.Consume(ctx, c)  // from the start offsets to the end offsets seen at the start
//	c.Rate, c.Linger = 1000, 0
//	r, err = bench.E2E(ctx, c)      // produce-to-consume latency, the send time in each record
//	_ = r.WriteText(os.Stdout)      // or encoding/json: the Report is the --json output
//
// Config.WatchPID samples a process (the broker) during a run: peak and
// last VmRSS, VmHWM and the CPU time it used, from /proc (Linux).
//
// Latencies go into a log-linear Histogram (64 buckets per power of two,
// every percentile within 1.6% of the exact one, constant memory).
//
// RunKfake runs the reference peer of the performance notes, franz-go's
// kfake with its log on disk (`chronik bench peer-kfake`), and
// scripts/compare.sh runs the whole comparison.
//
// Every function is safe to call concurrently with others (each run has
// its own clients); errors of the run's setup are returned, failed records
// are counted in Report.Errors.
package bench
