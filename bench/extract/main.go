// Command extract compares bundle.ExtractFile with `tar -xzf` on the same generated tgz, in the
// same run, and prints the ratio. See bench/README.md for the figures and how they were taken.
//
// The tree is generated deterministically (fixed seed): file sizes log-uniform between 64 B and
// 64 KiB, plus a few large files that bring the total to -mb; 60% of files are text made of
// words (compresses about 4:1), 40% random bytes (incompressible), spread over nested directories.
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"syscall"
	"time"

	"github.com/slipway-deploy/slipway/bench/internal/rig"
	"github.com/slipway-deploy/slipway/internal/bundle"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "extract bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) (err error) {
	fl := flag.NewFlagSet("extract", flag.ContinueOnError)
	files := fl.Int("files", 20000, "number of files in the generated tree")
	mb := fl.Int("mb", 200, "total size of the generated tree in MiB")
	runs := fl.Int("runs", 5, "timed runs of each extractor (the median is reported)")
	work := fl.String("dir", "", "work directory (default: a new temp dir, removed at the end)")
	cpuprofile := fl.String("cpuprofile", "", "write a CPU profile of the slipway runs to this file")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if _, err := exec.LookPath("tar"); err != nil {
		return fmt.Errorf("the baseline needs tar on PATH: %w", err)
	}
	dir := *work
	if dir == "" {
		d, err := os.MkdirTemp("", "slipway-extract-bench-")
		if err != nil {
			return err
		}
		defer func() { _ = os.RemoveAll(d) }()
		dir = d
	}

	tree := filepath.Join(dir, "tree")
	total, err := generate(tree, *files, int64(*mb)<<20)
	if err != nil {
		return fmt.Errorf("generate tree: %w", err)
	}
	archive := filepath.Join(dir, "bundle.tgz")
	start := time.Now()
	sum, err := buildFile(ctx, archive, tree)
	if err != nil {
		return err
	}
	fi, err := os.Stat(archive)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "tree: %d files, %.1f MiB; tgz %.1f MiB (sha256 %s…), built in %d ms\n",
		*files, float64(total)/(1<<20), float64(fi.Size())/(1<<20), sum[:12], time.Since(start).Milliseconds())
	fmt.Fprintf(stdout, "machine before the timed runs: %s\n", rig.Machine())

	var prof *os.File
	if *cpuprofile != "" {
		if prof, err = os.Create(*cpuprofile); err != nil {
			return err
		}
		defer func() {
			if cerr := prof.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("cpu profile: %w", cerr)
			}
		}()
	}

	out := filepath.Join(dir, "out")
	var ours, theirs, gunzip []sample
	for i := range *runs {
		// Alternate the order so neither side always runs on a page cache the other warmed.
		steps := []func() error{
			func() error {
				var w io.Writer
				if prof != nil && i == 0 {
					w = prof // one profile per file: the first run only
				}
				s, err := timeOurs(ctx, archive, out, w)
				ours = append(ours, s)
				return err
			},
			func() error {
				s, err := timeCmd(ctx, "tar", "-xzf", archive, "-C", out)
				theirs = append(theirs, s)
				return err
			},
			func() error {
				s, err := timeCmd(ctx, "sh", "-c", "gzip -dc < "+archive+" > /dev/null")
				gunzip = append(gunzip, s)
				return err
			},
		}
		if i%2 == 1 {
			slices.Reverse(steps)
		}
		for _, step := range steps {
			// Start every timed run from an empty output directory and with no dirty pages or
			// pending deletions left by the previous one: otherwise the kernel's writeback (and
			// this file system's discards) bill one tool for the other's work.
			if err := os.RemoveAll(out); err != nil {
				return err
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			syscall.Sync()
			if err := step(); err != nil {
				return err
			}
		}
	}
	fmt.Fprintf(stdout, "gzip -dc > /dev/null (decompression alone): wall %d ms, CPU %d ms\n",
		median(gunzip, wall).Milliseconds(), median(gunzip, cpu).Milliseconds())
	fmt.Fprintf(stdout, "runs, wall ms: slipway %v, tar %v\n", millis(ours, wall), millis(theirs, wall))
	fmt.Fprintf(stdout, "runs, CPU ms:  slipway %v, tar %v\n", millis(ours, cpu), millis(theirs, cpu))
	for _, m := range []struct {
		name string
		of   func(sample) time.Duration
	}{{"wall", wall}, {"CPU (user+sys)", cpu}} {
		o, t := median(ours, m.of), median(theirs, m.of)
		fmt.Fprintf(stdout, "%s: slipway extract %d ms, tar -xzf %d ms, ratio %.2f (median of %d runs)\n",
			m.name, o.Milliseconds(), t.Milliseconds(), float64(o)/float64(t), *runs)
	}
	fmt.Fprintf(stdout, "load average after: %s\n", rig.LoadAverage())
	return nil
}

