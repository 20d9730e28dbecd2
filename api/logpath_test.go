package api

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestLogPath_hidesAWebhooksKey(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/webhooks/shop/orders/k3y-s3cret", nil)
	r.SetPathValue("key", "k3y-s3cret")
	if got := logPath(r); got != "/webhooks/shop/orders/******" {
		t.Errorf("logged path %q", got)
	}
	r = httptest.NewRequest(http.MethodGet, "/executions/x", nil)
	if got := logPath(r); got != "/executions/x" {
		t.Errorf("logged path %q", got)
	}
}
