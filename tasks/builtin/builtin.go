// Package builtin assembles the registry of every runnable task type
// Relay has: the core ones (tasks), the script tasks (tasks/scripts) and
// the S3 tasks (tasks/s3tasks), which live in packages of their own.
package builtin

import (
	"github.com/relayflow/relay/tasks"
	"github.com/relayflow/relay/tasks/scripts"
)

// Config holds the dependencies of every runner.
type Config struct {
	Tasks   tasks.Config
	Scripts scripts.Config
}

// Registry returns a registry with every runnable task type.
func Registry(cfg Config) (*tasks.Registry, error) {
	r, err := tasks.Builtin(cfg.Tasks)
	if err != nil {
		return nil, err
	}
	if err := scripts.Register(r, cfg.Scripts); err != nil {
		return nil, err
	}
	return r, nil
}