func buildFile(ctx context.Context, archive, tree string) (string, error) {
	f, err := os.Create(archive)
	if err != nil {
		return "", err
	}
	sum, err := bundle.Build(ctx, f, tree, bundle.FormatTgz, bundle.BuildOptions{})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return sum, err
}

// sample is one timed run: wall-clock time, and the CPU time (user + system) it used. On a shared
// machine the wall time depends on what else runs; the CPU time mostly does not.
type sample struct{ wall, cpu time.Duration }

func wall(s sample) time.Duration { return s.wall }
func cpu(s sample) time.Duration  { return s.cpu }

// timeOurs extracts once into the empty directory out; prof, when not nil, receives a CPU profile
// of this run. Its CPU time is this process's, which does nothing else meanwhile.
func timeOurs(ctx context.Context, archive, out string, prof io.Writer) (sample, error) {
	if prof != nil {
		if err := pprof.StartCPUProfile(prof); err != nil {
			return sample{}, err
		}
		defer pprof.StopCPUProfile()
	}
	before := selfCPU()
	start := time.Now()
	_, err := bundle.ExtractFile(ctx, archive, out, bundle.Limits{})
	return sample{wall: time.Since(start), cpu: selfCPU() - before}, err
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// timeCmd runs a command; its CPU time includes the children it waited for (tar's gzip).
func timeCmd(ctx context.Context, name string, args ...string) (sample, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stderr = os.Stderr
	start := time.Now()
	err := cmd.Run()
	s := sample{wall: time.Since(start)}
	if cmd.ProcessState != nil {
		s.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	return s, err
}

func millis(ss []sample, of func(sample) time.Duration) []int64 {
	out := make([]int64, len(ss))
	for i, s := range ss {
		out[i] = of(s).Milliseconds()
	}
	return out
}

func median(ss []sample, of func(sample) time.Duration) time.Duration {
	if len(ss) == 0 {
		return 0
	}
	ds := make([]time.Duration, len(ss))
	for i, s := range ss {
		ds[i] = of(s)
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}

var words = []string{
	"deploy", "revision", "bundle", "host", "agent", "hook", "install", "traffic", "alarm", "group",
	"rollback", "healthy", "batch", "canary", "linear", "appspec", "lifecycle", "event", "script", "status",
	"func", "return", "if", "err", "nil", "var", "const", "type", "struct", "interface", "package", "import",
}

// generate writes files files totalling about total bytes under dir and returns the exact total.
func generate(dir string, files int, total int64) (int64, error) {
	if files < 20 {
		return 0, errors.New("want at least 20 files")
	}
	rng := rand.New(rand.NewPCG(2026, 7)) //nolint:gosec // seeded on purpose: every run generates the same tree
	sizes := make([]int64, files)
	var sum int64
	const large = 10
	for i := large; i < files; i++ {
		// log-uniform in [64 B, 64 KiB]
		sizes[i] = int64(math.Exp(math.Log(64) + rng.Float64()*(math.Log(64<<10)-math.Log(64))))
		sum += sizes[i]
	}
	rest := max(total-sum, large)
	for i := range large {
		sizes[i] = rest / large
		sum += sizes[i]
	}
	buf := make([]byte, 0, 8<<20)
	for i, size := range sizes {
		p := filepath.Join(dir, fmt.Sprintf("d%02d", i%50), fmt.Sprintf("s%02d", (i/50)%20), fmt.Sprintf("f%05d.dat", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return 0, err
		}
		buf = buf[:0]
		if rng.IntN(10) < 6 {
			for int64(len(buf)) < size {
				buf = append(buf, words[rng.IntN(len(words))]...)
				if rng.IntN(12) == 0 {
					buf = append(buf, '\n')
				} else {
					buf = append(buf, ' ')
				}
			}
		} else {
			for int64(len(buf)) < size {
				buf = binary.LittleEndian.AppendUint64(buf, rng.Uint64())
			}
		}
		if err := os.WriteFile(p, buf[:size], 0o644); err != nil {
			return 0, err
		}
	}
	return sum, nil
}
