// Package builtin assembles the registry of every runnable task type
// Relay has: the core ones (tasks), the script tasks (tasks/scripts) and
// the S3 tasks (tasks/s3tasks), which live in packages of their own.
package builtin

import (
	"github.com/relayflow/relay/storage"
	"github.com/relayflow/relay/tasks"
	"github.com/relayflow/relay/tasks/s3tasks"
	"github.com/relayflow/relay/tasks/scripts"
)

// Config holds the dependencies of every runner.
type Config struct {
	Tasks tasks.Config
	// Files is the internal storage of the script and S3 tasks (nil: the
	// tasks that need it fail, saying so).
	Files   *storage.Storage
	Scripts scripts.Config
}

// Registry returns a registry with every runnable task type.
func Registry(cfg Config) (*tasks.Registry, error) {
	r, err := tasks.Builtin(cfg.Tasks)
	if err != nil {
		return nil, err
	}
	var s3cfg s3tasks.Config
	if cfg.Files != nil { // a nil *Storage in an interface would not read as none
		cfg.Scripts.Files, s3cfg.Files = cfg.Files, cfg.Files
	}
	if err := scripts.Register(r, cfg.Scripts); err != nil {
		return nil, err
	}
	s3tasks.Register(r, s3cfg)
	return r, nil
}
