//go:build relayfaults

package engine

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
)

// Fault injection for crash tests, compiled only with -tags relayfaults.
// RELAY_FAULT=POINT:N makes the process hang for ever the Nth time it
// reaches POINT, after printing "relay fault: POINT N" to stderr, so that a
// test can kill -9 it exactly there. Points:
//
//	after-commit       the executor wrote a state change and has not yet
//	                   published its commands (the outbox window)
//	api-after-publish  the API published a start or an event and has not
//	                   yet answered
var (
	faultPoint, faultAt = parseFault(os.Getenv("RELAY_FAULT"))
	faultSeen           atomic.Int64
)

func parseFault(spec string) (string, int64) {
	point, n, ok := strings.Cut(spec, ":")
	at, err := strconv.ParseInt(n, 10, 64)
	if !ok || err != nil || at < 1 {
		return "", 0
	}
	return point, at
}

func fault(point string) {
	if point != faultPoint || faultSeen.Add(1) != faultAt {
		return
	}
	fmt.Fprintf(os.Stderr, "relay fault: %s %d\n", point, faultAt)
	select {}
}

// Fault marks a point outside this package where a test build can stop
// the process (see fault).
func Fault(point string) { fault(point) }
