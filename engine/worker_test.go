package engine

import (
	"context"
	"testing"
	"time"
)

func TestAttemptDeadline(t *testing.T) {
	now := time.Now()
	invocation := now.Add(time.Minute)
	for _, tc := range []struct {
		name       string
		invocation bool
		own        time.Time
		want       time.Time
	}{
		{"the attempt's own deadline", false, now.Add(time.Hour), now.Add(time.Hour)},
		{"the invocation ends first", true, now.Add(time.Hour), invocation.Add(-InvocationMargin)},
		{"the attempt ends first", true, now.Add(10 * time.Second), now.Add(10 * time.Second)},
		{"only the invocation", true, time.Time{}, invocation.Add(-InvocationMargin)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.invocation {
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, invocation)
				defer cancel()
			}
			if got := attemptDeadline(ctx, tc.own); !got.Equal(tc.want) {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
	if got := attemptDeadline(context.Background(), time.Time{}); got.Before(now.Add(365 * 24 * time.Hour)) {
		t.Errorf("no deadline at all: got %s, want none in practice", got)
	}
}
