package install

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/slipway-deploy/slipway/internal/appspec"
)

// BenchmarkInstall_20000FilesVsCpA installs a 20,000-file bundle (200 directories of 100 files of
// 1 KiB, like a web application's assets) and copies the same tree with `cp -a` in the same
// iteration. ns/op is the install alone; x_cp_a is install time over cp time, the figure to
// compare across machines.
func BenchmarkInstall_20000FilesVsCpA(b *testing.B) {
	if _, err := exec.LookPath("cp"); err != nil {
		b.Skip("cp is not installed")
	}
	dir := b.TempDir()
	archive := filepath.Join(dir, "bundle")
	content := bytes.Repeat([]byte("x"), 1024)
	for d := range 200 {
		sub := filepath.Join(archive, fmt.Sprintf("assets/d%03d", d))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			b.Fatal(err)
		}
		for f := range 100 {
			if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%03d.js", f)), content, 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	in := &Installer{}
	var ours, cp time.Duration
	for i := 0; i < b.N; i++ {
		dest := filepath.Join(dir, fmt.Sprintf("ours-%d", i))
		instr := filepath.Join(dir, fmt.Sprintf("instructions-%d", i))
		req := Request{
			Spec:        spec(appspec.File{Source: "/", Destination: dest, Line: 3}),
			ArchiveDir:  archive,
			CleanupFile: filepath.Join(instr, "g-cleanup"),
			InstallFile: filepath.Join(instr, "g-install.json"),
		}
		cpDest := filepath.Join(dir, fmt.Sprintf("cp-%d", i))
		runOurs := func() {
			start := time.Now()
			if err := in.Install(context.Background(), req); err != nil {
				b.Fatal(err)
			}
			ours += time.Since(start)
		}
		runCp := func() {
			b.StopTimer()
			defer b.StartTimer()
			start := time.Now()
			if out, err := exec.Command("cp", "-a", archive, cpDest).CombinedOutput(); err != nil {
				b.Fatalf("cp -a: %v: %s", err, out)
			}
			cp += time.Since(start)
		}
		// Alternate which goes first, so neither always runs right after the other's writeback.
		if i%2 == 0 {
			runOurs()
			runCp()
		} else {
			runCp()
			runOurs()
		}
		b.StopTimer()
		for _, p := range []string{dest, instr, cpDest} {
			if err := os.RemoveAll(p); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(cp.Milliseconds())/float64(b.N), "cp_a_ms/op")
	b.ReportMetric(float64(ours)/float64(cp), "x_cp_a")
}
