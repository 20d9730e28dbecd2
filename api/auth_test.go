package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/relayflow/relay/internal/testnet"
)

func TestAPIGatewayRegion(t *testing.T) {
	for host, want := range map[string]string{
		"abc123.execute-api.eu-west-1.amazonaws.com":     "eu-west-1",
		"abc123.execute-api.cn-north-1.amazonaws.com.cn": "cn-north-1",
		"127.0.0.1":                       "",
		"api.example.com":                 "",
		"abc.lambda-url.us-east-1.on.aws": "",
	} {
		if got := apiGatewayRegion(host); got != want {
			t.Errorf("apiGatewayRegion(%q) = %q, want %q", host, got, want)
		}
	}
}

// TestSigV4 checks the signature the server receives against one computed
// again from the request as it arrived, and that the body is sent intact.
func TestSigV4(t *testing.T) {
	creds := credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")
	at := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	var got, want, body string
	srv := testnet.Server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		body = string(b)
		got = r.Header.Get("Authorization")
		again := r.Clone(context.Background())
		again.Header.Del("Authorization")
		again.Header.Del("Accept-Encoding") // added by the transport after signing, not signed
		again.URL.Scheme, again.URL.Host = "http", r.Host
		c, _ := creds.Retrieve(context.Background())
		if err := v4.NewSigner().SignHTTP(context.Background(), c, again, r.Header.Get("X-Amz-Content-Sha256"), "execute-api", "eu-west-1", at); err != nil {
			t.Error(err)
		}
		want = again.Header.Get("Authorization")
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	hc := &http.Client{Transport: &SigV4{Credentials: creds, Region: "eu-west-1", Next: http.DefaultTransport, Now: func() time.Time { return at }}}
	resp, err := hc.Post(srv.URL+"/events?x=1", "application/json", strings.NewReader(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !strings.HasPrefix(got, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261121/eu-west-1/execute-api/aws4_request") {
		t.Fatalf("Authorization = %q", got)
	}
	if got != want {
		t.Errorf("signature does not verify:\n got  %s\n want %s", got, want)
	}
	if body != `{"a":1}` {
		t.Errorf("body = %q", body)
	}
}

func TestHTTPClientAuth(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_REGION", "us-east-1")
	for _, tc := range []struct {
		url, mode, token string
		want             string // transport type, or error text
	}{
		{url: "http://127.0.0.1:8080", want: "<nil>"},
		{url: "https://abc.execute-api.eu-west-1.amazonaws.com", want: "*api.SigV4"},
		{url: "https://abc.execute-api.eu-west-1.amazonaws.com", token: "jwt", want: "api.bearer"},
		{url: "https://relay.example.com", mode: "sigv4", want: "*api.SigV4"},
		{url: "https://relay.example.com", mode: "bearer", want: "needs the token in RELAY_API_TOKEN"},
		{url: "https://relay.example.com", mode: "basic", want: `RELAY_API_AUTH="basic": want sigv4, bearer or none`},
	} {
		t.Setenv(EnvAPIAuth, tc.mode)
		t.Setenv(EnvAPIToken, tc.token)
		hc, err := HTTPClient(t.Context(), tc.url)
		var got string
		if err != nil {
			got = err.Error()
		} else {
			got = typeName(hc.Transport)
		}
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s (auth %q, token %q): got %s, want %s", tc.url, tc.mode, tc.token, got, tc.want)
		}
	}
}

func typeName(v any) string { return fmt.Sprintf("%T", v) }
