package script

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

type rec struct {
	text string
	cont bool
}

// split runs input through a splitter fed chunk bytes at a time.
func split(input string, chunk int) []rec {
	var got []rec
	s := splitter{emit: func(text []byte, cont bool) { got = append(got, rec{string(text), cont}) }}
	for len(input) > 0 {
		n := min(chunk, len(input))
		s.write([]byte(input[:n]))
		input = input[n:]
	}
	s.flush()
	return got
}

func TestSplitter_Lines(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", maxRecordBytes)
	// A three-byte character straddling the record boundary must move whole to the next record.
	straddle := strings.Repeat("y", maxRecordBytes-1) + "\u20ac" + "z"
	tests := []struct {
		name  string
		input string
		want  []rec
	}{
		{"empty", "", nil},
		{"LF", "a\nb\n", []rec{{"a", false}, {"b", false}}},
		{"CRLF is one line end", "a\r\nb\r\n", []rec{{"a", false}, {"b", false}}},
		{"CR ends a line", "10%\r20%\rdone\n", []rec{{"10%", false}, {"20%", false}, {"done", false}}},
		{"empty lines", "\n\r\n\n", []rec{{"", false}, {"", false}, {"", false}}},
		{"last line without newline", "a\nb", []rec{{"a", false}, {"b", false}}},
		{"exactly one record", long + "\n", []rec{{long, false}}},
		{"one byte over", long + "!\n", []rec{{long, false}, {"!", true}}},
		{"two records and a bit, no newline", long + long + "!", []rec{{long, false}, {long, true}, {"!", true}}},
		{"next line after a long one", long + "!\nnext\n", []rec{{long, false}, {"!", true}, {"next", false}}},
		{"character at the boundary", straddle + "\n", []rec{{strings.Repeat("y", maxRecordBytes-1), false}, {"\u20acz", true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, chunk := range []int{1, 2, 3, 7, 4096, 1 << 20} {
				if got := split(tt.input, chunk); !slices.Equal(got, tt.want) {
					t.Errorf("chunks of %d: records = %q, want %q", chunk, shortRecs(got), shortRecs(tt.want))
				}
			}
		})
	}
}

func shortRecs(rs []rec) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		s := r.text
		if len(s) > 20 {
			s = fmt.Sprintf("%s...(%d bytes)", s[:20], len(s))
		}
		if r.cont {
			s = "+" + s
		}
		out[i] = s
	}
	return out
}

func TestTail_Rules(t *testing.T) {
	t.Parallel()
	type add struct {
		stream, text string
		cont         bool
	}
	tests := []struct {
		name string
		max  int
		adds []add
		want string
	}{
		{"nothing", 100, nil, ""},
		{"everything fits", 100,
			[]add{{"stdout", "one", false}, {"stderr", "two", false}},
			"[stdout] one\n[stderr] two\n"},
		// Each line costs len("[stdout] ")+len(text)+1 = 20 bytes here.
		{"oldest whole lines go", 45,
			[]add{{"stdout", "line 1 ...", false}, {"stdout", "line 2 ...", false}, {"stdout", "line 3 ...", false}},
			"[stdout] line 2 ...\n[stdout] line 3 ...\n"},
		{"exactly full", 40,
			[]add{{"stdout", "line 1 ...", false}, {"stdout", "line 2 ...", false}},
			"[stdout] line 1 ...\n[stdout] line 2 ...\n"},
		{"a long last line is cut, never dropped", 10,
			[]add{{"stdout", "short", false}, {"stderr", "0123456789abcdefghij", false}},
			"[stderr] [truncated] abcdefghij\n"},
		{"continuations join their line", 1000,
			[]add{{"stdout", "start ", false}, {"stderr", "other", false}, {"stdout", "end", true}},
			"[stdout] start end\n[stderr] other\n"},
		{"a joined line is cut as a whole", 8,
			[]add{{"stdout", "0123456", false}, {"stdout", "789abcdef", true}},
			"[stdout] [truncated] 89abcdef\n"},
		{"a continuation whose start was dropped is truncated", 40,
			[]add{{"stdout", "start", false}, {"stderr", "a line long enough", false}, {"stderr", "another one", false}, {"stdout", "end", true}},
			"[stderr] another one\n[stdout] [truncated] end\n"},
		{"cut on a character boundary", 4,
			[]add{{"stdout", "ab\u20ac\u20ac", false}},
			"[stdout] [truncated] \u20ac\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tl := tail{max: tt.max}
			for _, a := range tt.adds {
				tl.add(a.stream, []byte(a.text), a.cont)
			}
			got := tl.String()
			if got != tt.want {
				t.Errorf("tail = %q, want %q", got, tt.want)
			}
			if !utf8.ValidString(got) {
				t.Errorf("tail %q is not valid UTF-8", got)
			}
		})
	}
}
