package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/relayflow/relay/infra/embedded"
)

// serverFile, in the data directory, records the address of the relay
// server that holds it, so that other commands on the same data directory
// go through that server's API instead of failing on the lock.
const serverFile = "server.json"

type serverRecord struct {
	URL string `json:"url"`
	PID int    `json:"pid"`
}

// recordServer writes the server's address into the data directory; the
// function it returns removes it (only if it is still this process's).
func recordServer(dir, url string) (func(), error) {
	b, _ := json.Marshal(serverRecord{URL: url, PID: os.Getpid()})
	path := filepath.Join(dir, serverFile)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("recording the server's address in %s: %w", path, err)
	}
	return func() {
		if rec, ok := readServer(dir); ok && rec.PID == os.Getpid() {
			os.Remove(path)
		}
	}, nil
}

func readServer(dir string) (serverRecord, bool) {
	var rec serverRecord
	b, err := os.ReadFile(filepath.Join(dir, serverFile))
	if err != nil || json.Unmarshal(b, &rec) != nil || rec.URL == "" {
		return rec, false
	}
	return rec, true
}

// lockedDataDir explains err, a data directory in use: it returns the
// address of the relay server holding it, when one is recorded, or an
// error with exit code exitLocked saying what to do.
func lockedDataDir(cmd *cobra.Command, err error) (string, error) {
	if !errors.Is(err, embedded.ErrLocked) {
		return "", err
	}
	dir, _ := dataDir(cmd)
	if rec, ok := readServer(dir); ok {
		fmt.Fprintf(cmd.ErrOrStderr(), "relay: %s is held by relay server (pid %d): using its API at %s\n", dir, rec.PID, rec.URL)
		return rec.URL, nil
	}
	return "", &exitError{code: exitLocked, err: fmt.Errorf("%w: %s is held by another relay process (relay run, relay server); wait for it to end, use another --data-dir, or reach a running server with --api URL", err, dir)}
}
