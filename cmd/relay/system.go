package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/infra/blob"
	"github.com/relayflow/relay/infra/embedded"
	"github.com/relayflow/relay/infra/secretstore"
	"github.com/relayflow/relay/secrets"
	"github.com/relayflow/relay/statemachine"
	"github.com/relayflow/relay/storage"
	"github.com/relayflow/relay/tasks"
	"github.com/relayflow/relay/tasks/builtin"
)

// dataDir returns where the embedded store lives: --data-dir, then
// RELAY_DATA_DIR, then ~/.relay.
func dataDir(cmd *cobra.Command) (string, error) {
	if d, _ := cmd.Flags().GetString("data-dir"); d != "" {
		return d, nil
	}
	if d := os.Getenv("RELAY_DATA_DIR"); d != "" {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding the home directory for the data directory (set --data-dir or RELAY_DATA_DIR): %w", err)
	}
	return filepath.Join(home, ".relay"), nil
}

// system is the whole engine in this process, on the embedded store and
// bus.
type system struct {
	// secrets seals the SECRET inputs the CLI is given; lookup reads named
	// secrets (the worker's, and relay server's for webhook keys).
	secrets *secrets.Keyring
	lookup  secrets.Lookup
	files   *storage.Storage
	store   *embedded.Store
	bus     *embedded.Bus
	engine  *engine.Engine
	cancel  context.CancelFunc
}

type systemOptions struct {
	workers  int
	onCommit func(*statemachine.Execution, []*statemachine.TaskRun)
	onLog    func(engine.LogEntry)
	// logger receives the engine's logs (default: warnings and errors,
	// debug with --verbose, on stderr).
	logger *slog.Logger
}

// openStore opens the embedded store of the data directory.
func openStore(cmd *cobra.Command) (*embedded.Store, error) {
	dir, err := dataDir(cmd)
	if err != nil {
		return nil, err
	}
	st, err := embedded.OpenStore(filepath.Join(dir, "relay.db"))
	if err != nil {
		return nil, fmt.Errorf("opening the data directory %s: %w", dir, err)
	}
	return st, nil
}

// openFiles returns the internal storage of the data directory: the
// folder blobs/ in it, where `relay dev` keeps its large values too.
func openFiles(cmd *cobra.Command) (*storage.Storage, error) {
	dir, err := dataDir(cmd)
	if err != nil {
		return nil, err
	}
	d, err := blob.NewDir(filepath.Join(dir, "blobs"))
	if err != nil {
		return nil, fmt.Errorf("opening the internal storage: %w", err)
	}
	return storage.New(d), nil
}

// startSystem opens the store and starts the engine; stop with close.
func startSystem(cmd *cobra.Command, o systemOptions) (*system, error) {
	keys, lookup, err := localSecrets(cmd)
	if err != nil {
		return nil, err
	}
	st, err := openStore(cmd)
	if err != nil {
		return nil, err
	}
	bus := embedded.NewBus()
	files, err := openFiles(cmd)
	if err != nil {
		st.Close()
		return nil, err
	}
	reg, err := builtin.Registry(builtin.Config{Tasks: tasks.Config{Emitter: engine.BusEmitter{Bus: bus}}, Files: files})
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("setting up tasks: %w", err)
	}
	level := slog.LevelWarn
	if v, _ := cmd.Flags().GetBool("verbose"); v {
		level = slog.LevelDebug
	}
	if o.logger == nil {
		o.logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
	}
	envs, globals, err := engine.ExpressionVariables(os.Environ())
	if err != nil {
		st.Close()
		return nil, err
	}
	eng, err := engine.New(engine.Config{
		Store: st, Bus: bus, Tasks: reg, Workers: o.workers,
		Logger:  o.logger,
		Secrets: keys, SecretLookup: lookup,
		Files:    files,
		OnCommit: o.onCommit, OnLog: o.onLog,
		// One executor owns the store: executions stay in memory while they
		// run, and each event reads nothing back.
		CacheExecutions: 1000,
		Envs:            envs, Globals: globals,
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	// The engine outlives the command's context: Ctrl-C kills the
	// execution, and the engine must keep running to record that.
	ctx, cancel := context.WithCancel(context.WithoutCancel(cmd.Context()))
	if err := eng.Start(ctx); err != nil {
		cancel()
		st.Close()
		return nil, err
	}
	return &system{secrets: keys, lookup: lookup, files: files, store: st, bus: bus, engine: eng, cancel: cancel}, nil
}

// close stops the system: it lets the commands being carried out finish
// (so the execution-finished event is published, not left for the next
// start), closes the bus, which waits for the handlers in flight to commit,
// lets their commands finish, then stops the engine's loops and the store.
func (s *system) close() {
	s.engine.Wait()
	s.bus.Close()
	s.engine.Wait()
	s.cancel()
	s.store.Close()
}

// localSecrets returns the key of this machine's processes (RELAY_SECRET_KEY,
// else the data directory's) and the backend of named secrets
// (RELAY_SECRETS_BACKEND, by default the environment: RELAY_SECRET_NAME).
func localSecrets(cmd *cobra.Command) (*secrets.Keyring, secrets.Lookup, error) {
	dir, err := dataDir(cmd)
	if err != nil {
		return nil, nil, err
	}
	keys, err := secretstore.LoadKey(cmd.Context(), dir)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := secretstore.ConfigFromEnv()
	if err != nil {
		return nil, nil, err
	}
	lookup, err := cfg.Lookup(cmd.Context())
	if err != nil {
		return nil, nil, err
	}
	return keys, lookup, nil
}
