package scripts

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/relayflow/relay/secrets"
	"github.com/relayflow/relay/statemachine/flow"
	"github.com/relayflow/relay/tasks"
	"github.com/relayflow/relay/tasks/taskstest"
)

// partOf returns the first piece of secret (4 bytes or more) found in s.
func partOf(s, secret string) string {
	for i := 0; i+4 <= len(secret); i++ {
		if strings.Contains(s, secret[i:i+4]) {
			return secret[i : i+4]
		}
	}
	return ""
}

func TestScript_secretsAreMaskedBeforeALineOrTailIsCut(t *testing.T) {
	const pw = "Zq7Kx9Wv3Lp2"
	rec := taskstest.NewRecorder()
	req := newRequest(flow.TypeShell, map[string]any{
		"env": map[string]any{"PW": pw},
		"commands": commands(
			// The secret straddles the 8 KiB cut of a long line's log.
			fmt.Sprintf(`head -c %d /dev/zero | tr '\0' x; echo "$PW and the rest"`, maxLogLine-5),
			`echo "pw=$PW"`,
			// A bad protocol line is quoted in a warning, cut at 512 bytes.
			fmt.Sprintf(`printf '::{bad %%0%dd %%s}::\n' 0 "$PW"`, 500),
			`echo "failing with $PW" >&2`,
			`exit 3`,
		),
	})
	req.Log = rec.Logger()
	req.Secrets = secrets.NewMasker(pw)
	res, err := newRunner(t, flow.TypeShell, Config{OutputTail: 4096 + 3}).Run(context.Background(), req)
	te := wantTaskError(t, err, tasks.KindRetryable, typeExitCode)
	var seen []string
	for _, r := range rec.All() {
		seen = append(seen, fmt.Sprint(r.Attrs["line"]))
	}
	seen = append(seen, te.Message, res.Outputs["stdout"].(string), res.Outputs["stderr"].(string))
	for _, s := range seen {
		if p := partOf(s, pw); p != "" {
			t.Errorf("%q of the secret is left in %q", p, tasks.Excerpt(s, 200))
		}
	}
	if lines := rec.Lines("stdout"); len(lines) < 2 || lines[1] != "pw=******" {
		t.Errorf("stdout lines %q: want the secret masked as ******", lines)
	}
	if !strings.Contains(te.Message, "failing with ******") {
		t.Errorf("error %q: want the last stderr line, masked", te.Message)
	}
}
