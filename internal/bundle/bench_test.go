package bundle

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkExtract extracts a 2,000-file tgz (about 10 MiB, half text, half incompressible).
// The comparison with tar -xzf on a 200 MB bundle is `go run ./bench/extract`.
func BenchmarkExtract(b *testing.B) {
	src := b.TempDir()
	var seed uint64 = 1
	for i := range 2000 {
		size := 256 + (i*7919)%10000
		var body []byte
		if i%2 == 0 {
			body = []byte(strings.Repeat(fmt.Sprintf("line %d of a deployable file\n", i), size/30+1))[:size]
		} else {
			body = make([]byte, size)
			for j := range body {
				seed = seed*6364136223846793005 + 1442695040888963407
				body[j] = byte(seed >> 56)
			}
		}
		p := filepath.Join(src, fmt.Sprintf("d%02d", i%40), fmt.Sprintf("f%04d", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, body, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	archive := buildTgz(b, src)
	out := b.TempDir()
	var res Result
	for i := 0; b.Loop(); i++ {
		dest := filepath.Join(out, fmt.Sprint(i))
		var err error
		if res, err = ExtractFile(context.Background(), archive, dest, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(res.Bytes)
}

// BenchmarkExtract_Small extracts a two-file bundle (an appspec and a page), the shape of the
// trivial revisions bench/fleet deploys to a thousand agents at once: what counts there is the
// memory each extraction allocates.
func BenchmarkExtract_Small(b *testing.B) {
	src := b.TempDir()
	for name, body := range map[string]string{
		"appspec.yml": "version: 0.0\nos: linux\nfiles:\n  - source: index.html\n    destination: /srv/site\n",
		"index.html":  "<h1>hello</h1>\n",
	} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(body), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	archive := buildTgz(b, src)
	out := b.TempDir()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := ExtractFile(context.Background(), archive, filepath.Join(out, fmt.Sprint(i)), Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

// buildTgz packs src into a tgz file and returns its path.
func buildTgz(b *testing.B, src string) string {
	b.Helper()
	var buf bytes.Buffer
	if _, err := Build(context.Background(), &buf, src, FormatTgz, BuildOptions{}); err != nil {
		b.Fatal(err)
	}
	archive := filepath.Join(b.TempDir(), "bundle.tgz")
	if err := os.WriteFile(archive, buf.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	return archive
}
