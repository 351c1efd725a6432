package traffic

import (
	"fmt"
	"math"
)

// Split returns per-server weights that send percent of the traffic to the replacement servers
// and the rest to the originals, evenly within each fleet, no weight above maxWeight (HAProxy:
// MaxWeight). The ratio is exact when it fits in maxWeight, else rounded; a fleet that should
// get traffic never rounds down to 0.
func Split(originals, replacements []string, percent, maxWeight int) (map[string]int, error) {
	if percent < 0 || percent > 100 {
		return nil, fmt.Errorf("%w: percent %d; use 0 to 100", ErrInvalidChange, percent)
	}
	if maxWeight < 1 {
		return nil, fmt.Errorf("%w: max weight %d; use 1 or more", ErrInvalidChange, maxWeight)
	}
	if len(originals) == 0 && percent < 100 {
		return nil, fmt.Errorf("%w: %d%% of the traffic should stay on the originals but there are none", ErrInvalidChange, 100-percent)
	}
	if len(replacements) == 0 && percent > 0 {
		return nil, fmt.Errorf("%w: %d%% of the traffic should go to the replacements but there are none", ErrInvalidChange, percent)
	}
	// Each original's share is (100-percent)/len(originals), each replacement's
	// percent/len(replacements); multiplied by both counts, the weights are integers.
	wo := (100 - percent) * max(len(replacements), 1)
	wr := percent * max(len(originals), 1)
	if g := gcd(wo, wr); g > 1 {
		wo, wr = wo/g, wr/g
	}
	if m := max(wo, wr); m > maxWeight {
		wo, wr = scale(wo, m, maxWeight), scale(wr, m, maxWeight)
	}
	out := make(map[string]int, len(originals)+len(replacements))
	for _, s := range originals {
		out[s] = wo
	}
	for _, s := range replacements {
		if _, dup := out[s]; dup {
			return nil, fmt.Errorf("%w: server %q is listed twice (originals and replacements must be distinct)", ErrInvalidChange, s)
		}
		out[s] = wr
	}
	if len(out) != len(originals)+len(replacements) {
		return nil, fmt.Errorf("%w: a server is listed twice among the originals", ErrInvalidChange)
	}
	return out, nil
}

func scale(w, from, to int) int {
	if w == 0 {
		return 0
	}
	return max(1, int(math.Round(float64(w)*float64(to)/float64(from))))
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
