package rig

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Percentile returns the p-th percentile (0-100, nearest rank) of d.
func Percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// Summary prints median, p90 and the range of d.
func Summary(d []time.Duration) string {
	return fmt.Sprintf("median %-9s p90 %-9s [%s … %s]", Round(Percentile(d, 50)), Round(Percentile(d, 90)), Round(slices.Min(d)), Round(slices.Max(d)))
}

// Round keeps a duration readable.
func Round(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// MiB formats a byte count.
func MiB(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// Machine describes the machine the figures come from: CPUs, their model, the load average and
// the kernel, since every figure depends on them and the machine is shared.
func Machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	load := LoadAverage()
	kernel := "?"
	if b, err := exec.Command("uname", "-r").Output(); err == nil {
		kernel = strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("nproc %d (%s), load average %s, Linux %s, %s", runtime.NumCPU(), model, load, kernel, runtime.Version())
}

// LoadAverage returns the 1, 5 and 15 minute load averages as the kernel prints them, or "?":
// a benchmark that runs for minutes on a shared machine prints it before and after.
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// Mkdir joins parts into a path and creates the directory (errors surface when it is used).
func Mkdir(parts ...string) string {
	p := filepath.Join(parts...)
	_ = os.MkdirAll(p, 0o755)
	return p
}

// WorkDir returns dir (created if needed) and a no-op, or, when dir is "", a new temporary
// directory (under parent when that exists) and a function that removes it.
func WorkDir(dir, parent, pattern string) (string, func(), error) {
	if dir != "" {
		return dir, func() {}, os.MkdirAll(dir, 0o755)
	}
	if parent != "" {
		if fi, err := os.Stat(parent); err != nil || !fi.IsDir() {
			parent = ""
		}
	}
	d, err := os.MkdirTemp(parent, pattern)
	if err != nil {
		return "", nil, err
	}
	return d, func() { _ = os.RemoveAll(d) }, nil
}
