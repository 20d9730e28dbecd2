//go:build !relayfaults

package engine

// fault marks a point where a test build (-tags relayfaults) can stop the
// process (see faults_test_build.go); in every other build it does nothing.
func fault(string) {}

// Fault marks a point outside this package where a test build can stop
// the process (see fault).
func Fault(point string) { fault(point) }
