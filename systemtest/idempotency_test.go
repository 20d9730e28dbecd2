package systemtest

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/relayflow/relay/engine"
)

// The api process publishes a start and is killed with SIGKILL before it
// answers. `relay executions start` sent an idempotency key: its
// connection drops, it retries with the key until an api process answers
// again, and gets the execution the first request started. One execution
// exists, not two, and the command prints its id.
func TestIdempotency_apiKilledBetweenPublishAndAnswer(t *testing.T) {
	d := newDeployment(t)
	d.deploy(chainFlow)
	addr := fmt.Sprintf("127.0.0.1:%d", portNear("DYNAMODB", 18000, 30))
	d.start("executor", "executor")
	d.start("worker", "worker")
	first := d.start("api", "api", "--addr", addr, "RELAY_FAULT=api-after-publish:1")
	first.waitOutput("serving the HTTP API", 60*time.Second)

	cli := exec.Command(relayBinary(t), "--api", "http://"+addr, "executions", "start", "systemtest/chain")
	cli.Env = d.env
	start := startProc(t, "relay executions start", cli)
	first.waitOutput("relay fault: api-after-publish 1", 60*time.Second)
	first.kill()
	second := d.start("api-2", "api", "--addr", addr)
	second.waitOutput("serving the HTTP API", 60*time.Second)
	select {
	case <-start.exited:
	case <-time.After(90 * time.Second):
		t.Fatalf("the command did not end:\n%s", start.String())
	}
	if start.cmd.ProcessState.ExitCode() != 0 {
		t.Fatalf("the command failed:\n%s", start.String())
	}
	id := strings.TrimSpace(start.String())
	ex := d.waitEnded([]string{id}, 90*time.Second)
	checkOnce(t, d, ex, "one", "two", "three", "four")
	time.Sleep(2 * time.Second) // a second execution, if any, has been created by now
	all, err := d.rt.Store.Executions(context.Background(), engine.ExecutionFilter{Namespace: "systemtest", FlowID: "chain"})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || all[0].ID != id {
		var got []string
		for _, ex := range all {
			got = append(got, ex.ID)
		}
		t.Errorf("executions %v, want only %s, the one the command printed", got, id)
	}
}
