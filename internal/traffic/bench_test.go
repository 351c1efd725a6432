package traffic_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/traffic"
)

// BenchmarkRevert measures a full revert through a real HAProxy's runtime API: the shift is done
// (replacements at 100%, originals drained at weight 0) and one Apply puts the originals back,
// ready at their weight, with the replacements at 0. Issue 5's target is under a second from
// the alarm to all traffic on the originals; this is the router's share of it.
//
// ns/op is the revert alone. The baseline, timed in the same iterations, is one bare round trip
// on the same socket (`show info`); x_roundtrip is revert time over it. After each revert the
// next request through the frontend must reach an original.
func BenchmarkRevert(b *testing.B) {
	for _, n := range []int{2, 20} {
		b.Run(fmt.Sprintf("%d+%d_servers", n, n), func(b *testing.B) {
			var servers []server
			var originals, replacements []string
			for i := range n {
				servers = append(servers, server{fmt.Sprintf("blue%d", i), 100})
				originals = append(originals, fmt.Sprintf("blue%d", i))
			}
			for i := range n {
				servers = append(servers, server{fmt.Sprintf("green%d", i), 0})
				replacements = append(replacements, fmt.Sprintf("green%d", i))
			}
			l := newLab(b, servers...)
			h := l.driver(traffic.HAProxyConfig{})
			ctx := context.Background()
			shifted := targets(originals, 0, traffic.Drain, replacements, 100)
			reverted := targets(originals, 100, traffic.Ready, replacements, 0)

			var revert, roundTrip time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				if err := h.Apply(ctx, "app", shifted); err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				if _, err := h.Process(ctx); err != nil {
					b.Fatal(err)
				}
				roundTrip += time.Since(start)
				b.StartTimer()

				start = time.Now()
				if err := h.Apply(ctx, "app", reverted); err != nil {
					b.Fatal(err)
				}
				revert += time.Since(start)

				b.StopTimer()
				got := l.count(1)
				for name := range got {
					if !slices.Contains(originals, name) {
						b.Fatalf("first request after the revert went to %s", name)
					}
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(revert)/float64(roundTrip), "x_roundtrip")
			b.ReportMetric(float64(roundTrip.Microseconds())/float64(b.N), "us_roundtrip")
		})
	}
}

func targets(originals []string, ow int, oa traffic.AdminState, replacements []string, rw int) map[string]traffic.Target {
	t := map[string]traffic.Target{}
	for _, s := range originals {
		t[s] = traffic.Target{Weight: ow, Admin: oa}
	}
	for _, s := range replacements {
		t[s] = traffic.Target{Weight: rw, Admin: traffic.Ready}
	}
	return t
}
