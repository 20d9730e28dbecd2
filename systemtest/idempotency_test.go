package systemtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/serverless"
)

// uploadFlow is chainFlow with a FILE input, which its last task reads:
// the file holds "four", so that the task logs what chainFlow's does.
const uploadFlow = `
id: chain
namespace: systemtest
inputs:
  - {id: data, type: FILE}
tasks:
  - {id: one, type: io.kestra.plugin.core.log.Log, message: "one {{ execution.id }}"}
  - {id: two, type: io.kestra.plugin.core.log.Log, message: "two {{ execution.id }}"}
  - {id: three, type: io.kestra.plugin.core.log.Log, message: "three {{ execution.id }}"}
  - {id: four, type: io.kestra.plugin.core.log.Log, message: "{{ read(inputs.data) | trim }} {{ execution.id }}"}
`

// The api process stores a start's file, publishes the start and is
// killed with SIGKILL before it answers. `relay executions start --input
// data=@file` sent an idempotency key: its connection drops, it retries
// with the key, file and all, until an api process answers again, and gets
// the execution the first request started. One execution exists, not two,
// the command prints its id, and its task reads the file.
func TestIdempotency_apiKilledBetweenPublishAndAnswer(t *testing.T) {
	d := newDeployment(t)
	d.env = append(d.env, serverless.EnvBlobDir+"="+t.TempDir()) // the api stores the file, the executor reads it
	d.deploy(uploadFlow)
	file := filepath.Join(t.TempDir(), "data.txt")
	if err := os.WriteFile(file, []byte("four\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", portNear("DYNAMODB", 18000, 30))
	d.start("executor", "executor")
	d.start("worker", "worker")
	first := d.start("api", "api", "--addr", addr, "RELAY_FAULT=api-after-publish:1")
	first.waitOutput("serving the HTTP API", 60*time.Second)

	cli := exec.Command(relayBinary(t), "--api", "http://"+addr, "executions", "start", "systemtest/chain", "--input", "data=@"+file)
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
	if uri, _ := ex[0].Inputs["data"].(string); !strings.Contains(uri, "/executions/"+id+"/inputs/data/data.txt") {
		t.Errorf("input data = %q, want the file stored under execution %s", uri, id)
	}
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
