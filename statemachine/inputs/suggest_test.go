package inputs

import "testing"

func TestSuggest(t *testing.T) {
	types := []string{"STRING", "SECRET", "INT", "FLOAT", "BOOLEAN", "DATETIME", "DATE", "TIME", "DURATION", "SELECT", "ENUM", "MULTISELECT", "ARRAY", "JSON", "URI", "EMAIL"}
	tests := []struct {
		name       string
		candidates []string
		want       string
	}{
		{"STRNG", types, "STRING"},
		{"string", types, "STRING"}, // case only
		{"Strin", types, "STRING"},
		{"INTEGER", types, ""},          // too far from INT, and not a prefix of anything
		{"BOOL", types, "BOOLEAN"},      // prefix
		{"MULTI", types, "MULTISELECT"}, // prefix
		{"DATETIM", types, "DATETIME"},  // one deletion
		{"DAT", types, "DATE"},          // distance 1 beats the longer DATETIME
		{"INTT", types, "INT"},          // distance 1
		{"FOO", types, ""},              // unrelated
		{"", types, ""},                 // nothing to compare
		{"x", []string{"y"}, ""},        // replacing the whole name is no hint
		{"di", []string{"id"}, "id"},    // a swap is one edit
		{"abc", []string{"bac"}, "bac"}, // a swap is one edit
		{"bleu", []string{"red", "blue"}, "blue"},
		{"x", []string{"X"}, "X"},      // case-insensitive exact match
		{"ab", []string{"abc"}, "abc"}, // distance 1
		{"timeOut", []string{"timeout", "retry"}, "timeout"},
		{"valdiator", []string{"validator", "values"}, "validator"}, // transposition
		{"retyr", []string{"retry", "runIf"}, "retry"},
		{"io.relay.core.log.Log", []string{"io.relay.core.log.Log2", "io.relay.core.log.Log"}, "io.relay.core.log.Log"}, // exact (distance 0) wins over earlier distance 1
		{"abcd", []string{"abce", "abcf"}, "abce"}, // tie: first listed
		{"äbc", []string{"abc"}, "abc"},            // runes, not bytes
		{"any", nil, ""},
		{"SEL", []string{"", "SELECT"}, "SELECT"}, // empty candidates are skipped
	}
	for _, tt := range tests {
		if got := Suggest(tt.name, tt.candidates); got != tt.want {
			t.Errorf("Suggest(%q, %v) = %q, want %q", tt.name, tt.candidates, got, tt.want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"", "abc", 3},
		{"abc", "", 3},
		{"kitten", "sitting", 3},
		{"flaw", "lawn", 2},
		{"abc", "abc", 0},
		{"héllo", "hello", 1},
		{"ab", "ba", 1},     // adjacent swap
		{"abcd", "acbd", 1}, // adjacent swap inside
		{"ca", "abc", 3},    // optimal string alignment: no edit of a swapped pair
	}
	for _, tt := range tests {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := editDistance(tt.b, tt.a); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d (symmetry)", tt.b, tt.a, got, tt.want)
		}
	}
}
