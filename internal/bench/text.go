package bench

import (
	"fmt"
	"io"
	"strings"
)

// WriteText writes r as a few human-readable lines, like the Kafka perf
// tools: what was run, the rates, the latency percentiles and the errors.
func (r Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: topic %s, %d partitions, %d-byte records", r.Mode, r.Topic, r.Partitions, r.RecordSize)
	if r.Mode != "consume" {
		fmt.Fprintf(&b, ", acks=%s, idempotent=%v, compression=%s, linger %gms", r.Acks, r.Idempotent, r.Compression, r.LingerMs)
		if r.Rate > 0 {
			fmt.Fprintf(&b, ", rate %d records/s", r.Rate)
		}
	}
	fmt.Fprintf(&b, "\n%d records, %.1f MiB in %.2f s: %.1f records/s, %.2f MiB/s\n",
		r.Records, float64(r.Bytes)/(1<<20), r.Seconds, r.RecordsPerSec, r.MiBPerSec)
	if l := r.Latency; l != nil {
		what := "ack"
		if r.Mode == "e2e" {
			what = "end-to-end"
		}
		fmt.Fprintf(&b, "%s latency ms: p50 %.3f, p90 %.3f, p99 %.3f, p99.9 %.3f, max %.3f (%d samples)\n",
			what, l.P50, l.P90, l.P99, l.P999, l.Max, l.Samples)
	}
	fmt.Fprintf(&b, "errors: %d", r.Errors)
	if r.FirstError != "" {
		fmt.Fprintf(&b, " (first: %s)", r.FirstError)
	}
	b.WriteString("\n")
	if m := r.Memory; m != nil {
		fmt.Fprintf(&b, "broker pid %d memory MiB: peak VmRSS %.1f, last VmRSS %.1f, VmHWM %.1f; cpu %.2f s", m.PID, m.PeakRSS, m.LastRSS, m.HWM, m.CPUSeconds)
		if r.Bytes > 0 {
			fmt.Fprintf(&b, " (%.2f s per GiB)", m.CPUSeconds/(float64(r.Bytes)/(1<<30)))
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
