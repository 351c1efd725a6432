package script

import (
	"context"
	"io"
	"os/exec"
	"testing"
	"time"
)

// BenchmarkRun measures what Runner adds to starting a no-op script: the pipes, the process
// group, the log lines and the waits. It reports the ratio against exec of the same script and
// against exec of /bin/true, both measured in the same loop so machine noise affects all three.
func BenchmarkRun(b *testing.B) {
	path := writeScript(b, b.TempDir(), "noop.sh", "#!/bin/sh\n", 0o755)
	r := &Runner{Log: io.Discard}
	c := Command{Event: "ApplicationStart", Path: path, Env: []string{testPath}}
	ctx := context.Background()
	var ours, rawScript, rawTrue time.Duration
	for b.Loop() {
		start := time.Now()
		if res := r.Run(ctx, c); res.Code != Succeeded {
			b.Fatalf("Code = %v: %s", res.Code, res.Message)
		}
		ours += time.Since(start)

		start = time.Now()
		if err := exec.Command(path).Run(); err != nil {
			b.Fatal(err)
		}
		rawScript += time.Since(start)

		start = time.Now()
		if err := exec.Command("/bin/true").Run(); err != nil {
			b.Fatal(err)
		}
		rawTrue += time.Since(start)
	}
	b.ReportMetric(float64(ours.Nanoseconds())/float64(b.N), "ns/script")
	b.ReportMetric(float64(ours)/float64(rawScript), "x-raw-script")
	b.ReportMetric(float64(ours)/float64(rawTrue), "x-raw-true")
}
