// Package servicetest is what integration tests share about the services
// they need (Kafka, DynamoDB Local, an S3 server): `make test` starts them
// and exports their endpoints with RELAY_REQUIRE_SERVICES=1.
package servicetest

import (
	"os"
	"strings"
	"testing"
)

// Require returns when every environment variable in vars is set. Otherwise
// it skips the test, or fails it when RELAY_REQUIRE_SERVICES=1 (as in
// `make test`, where a missing service is a broken run, not a reason to
// test less).
func Require(t testing.TB, vars ...string) {
	t.Helper()
	var missing []string
	for _, v := range vars {
		if os.Getenv(v) == "" {
			missing = append(missing, v)
		}
	}
	if len(missing) == 0 {
		return
	}
	names := strings.Join(missing, " and ")
	if os.Getenv("RELAY_REQUIRE_SERVICES") == "1" {
		t.Fatalf("%s not set: start the services with `make services-up` and source .cache/services/env", names)
	}
	t.Skipf("%s not set (run `make test`, which starts the services)", names)
}
