package traffic_test

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/slipway-deploy/slipway/internal/traffic"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		orig, repl []string
		percent    int
		want       map[string]int
	}{
		{[]string{"b1"}, []string{"g1"}, 0, map[string]int{"b1": 1, "g1": 0}},
		{[]string{"b1"}, []string{"g1"}, 10, map[string]int{"b1": 9, "g1": 1}},
		{[]string{"b1"}, []string{"g1"}, 100, map[string]int{"b1": 0, "g1": 1}},
		{[]string{"b1", "b2", "b3"}, []string{"g1"}, 25, map[string]int{"b1": 1, "b2": 1, "b3": 1, "g1": 1}},
		{[]string{"b1", "b2"}, []string{"g1", "g2", "g3"}, 10, map[string]int{"b1": 27, "b2": 27, "g1": 2, "g2": 2, "g3": 2}},
		{[]string{"b1"}, nil, 0, map[string]int{"b1": 1}},
		{nil, []string{"g1"}, 100, map[string]int{"g1": 1}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d+%d@%d", len(tt.orig), len(tt.repl), tt.percent), func(t *testing.T) {
			got, err := traffic.Split(tt.orig, tt.repl, tt.percent, traffic.MaxWeight)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("Split = %v; want %v", got, tt.want)
			}
		})
	}
}

// TestSplit_ShareWithinHalfAPercent checks every percentage over fleets whose exact weights
// overflow MaxWeight, so they are rounded.
func TestSplit_ShareWithinHalfAPercent(t *testing.T) {
	var orig, repl []string
	for i := range 7 {
		orig = append(orig, fmt.Sprintf("b%d", i))
	}
	for i := range 11 {
		repl = append(repl, fmt.Sprintf("g%d", i))
	}
	for p := 0; p <= 100; p++ {
		w, err := traffic.Split(orig, repl, p, traffic.MaxWeight)
		if err != nil {
			t.Fatal(err)
		}
		var sumO, sumR int
		for _, s := range orig {
			sumO += w[s]
		}
		for _, s := range repl {
			sumR += w[s]
			if w[s] > traffic.MaxWeight {
				t.Fatalf("%d%%: weight %d above MaxWeight", p, w[s])
			}
		}
		share := 100 * float64(sumR) / float64(sumO+sumR)
		if math.Abs(share-float64(p)) > 0.5 {
			t.Errorf("%d%%: replacements get %.2f%% (weights %v)", p, share, w)
		}
		if p > 0 && p < 100 && (w["g0"] == 0 || w["b0"] == 0) {
			t.Errorf("%d%%: a fleet that should get traffic has weight 0: %v", p, w)
		}
	}
}

func TestSplit_Refusals(t *testing.T) {
	tests := []struct {
		name       string
		orig, repl []string
		percent    int
	}{
		{"percent above 100", []string{"a"}, []string{"b"}, 101},
		{"no originals to keep traffic", nil, []string{"b"}, 50},
		{"no replacements to take traffic", []string{"a"}, nil, 1},
		{"server in both fleets", []string{"a"}, []string{"a"}, 50},
		{"server twice among originals", []string{"a", "a"}, []string{"b"}, 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := traffic.Split(tt.orig, tt.repl, tt.percent, traffic.MaxWeight); !errors.Is(err, traffic.ErrInvalidChange) {
				t.Errorf("err = %v; want ErrInvalidChange", err)
			}
		})
	}
}
