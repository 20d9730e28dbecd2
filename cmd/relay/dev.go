package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/relayflow/relay/api"
	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/internal/health"
	"github.com/relayflow/relay/serverless"
	"github.com/relayflow/relay/ui"
)

// devCmd runs the Lambda handlers as long-lived consumers against the
// Kafka brokers and DynamoDB table of the environment.
func devCmd() *cobra.Command {
	var (
		roles       []string
		consumers   int
		createTable bool
		addr        string
		healthAddr  string
	)
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the serverless handlers as long-lived consumers against Kafka and DynamoDB",
		Long: "Dev runs the executor, worker and router handlers that Lambda runs in AWS, unchanged, as consumer\n" +
			"groups on the Kafka topics (batches are handed over in the shape of Lambda's Kafka event source);\n" +
			"the scheduler role starts due schedules and fires durable timers every second, and the api role\n" +
			"serves the HTTP API of functions/api and the web UI (/ui/) on --addr (docs/api.md, docs/ui.md).\n" +
			"Brokers come from RELAY_KAFKA_BROKERS, the table from RELAY_TABLE (default relay) and the\n" +
			"DynamoDB endpoint from AWS_ENDPOINT_URL; values over 64 KB go to the S3 bucket RELAY_BUCKET, else the\n" +
			"folder RELAY_BLOB_DIR, else <data dir>/blobs. Several processes share the work; stopping one loses nothing.\n\n" +
			"`make services-up` starts Kafka and DynamoDB Local on this machine and writes their settings to\n" +
			".cache/services/env.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cfg, err := serverless.ConfigFromEnv()
			if err != nil {
				return &exitError{code: exitInvalid, err: err}
			}
			if d, _ := cmd.Flags().GetString("data-dir"); d != "" && os.Getenv(serverless.EnvBucket) == "" && os.Getenv(serverless.EnvBlobDir) == "" {
				cfg.BlobDir = filepath.Join(d, "blobs")
			}
			level := slog.LevelInfo
			if v, _ := cmd.Flags().GetBool("verbose"); v {
				level = slog.LevelDebug
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			health.Default.SetLogger(log)
			if healthAddr != "" {
				ln, err := net.Listen("tcp", healthAddr)
				if err != nil {
					return &exitError{code: exitInvalid, err: fmt.Errorf("cannot listen on --health-addr %s: %w", healthAddr, err)}
				}
				log.Info("serving /healthz and /metrics", slog.String("url", "http://"+ln.Addr().String()))
				go serveHTTP(ctx, ln, opsHandler(nil))
			}
			rt, err := serverless.OpenWhenReady(ctx, cfg, log)
			if err != nil {
				if ctx.Err() != nil {
					return nil // Ctrl-C while waiting for the services
				}
				return err
			}
			defer rt.Close()
			if createTable {
				if err := untilAvailable(ctx, func() error { return rt.Store.CreateTable(ctx) }); err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return err
				}
			}
			ctx, stop := context.WithCancelCause(ctx)
			defer stop(nil)
			go rt.Probe(ctx, 10*time.Second)
			var wg sync.WaitGroup
			spawn := func(f func() error) {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := f(); err != nil {
						stop(err) // one consumer failing stops the others
					}
				}()
			}
			for _, name := range expandRoles(roles) {
				role := serverless.Role(name)
				if role == serverless.RoleScheduler {
					spawn(func() error { rt.RunScheduler(ctx, time.Second); return nil })
					log.Info("ticking every second: due schedules and durable timers", slog.String("role", name))
					continue
				}
				if role == serverless.RoleAPI {
					srv, err := listenAPI(ctx, rt, addr, log)
					if err != nil {
						return err
					}
					spawn(srv)
					continue
				}
				if _, err := rt.Handler(role); err != nil {
					return &exitError{code: exitInvalid, err: err}
				}
				if role == serverless.RoleExecutor {
					spawn(func() error { recoverLoop(ctx, rt, log); return nil })
				}
				for i := range consumers {
					src, err := rt.EventSource(role, log.With(slog.String("role", name), slog.Int("consumer", i)))
					if err != nil {
						return err
					}
					spawn(func() error { return src.Run(ctx) })
				}
				log.Info("consuming", slog.String("role", name), slog.String("topic", cfg.TopicPrefix+role.Topic()), slog.String("group", role.Group(cfg.TopicPrefix)), slog.Int("consumers", consumers))
			}
			blobs := "s3://" + cfg.Bucket + "/" + cfg.BucketPrefix
			if cfg.Bucket == "" {
				blobs = cfg.BlobDir
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "relay dev: table %s, brokers %v, large values in %s; Ctrl-C or SIGTERM stops, handing back running attempts\n", cfg.Table, cfg.Brokers, blobs)
			wg.Wait()
			if cmd.Context().Err() != nil {
				return nil // Ctrl-C: a clean stop
			}
			return context.Cause(ctx)
		},
	}
	cmd.Flags().StringSliceVar(&roles, "role", []string{"all"}, "executor, worker, router, scheduler, api, or all (repeat or comma-separate)")
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8080", "where the api role listens")
	cmd.Flags().IntVar(&consumers, "consumers", 2, "consumers per role in this process (each takes a share of the partitions)")
	cmd.Flags().BoolVar(&createTable, "create-table", true, "create the state table if it is missing")
	cmd.Flags().StringVar(&healthAddr, "health-addr", "", "serve GET /healthz (200, or 503 while Kafka or DynamoDB is unavailable) and GET /metrics (Prometheus) here; the api role serves them on --addr too")
	return cmd
}

