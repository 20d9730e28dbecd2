package serverless

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"
)

// ExitInit ends a function whose cold start failed: it logs err, reports
// it to the Lambda Runtime API (POST /runtime/init/error), so that Lambda
// shows the cause to the caller and the event source instead of
// Runtime.ExitError, and exits with status 1. Outside Lambda (no
// AWS_LAMBDA_RUNTIME_API) it only logs and exits.
func ExitInit(what string, err error) {
	slog.Error(what, slog.Any("error", err))
	if api := os.Getenv("AWS_LAMBDA_RUNTIME_API"); api != "" {
		if perr := postInitError(context.Background(), api, what, err); perr != nil {
			slog.Error("reporting the init error to the Runtime API", slog.Any("error", perr))
		}
	}
	os.Exit(1)
}

// initErrorType is the error type Lambda shows for a failed cold start.
const initErrorType = "Relay.InitError"

func postInitError(ctx context.Context, api, what string, err error) error {
	body, _ := json.Marshal(map[string]any{"errorMessage": what + ": " + err.Error(), "errorType": initErrorType, "stackTrace": []string{}})
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, rerr := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+api+"/2018-06-01/runtime/init/error", bytes.NewReader(body))
	if rerr != nil {
		return rerr
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Lambda-Runtime-Function-Error-Type", initErrorType)
	resp, rerr := http.DefaultClient.Do(req)
	if rerr != nil {
		return rerr
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("the Runtime API answered %s", resp.Status)
	}
	return nil
}
