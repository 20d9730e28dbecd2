package engine

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/relayflow/relay/statemachine/expr"
)

// EnvPrefix marks the environment variables expressions read as `envs`:
// ENV_REGION is envs.region, as in Kestra.
const EnvPrefix = "ENV_"

// EnvGlobals names the environment variable holding the deployment's
// global variables (`globals` in expressions), a JSON object.
const EnvGlobals = "RELAY_GLOBALS"

// ExpressionVariables reads the `envs` and `globals` variables of
// expressions from an environment (os.Environ()). A RELAY_GLOBALS that is
// not a JSON object is an error, reported at start-up.
func ExpressionVariables(environ []string) (envs, globals map[string]any, err error) {
	envs = map[string]any{}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, EnvPrefix) || len(k) == len(EnvPrefix) {
			continue
		}
		envs[strings.ToLower(k[len(EnvPrefix):])] = v
	}
	globals = map[string]any{}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k != EnvGlobals || strings.TrimSpace(v) == "" {
			continue
		}
		dec := json.NewDecoder(strings.NewReader(v))
		dec.UseNumber()
		if err := dec.Decode(&globals); err != nil {
			return nil, nil, fmt.Errorf("%s must hold a JSON object: %w", EnvGlobals, err)
		}
		expr.NormalizeJSON(globals)
	}
	return envs, globals, nil
}