func expandRoles(roles []string) []string {
	var out []string
	for _, r := range roles {
		if r == "all" {
			out = append(out, string(serverless.RoleExecutor), string(serverless.RoleWorker), string(serverless.RoleRouter), string(serverless.RoleScheduler), string(serverless.RoleAPI))
			continue
		}
		out = append(out, r)
	}
	return out
}

// recoverLoop carries out outbox entries left by a crashed executor, and
// starts queued executions whose slots a stopped executor freed without
// dequeuing them: at start, then every few seconds.
func recoverLoop(ctx context.Context, rt *serverless.Runtime, log *slog.Logger) {
	for {
		if err := rt.Engine.Recover(ctx); err != nil && ctx.Err() == nil {
			log.Log(ctx, engine.LogLevel(err), "recovering the outbox", slog.Any("error", err))
		}
		rt.Engine.ResumeQueues(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Second):
		}
	}
}

// listenAPI binds the HTTP API to addr and returns the function that serves
// it until ctx ends.
func listenAPI(ctx context.Context, rt *serverless.Runtime, addr string, log *slog.Logger) (func() error, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, &exitError{code: exitInvalid, err: fmt.Errorf("the api role cannot listen on %s (choose another with --addr): %w", addr, err)}
	}
	log.Info("serving the HTTP API and the web UI", slog.String("url", "http://"+ln.Addr().String()), slog.String("ui", "http://"+ln.Addr().String()+"/ui/"))
	return func() error { return serveHTTP(ctx, ln, opsHandler(withUI(api.Handler(rt.API(), log), ln))) }, nil
}

// withUI serves the web UI beside the API h, updated by Server-Sent
// Events; on a loopback listener it answers only to loopback host names.
func withUI(h http.Handler, ln net.Listener) http.Handler {
	local := false
	if a, ok := ln.Addr().(*net.TCPAddr); ok {
		local = a.IP.IsLoopback()
	}
	return ui.Handler(h, ui.Options{Live: ui.LiveSSE, LocalOnly: local})
}

// opsHandler serves GET /healthz (the process's view of Kafka, DynamoDB
// and the blob store: 200, or 503 during an outage) and GET /metrics
// (Prometheus), and hands every other request to next (nil: 404).
func opsHandler(next http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", health.Default.Handler())
	mux.Handle("GET /metrics", promhttp.Handler())
	if next != nil {
		mux.Handle("/", next)
	}
	return mux
}

// untilAvailable calls f until it succeeds or fails for another reason
// than an outage (engine.ErrUnavailable), waiting with backoff and jitter
// in between.
func untilAvailable(ctx context.Context, f func() error) error {
	wait := health.Backoff{Min: 200 * time.Millisecond, Max: 5 * time.Second}
	for {
		err := f()
		if err == nil || !errors.Is(err, engine.ErrUnavailable) {
			return err
		}
		if !wait.Wait(ctx) {
			return err
		}
	}
}

// serveHTTP serves h on ln until ctx ends, then shuts down, letting
// requests in flight finish for up to 5 s; event streams (requests that
// accept text/event-stream), which would not, are ended at once.
func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler) error {
	streams, endStreams := context.WithCancel(context.WithoutCancel(ctx))
	defer endStreams()
	inner := h
	h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
			rctx, cancel := context.WithCancel(r.Context())
			defer cancel()
			stop := context.AfterFunc(streams, cancel)
			defer stop()
			r = r.WithContext(rctx)
		}
		inner.ServeHTTP(w, r)
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	srv.RegisterOnShutdown(endStreams)
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving the HTTP API: %w", err)
	}
	return nil
}
