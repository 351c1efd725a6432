package appspec

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/slipway-deploy/slipway/internal/corpus"
)

// needCorpus returns the shared AppSpec corpus directory (see package corpus).
func needCorpus(t testing.TB) string {
	t.Helper()
	return corpus.Need(t, "appspec")
}

type corpusRow struct {
	file, platform, verdict string
	warnings                []string
	reason                  string
}

func readExpectations(t testing.TB, dir string) []corpusRow {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "expectations.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	r := csv.NewReader(f)
	r.Comma = '\t'
	r.FieldsPerRecord = 5
	records, err := r.ReadAll()
	if err != nil {
		t.Fatalf("read expectations: %v", err)
	}
	var rows []corpusRow
	for _, rec := range records[1:] {
		row := corpusRow{file: rec[0], platform: rec[1], verdict: rec[2], reason: rec[4]}
		if rec[3] != "" {
			row.warnings = strings.Split(rec[3], ",")
			sort.Strings(row.warnings)
		}
		rows = append(rows, row)
	}
	return rows
}

// reasonLineRE reads where the first error must be: "line 17:" or "line 17 col 9:".
var reasonLineRE = regexp.MustCompile(`^line (\d+)(?: col (\d+))?\b`)

func TestParse_Corpus(t *testing.T) {
	dir := needCorpus(t)
	rows := readExpectations(t, dir)
	if len(rows) == 0 {
		t.Fatal("expectations.tsv has no rows")
	}
	matched := 0
	for _, row := range rows {
		ok := t.Run(row.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, row.file))
			if err != nil {
				t.Fatal(err)
			}
			spec, diags := Parse(row.file, data, Options{})
			for _, d := range diags {
				t.Log(d)
			}
			if got, want := Detect(data).String(), row.platform; got != want {
				t.Errorf("Detect = %s, want %s", got, want)
			}
			if spec != nil {
				if got, want := spec.Platform.String(), row.platform; got != want {
					t.Errorf("spec.Platform = %s, want %s", got, want)
				}
			}
			gotVerdict := "valid"
			if spec == nil {
				gotVerdict = "invalid"
			}
			if gotVerdict != row.verdict {
				t.Errorf("verdict = %s, want %s (reason: %s)", gotVerdict, row.verdict, row.reason)
			}
			var codes []string
			for _, d := range diags {
				if d.Severity == SeverityWarning && !slices.Contains(codes, d.Code) {
					codes = append(codes, d.Code)
				}
			}
			sort.Strings(codes)
			if !slices.Equal(codes, row.warnings) {
				t.Errorf("warning codes = %v, want %v", codes, row.warnings)
			}
			if row.verdict != "invalid" {
				return
			}
			m := reasonLineRE.FindStringSubmatch(row.reason)
			if m == nil {
				t.Fatalf("reason of an invalid row has no 'line N:': %q", row.reason)
			}
			want, _ := strconv.Atoi(m[1])
			var first *Diagnostic
			for i := range diags {
				if diags[i].Severity == SeverityError {
					first = &diags[i]
					break
				}
			}
			if first == nil {
				t.Fatalf("no error diagnostic, want one at line %d", want)
			}
			if first.Line != want {
				t.Errorf("first error at line %d, want line %d: %s", first.Line, want, first)
			}
			if m[2] != "" {
				if col, _ := strconv.Atoi(m[2]); first.Column != col {
					t.Errorf("first error at column %d, want column %d: %s", first.Column, col, first)
				}
			}
		})
		if ok {
			matched++
		}
	}
	t.Logf("corpus agreement: %d/%d rows", matched, len(rows))
}

// TestParse_CorpusFilesListed keeps the expectations and the files in step.
func TestParse_CorpusFilesListed(t *testing.T) {
	dir := needCorpus(t)
	listed := map[string]bool{}
	for _, row := range readExpectations(t, dir) {
		listed[row.file] = true
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() || e.Name() == "expectations.tsv" || e.Name() == "SOURCES.tsv" || e.Name() == "README.md" {
			continue
		}
		if !listed[e.Name()] {
			t.Errorf("corpus file %s has no row in expectations.tsv", e.Name())
		}
	}
}
