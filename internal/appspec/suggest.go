package appspec

import "strings"

// suggest returns the candidate a misspelt name most likely meant, or "" when none is close.
// A case-insensitive match wins; otherwise the nearest candidate within a small edit distance.
func suggest(name string, candidates []string) string {
	for _, c := range candidates {
		if strings.EqualFold(name, c) {
			return c
		}
	}
	best, bestDist := "", -1
	lower := strings.ToLower(name)
	for _, c := range candidates {
		d := editDistance(lower, strings.ToLower(c))
		if d <= maxTypos(c) && (bestDist < 0 || d < bestDist) {
			best, bestDist = c, d
		}
	}
	return best
}

// maxTypos scales the tolerated distance with the name, so "os" does not "correct" to "to".
func maxTypos(s string) int {
	switch n := len(s); {
	case n <= 3:
		return 1
	case n <= 6:
		return 2
	default:
		return 3
	}
}

// Misspelling returns the scriptable server event that event most likely misspells ("AfterInstal"
// for "AfterInstall"), or "" when it is one of them or close to none: a name that is close to a
// lifecycle event is a typo to correct rather than a custom event to run.
func Misspelling(event string) string {
	if s := suggest(event, ServerHookEvents); s != event {
		return s
	}
	return ""
}

// didYouMean formats a suggestion as the tail of a message.
func didYouMean(name string, candidates []string) string {
	if s := suggest(name, candidates); s != "" && s != name {
		return "; did you mean '" + s + "'?"
	}
	return ""
}

// editDistance is the optimal string alignment distance (Levenshtein plus adjacent swaps).
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
