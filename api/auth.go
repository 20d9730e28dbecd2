package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
)

// How clients authenticate to a deployed API (template.yaml's ApiAuth).
const (
	// EnvAPIAuth is sigv4, bearer or none. Default: bearer when
	// EnvAPIToken is set, else sigv4 for an API Gateway host
	// (*.execute-api.REGION.amazonaws.com), else none.
	EnvAPIAuth = "RELAY_API_AUTH"
	// EnvAPIToken is the JWT sent as "Authorization: Bearer" (ApiAuth JWT).
	EnvAPIToken = "RELAY_API_TOKEN"
)

// HTTPClient returns the client for the API at base, authenticating as
// EnvAPIAuth says: requests signed with the AWS credentials of the
// environment (SigV4, service execute-api, the region of the host or
// AWS_REGION), a bearer token, or nothing.
func HTTPClient(ctx context.Context, base string) (*http.Client, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("API URL %q: %w", base, err)
	}
	token := os.Getenv(EnvAPIToken)
	region := apiGatewayRegion(u.Hostname())
	mode := os.Getenv(EnvAPIAuth)
	if mode == "" {
		switch {
		case token != "":
			mode = "bearer"
		case region != "":
			mode = "sigv4"
		default:
			mode = "none"
		}
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	switch mode {
	case "none":
	case "bearer":
		if token == "" {
			return nil, fmt.Errorf("%s=bearer needs the token in %s", EnvAPIAuth, EnvAPIToken)
		}
		hc.Transport = bearer{token: token, next: http.DefaultTransport}
	case "sigv4":
		cfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("loading AWS credentials to sign API requests: %w", err)
		}
		if region == "" {
			region = cfg.Region
		}
		if region == "" {
			return nil, fmt.Errorf("signing requests to %s: no region in the host name nor in AWS_REGION", u.Host)
		}
		hc.Transport = &SigV4{Credentials: cfg.Credentials, Region: region, Next: http.DefaultTransport}
	default:
		return nil, fmt.Errorf("%s=%q: want sigv4, bearer or none", EnvAPIAuth, mode)
	}
	return hc, nil
}

// apiGatewayRegion is the region of an API Gateway host name, or "".
func apiGatewayRegion(host string) string {
	// ID.execute-api.REGION.amazonaws.com(.cn)
	parts := strings.Split(host, ".")
	if len(parts) < 5 || parts[1] != "execute-api" || parts[3] != "amazonaws" {
		return ""
	}
	return parts[2]
}

type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// SigV4 signs each request for API Gateway's IAM authorization (service
// execute-api).
type SigV4 struct {
	Credentials aws.CredentialsProvider
	Region      string
	Next        http.RoundTripper
	// Now is the signing time (default time.Now).
	Now func() time.Time
}

// RoundTrip signs r and sends it.
func (s *SigV4) RoundTrip(r *http.Request) (*http.Response, error) {
	creds, err := s.Credentials.Retrieve(r.Context())
	if err != nil {
		return nil, fmt.Errorf("getting AWS credentials to sign %s %s: %w", r.Method, r.URL.Path, err)
	}
	var body []byte
	if r.Body != nil {
		body, err = io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("reading the body to sign: %w", err)
		}
	}
	r = r.Clone(r.Context())
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	r.Header.Set("X-Amz-Content-Sha256", hash)
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	if err := v4.NewSigner().SignHTTP(r.Context(), creds, r, hash, "execute-api", s.Region, now()); err != nil {
		return nil, fmt.Errorf("signing %s %s: %w", r.Method, r.URL.Path, err)
	}
	return s.Next.RoundTrip(r)
}
