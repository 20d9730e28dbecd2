package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/relayflow/relay/api"
	"github.com/relayflow/relay/ui"
)

// uiCmd serves the web UI on loopback in front of a deployed API, signing
// the requests the pages make as the CLI signs its own.
func uiCmd() *cobra.Command {
	var (
		port int
		live string
	)
	cmd := &cobra.Command{
		Use:   "ui --api URL [--port 8090]",
		Short: "Serve the web UI on 127.0.0.1 for a deployed API, signing its requests with your AWS credentials (or JWT)",
		Long: "Ui serves the web UI (docs/ui.md) on 127.0.0.1 and passes the pages' API calls on to the API at\n" +
			"--api (or $" + EnvAPI + "), authenticated as the CLI is: signed with the AWS credentials of the\n" +
			"environment (SigV4) for an API Gateway URL, or with the JWT in $" + api.EnvAPIToken + " (" + api.EnvAPIAuth + " chooses).\n" +
			"So the UI works with the default IAM auth, which a browser cannot sign. `relay server` and\n" +
			"`relay dev` serve the UI themselves, at /ui/.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			apiURL, _ := cmd.Flags().GetString("api")
			if apiURL == "" {
				apiURL = os.Getenv(EnvAPI)
			}
			if apiURL == "" {
				return &exitError{code: exitInvalid, err: errors.New("relay ui needs the API's URL: --api URL or $" + EnvAPI)}
			}
			mode, err := uiUpdates(live, apiURL)
			if err != nil {
				return &exitError{code: exitInvalid, err: err}
			}
			proxy, err := apiProxy(cmd.Context(), apiURL, slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil)))
			if err != nil {
				return &exitError{code: exitInvalid, err: err}
			}
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err != nil {
				return &exitError{code: exitInvalid, err: fmt.Errorf("cannot listen on 127.0.0.1:%d (choose another with --port): %w", port, err)}
			}
			defer ln.Close()
			fmt.Fprintf(cmd.ErrOrStderr(), "relay ui: http://%s/ui/ for %s (updates by %s); Ctrl-C stops\n", ln.Addr(), apiURL, map[ui.Live]string{ui.LiveSSE: "server-sent events", ui.LivePoll: "polling"}[mode])
			return serveHTTP(cmd.Context(), ln, ui.Handler(proxy, ui.Options{Live: mode, LocalOnly: true, PublicURL: apiURL}))
		},
	}
	cmd.Flags().IntVar(&port, "port", 8090, "the port to listen on, on 127.0.0.1")
	cmd.Flags().StringVar(&live, "live", "auto", "how pages get updates: sse (the API streams: relay server, relay dev), poll (API Gateway), or auto (poll for API Gateway URLs)")
	return cmd
}

// proxiedHeaders are the request headers the API reads.
var proxiedHeaders = []string{"Accept", "Content-Type", "If-None-Match", "Last-Event-Id", "Cache-Control"}

func uiUpdates(live, apiURL string) (ui.Live, error) {
	switch live {
	case "sse":
		return ui.LiveSSE, nil
	case "poll":
		return ui.LivePoll, nil
	case "auto":
		u, err := url.Parse(apiURL)
		if err != nil {
			return "", fmt.Errorf("API URL %q: %w", apiURL, err)
		}
		if strings.Contains(u.Hostname(), ".execute-api.") || strings.Contains(u.Hostname(), ".lambda-url.") {
			return ui.LivePoll, nil
		}
		return ui.LiveSSE, nil
	}
	return "", fmt.Errorf("--live %q: want sse, poll or auto", live)
}

// apiProxy passes requests on to the API at apiURL (its path, an API
// Gateway stage, is kept in front), authenticated as api.HTTPClient
// says. Only the headers the API reads go on: the browser's own (origin,
// cookies, fetch metadata, client hints) mean nothing to the API, the
// UI's handler has checked them already, and every header sent is one
// SigV4 signs.
func apiProxy(ctx context.Context, apiURL string, log *slog.Logger) (http.Handler, error) {
	target, err := url.Parse(apiURL)
	if err != nil || target.Scheme == "" || target.Host == "" {
		return nil, fmt.Errorf("API URL %q: want http(s)://host[:port][/stage]", apiURL)
	}
	hc, err := api.HTTPClient(ctx, apiURL)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	transport := hc.Transport
	if transport == nil {
		transport = http.DefaultTransport
	}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = target.Host
			pr.Out.Header = http.Header{}
			for _, h := range proxiedHeaders {
				if v := pr.In.Header.Values(h); len(v) > 0 {
					pr.Out.Header[h] = v
				}
			}
		},
		Transport:     transport,
		FlushInterval: -1, // event streams go through as they come
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() == nil {
				log.Error("calling the API failed", slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("error", err))
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadGateway)
			_ = json.NewEncoder(w).Encode(api.ErrorBody{Error: "calling the API at " + apiURL + ": " + err.Error()})
		},
	}, nil
}
