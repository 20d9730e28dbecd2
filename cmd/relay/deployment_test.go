package main

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/relayflow/relay/internal/servicetest"
	"github.com/relayflow/relay/internal/testnet"
	"github.com/relayflow/relay/serverless"
)

// startDev runs `relay dev` (executor, worker and api: no schedules, whose
// backfills in the examples would start hundreds of executions) in this process on a
// table and topics of its own and returns the API's URL.
func startDev(t *testing.T) string {
	t.Helper()
	servicetest.Require(t, serverless.EnvBrokers, "AWS_ENDPOINT_URL")
	name := fmt.Sprintf("cli%d", time.Now().UnixNano())
	t.Setenv(serverless.EnvTable, "relay-"+name)
	t.Setenv(serverless.EnvTopicPrefix, name+".")
	addr := fmt.Sprintf("127.0.0.1:%d", testnet.Port(t))
	ctx, cancel := context.WithCancel(context.Background())
	var logs safeBuffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"dev", "--role", "executor,worker,api", "--addr", addr, "--consumers", "1"}, &logs, &logs)
	}()
	url := "http://" + addr
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := http.Get(url + "/flows")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case code := <-done:
			t.Fatalf("relay dev exited %d:\n%s", code, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the API did not come up on %s:\n%s", addr, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("relay dev exited %d on Ctrl-C:\n%s", code, logs.String())
			}
		case <-time.After(30 * time.Second):
			t.Errorf("relay dev did not stop:\n%s", logs.String())
		}
		cfg, err := serverless.ConfigFromEnv()
		if err != nil {
			return
		}
		if rt, err := serverless.Open(context.Background(), cfg, nil); err == nil {
			rt.Store.DeleteTable(context.Background())
			rt.Close()
		}
	})
	return url
}

var executionID = regexp.MustCompile(`Execution (\S+) of`)

// TestDeployment_CLI drives a `relay dev` deployment with the CLI, through
// its HTTP API and directly on its table and topics.
func TestDeployment_CLI(t *testing.T) {
	url := startDev(t)
	cli := func(want int, args ...string) string {
		t.Helper()
		code, out, errOut := runCLI(t, args...)
		if code != want {
			t.Fatalf("relay %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, want, out, errOut)
		}
		return out + errOut
	}

	out := cli(0, "flows", "deploy", "../../examples/flows", "--api", url)
	if !strings.Contains(out, "deployed getting_started/hello_world revision 1") {
		t.Errorf("deploy:\n%s", out)
	}

	out = cli(0, "executions", "start", "getting_started/hello_world", "--api", url, "--wait")
	for _, want := range []string{"Hello, Kestra World!", "say_hello", "SUCCESS"} {
		if !strings.Contains(out, want) {
			t.Errorf("start --wait lacks %q:\n%s", want, out)
		}
	}

	out = cli(exitPaused, "executions", "start", "examples.human/approval", "--api", url, "--wait")
	m := executionID.FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "relay executions resume") {
		t.Fatalf("a paused execution:\n%s", out)
	}
	out = cli(exitInvalid, "executions", "resume", m[1], "--input", "approved=perhaps", "--api", url)
	if !strings.Contains(out, "approved") {
		t.Errorf("a bad onResume input is not named:\n%s", out)
	}
	out = cli(0, "executions", "resume", m[1], "--input", "approved=true", "--api", url, "--wait")
	if !strings.Contains(out, "approved=true") {
		t.Errorf("resume --wait:\n%s", out)
	}

	out = cli(exitInvalid, "executions", "start", "advanced_demo/parameterized_flow", "-i", "processing_mode=weekly", "--api", url)
	if !strings.Contains(out, "processing_mode") {
		t.Errorf("a bad input is not named:\n%s", out)
	}
	cli(exitFailed, "executions", "start", "advanced_demo/nope", "--api", url)

	// Directly on the table and topics.
	id := strings.TrimSpace(cli(0, "executions", "start", "advanced_demo/parameterized_flow", "-i", "processing_mode=hybrid", "--direct"))
	out = cli(0, "logs", id, "--direct", "--follow")
	if !strings.Contains(out, "hybrid") {
		t.Errorf("logs --follow:\n%s", out)
	}
	out = cli(0, "executions", "show", id, "--direct", "-o", "json")
	if !strings.Contains(out, `"processingMode": "hybrid"`) {
		t.Errorf("show -o json:\n%s", out)
	}
	out = cli(0, "executions", "list", "--api", url, "--state", "success")
	if strings.Count(out, "SUCCESS") != 3 || !strings.Contains(out, id) {
		t.Errorf("list --state success: want 3 executions with %s:\n%s", id, out)
	}
	cli(1, "executions", "show", "nope", "--api", url)
	cli(exitInvalid, "executions", "list", "--api", url, "--direct")
}
