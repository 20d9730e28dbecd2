package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/relayflow/relay/api"
	"github.com/relayflow/relay/internal/testnet"
	"github.com/relayflow/relay/ui"
)

// verifySigV4 checks a request's SigV4 signature as API Gateway would:
// the headers it names are signed again with the same key and time, and
// the signatures must be equal.
func verifySigV4(r *http.Request, body []byte, creds aws.Credentials, region string) error {
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 ") {
		return fmt.Errorf("not signed: Authorization %q", auth)
	}
	var signed []string
	for _, part := range strings.Split(strings.TrimPrefix(auth, "AWS4-HMAC-SHA256 "), ", ") {
		if v, ok := strings.CutPrefix(part, "SignedHeaders="); ok {
			signed = strings.Split(v, ";")
		}
	}
	when, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return fmt.Errorf("X-Amz-Date: %w", err)
	}
	again, _ := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), nil)
	again.Host = r.Host
	for _, h := range signed {
		if h != "host" {
			again.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, again, hex.EncodeToString(sum[:]), "execute-api", region, when); err != nil {
		return err
	}
	if again.Header.Get("Authorization") != auth {
		return fmt.Errorf("the signature does not verify:\n got %s\nwant %s", auth, again.Header.Get("Authorization"))
	}
	return nil
}

// relay ui serves the pages itself and passes the API calls on to the
// deployed API, signed with the environment's AWS credentials (or its
// token), without the browser's own headers; cross-site requests stop at
// it, and event streams go through as they come.
func TestUIProxy_signsAPICallsAndServesPages(t *testing.T) {
	creds := aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
	type seen struct {
		method, path, auth, cookie, origin string
		err                                error
	}
	got := make(chan seen, 10)
	upstream := testnet.Server(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s := seen{method: r.Method, path: r.URL.Path, auth: r.Header.Get("Authorization"), cookie: r.Header.Get("Cookie"), origin: r.Header.Get("Origin")}
		if strings.HasPrefix(s.auth, "AWS4") {
			s.err = verifySigV4(r, body, creds, "eu-west-1")
		}
		got <- s
		if strings.HasSuffix(r.URL.Path, "/stream") {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "event: execution\ndata: {}\n\n")
			w.(http.Flusher).Flush()
			<-r.Context().Done() // the rest never comes: the first event must get through
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"upstream": %q}`, r.URL.Path)
	}))
	t.Setenv("AWS_ACCESS_KEY_ID", creds.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", creds.SecretAccessKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")

	for _, mode := range []string{"sigv4", "bearer"} {
		t.Run(mode, func(t *testing.T) {
			t.Setenv(api.EnvAPIAuth, mode)
			t.Setenv(api.EnvAPIToken, "jwt-token")
			proxy, err := apiProxy(context.Background(), upstream.URL+"/prod", nil)
			if err != nil {
				t.Fatal(err)
			}
			local := testnet.Server(t, ui.Handler(proxy, ui.Options{Live: ui.LivePoll, LocalOnly: true, PublicURL: upstream.URL + "/prod"}))

			res, err := http.Get(local.URL + "/ui/executions")
			if err != nil {
				t.Fatal(err)
			}
			page, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if !strings.Contains(string(page), `content="poll"`) || !strings.Contains(string(page), `<meta name="relay-public-url" content="`+upstream.URL+`/prod">`) {
				t.Errorf("the page:\n%s", page)
			}
			select {
			case s := <-got:
				t.Fatalf("a page request reached the API: %+v", s)
			default:
			}

			req, _ := http.NewRequest("POST", local.URL+"/executions/abc/kill", strings.NewReader(""))
			req.Header.Set("Cookie", "session=1")
			req.Header.Set("Origin", local.URL)
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			res, err = http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			s := <-got
			if res.StatusCode != 200 || !strings.Contains(string(body), `"/prod/executions/abc/kill"`) || s.path != "/prod/executions/abc/kill" {
				t.Errorf("POST through the proxy: %d %s, upstream saw %+v", res.StatusCode, body, s)
			}
			if s.cookie != "" || s.origin != "" {
				t.Errorf("the browser's headers went on: %+v", s)
			}
			switch mode {
			case "sigv4":
				if s.err != nil || !strings.HasPrefix(s.auth, "AWS4-HMAC-SHA256") {
					t.Errorf("SigV4: %v (%s)", s.err, s.auth)
				}
			case "bearer":
				if s.auth != "Bearer jwt-token" {
					t.Errorf("bearer: Authorization %q", s.auth)
				}
			}

			req, _ = http.NewRequest("POST", local.URL+"/executions/abc/kill", nil)
			req.Header.Set("Origin", "http://evil.example")
			req.Header.Set("Sec-Fetch-Site", "cross-site")
			res, err = http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusForbidden {
				t.Errorf("a cross-site POST through the proxy: %d, want 403", res.StatusCode)
			}
			select {
			case s := <-got:
				t.Errorf("a cross-site request reached the API: %+v", s)
			default:
			}

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req, _ = http.NewRequestWithContext(ctx, "GET", local.URL+"/executions/abc/stream", nil)
			req.Header.Set("Accept", "text/event-stream")
			res, err = http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			line, err := bufio.NewReader(res.Body).ReadString('\n')
			if err != nil || line != "event: execution\n" {
				t.Errorf("the stream through the proxy: %q %v", line, err)
			}
			cancel()
			res.Body.Close()
			<-got
		})
	}
}

func TestUIUpdates_pollsAPIGatewayAndStreamsElsewhere(t *testing.T) {
	for _, c := range []struct{ live, url, want string }{
		{"auto", "https://abc123.execute-api.eu-west-1.amazonaws.com", "poll"},
		{"auto", "https://abc.lambda-url.eu-west-1.on.aws/", "poll"},
		{"auto", "http://127.0.0.1:8080", "sse"},
		{"sse", "https://abc123.execute-api.eu-west-1.amazonaws.com", "sse"},
		{"poll", "http://127.0.0.1:8080", "poll"},
	} {
		got, err := uiUpdates(c.live, c.url)
		if err != nil || string(got) != c.want {
			t.Errorf("--live %s for %s: %s %v, want %s", c.live, c.url, got, err, c.want)
		}
	}
	if _, err := uiUpdates("websocket", "http://x"); err == nil {
		t.Error("--live websocket: no error")
	}
}
