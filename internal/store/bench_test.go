package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/slipway-deploy/slipway/internal/deploy"
)

// BenchmarkSaveDeployment saves the state of an in-progress deployment to n hosts (every host
// with its full lifecycle record) with one SendCommand effect, as each agent report does. The
// 1-host case is the baseline: the ratio shows what the size of the state costs over the
// fixed cost of a durable (fsync'd) commit.
func BenchmarkSaveDeployment(b *testing.B) {
	for _, hosts := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("hosts=%d", hosts), func(b *testing.B) {
			ctx := context.Background()
			s := open(b)
			f := newFixture(b, s, hosts)
			create(b, s, newDeployment("d-1", "r1"))
			start(b, s, "d-1", f.ids())
			v := get(b, s, "d-1")
			d := v.Deployment
			for i := range d.Targets {
				for j := range d.Targets[i].Events {
					d.Targets[i].Events[j].Diagnostics = deploy.Diagnostics{ErrorCode: "ScriptFailed", ScriptName: "scripts/start.sh",
						Message: "script exited with status 1", LogTail: "[stderr] something went wrong on this host\n"}
				}
			}
			effects := []deploy.Effect{deploy.SendCommand{Deployment: "d-1", Instance: f.ids()[0], Event: "Install", Attempt: 1}}
			version := v.Version
			for b.Loop() {
				saved, err := s.SaveDeployment(ctx, d, version, effects)
				if err != nil {
					b.Fatal(err)
				}
				version = saved.Version
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "saves/s")
		})
	}
}
