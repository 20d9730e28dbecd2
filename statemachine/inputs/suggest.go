package inputs

import (
	"strings"
	"unicode/utf8"
)

// Suggest returns the candidate closest to name, for "did you mean" hints on
// misspelled input names, input types, task types and property names. It
// returns "" when no candidate is close enough for the hint to help:
// suggesting an unrelated name is worse than suggesting nothing.
//
// Names are compared case-insensitively, because a wrong case ("string" for
// STRING, "timeOut" for timeout) is the most common slip. The distance is
// Levenshtein's (insertions, deletions, substitutions), with a swap of two
// adjacent letters counted as one edit, since swapped letters are the next
// most common slip. For a name of n characters, a candidate is close enough
// at (n+1)/3 edits or fewer (one edit up to four characters, two up to
// seven, and so on), and always fewer than n: rewriting the whole name is no
// hint. Failing that, a candidate that name is a prefix of, with name at
// least three characters long, is suggested ("BOOL" for BOOLEAN, "MULTI" for
// MULTISELECT), the shortest one if several.
//
// Among equally close candidates the one listed first wins, so callers
// control the preference through the order of candidates.
func Suggest(name string, candidates []string) string {
	if name == "" {
		return ""
	}
	lname := strings.ToLower(name)
	n := utf8.RuneCountInString(name)
	limit := min(max((n+1)/3, 1), n-1)

	best, bestDist := "", -1
	for _, c := range candidates {
		if c == "" {
			continue
		}
		d := editDistance(lname, strings.ToLower(c))
		if d <= limit && (bestDist < 0 || d < bestDist) {
			best, bestDist = c, d
		}
	}
	if best != "" {
		return best
	}
	if n < 3 {
		return ""
	}
	// Prefix match: the shortest candidate wins, as the one the user is most
	// likely to have been typing.
	for _, c := range candidates {
		if strings.HasPrefix(strings.ToLower(c), lname) && (best == "" || len(c) < len(best)) {
			best = c
		}
	}
	return best
}

// editDistance returns the edit distance between a and b counted in runes:
// the minimum number of single-rune insertions, deletions and substitutions
// that turn a into b, where swapping two adjacent runes also counts as one
// edit (the "optimal string alignment" variant of Damerau-Levenshtein).
// Swapped letters ("bleu", "retyr") are the most common typo, and plain
// Levenshtein would count them as two edits and miss them in short names.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// Three rows of the dynamic-programming table suffice: the current one,
	// the previous one and the one before, which transpositions look at.
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
