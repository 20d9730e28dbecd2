package api

import (
	"strings"
	"testing"
)

func TestSetTriggerDisabled_editsOnlyTheTrigger(t *testing.T) {
	src := `id: f # the flow
namespace: n
tasks:
  - id: a
    type: log
    message: hi
triggers:
  - id: hook
    type: webhook
    key: 0123456789
  - id: nightly # at two
    type: schedule
    cron: "0 2 * * *"
    disabled: false
  - {id: inline, type: schedule, cron: "* * * * *"}
`
	tests := []struct {
		name, trigger string
		disabled      bool
		want, err     string
	}{
		{name: "a line is added after the id", trigger: "hook", disabled: true,
			want: "  - id: hook\n    disabled: true\n    type: webhook\n"},
		{name: "a value is replaced in place, comments kept", trigger: "nightly", disabled: true,
			want: "  - id: nightly # at two\n    type: schedule\n    cron: \"0 2 * * *\"\n    disabled: true\n"},
		{name: "enabling what is enabled changes nothing", trigger: "hook", disabled: false, want: src},
		{name: "an inline trigger is refused", trigger: "inline", disabled: true, err: "inline"},
		{name: "a missing trigger is refused", trigger: "nope", disabled: true, err: "no trigger nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := setTriggerDisabled([]byte(src), tt.trigger, tt.disabled)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one saying %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Fatalf("got\n%s\nwant it to hold\n%s", out, tt.want)
			}
			if !strings.HasPrefix(string(out), src[:strings.Index(src, "  - id: hook")]) || !strings.HasSuffix(string(out), "  - {id: inline, type: schedule, cron: \"* * * * *\"}\n") {
				t.Errorf("the rest of the document changed:\n%s", out)
			}
		})
	}
}
