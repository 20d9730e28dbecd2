package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/relayflow/relay/api"
	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/firing"
)

// serverCmd runs the whole system in one process on the embedded store and
// bus: engine, triggers, schedules, webhooks and the HTTP API.
func serverCmd() *cobra.Command {
	var (
		flowsDir string
		host     string
		port     int
		workers  int
	)
	cmd := &cobra.Command{
		Use:   "server [--flows DIR] [--port 8080]",
		Short: "Run Relay in one process: flows, triggers, schedules, webhooks and the HTTP API",
		Long: "Server is the whole system in one process, on the embedded store of the data directory: it runs\n" +
			"executions, schedules, flow triggers, event triggers and webhooks, and serves the HTTP API of\n" +
			"docs/api.md (the same as functions/api) and the web UI at /ui/ (docs/ui.md). With --flows it\n" +
			"deploys every flow file in DIR and deploys a new revision whenever a file changes. `relay emit`\n" +
			"sends events to it by default.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			level := slog.LevelInfo
			if v, _ := cmd.Flags().GetBool("verbose"); v {
				level = slog.LevelDebug
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			ln, err := net.Listen("tcp", fmt.Sprintf("%s:%d", host, port))
			if err != nil {
				return &exitError{code: exitInvalid, err: fmt.Errorf("cannot listen on %s:%d (choose another with --port): %w", host, port, err)}
			}
			defer ln.Close()
			sys, err := startSystem(cmd, systemOptions{workers: workers, logger: log})
			if err != nil {
				return err
			}
			defer sys.close()
			svc := api.NewService(sys.store, sys.engine, api.WithSecrets(sys.secrets), api.WithSecretLookup(sys.lookup), api.WithFiles(sys.files))
			router := firing.NewRouter(firing.RouterConfig{Store: sys.store, Bus: sys.engine, Log: log})
			runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
			defer stop()
			go func() {
				if err := sys.bus.Subscribe(runCtx, engine.TopicEvents, "router", router.Handle); err != nil && runCtx.Err() == nil && !errors.Is(err, engine.ErrBusClosed) {
					log.Error("the router stopped", slog.Any("error", err))
				}
			}()
			for sys.bus.Subscribers(engine.TopicEvents, "router") == 0 {
				time.Sleep(time.Millisecond)
			}
			if flowsDir != "" {
				w := &flowWatcher{dir: flowsDir, svc: svc, out: cmd.ErrOrStderr(), seen: map[string]fileStamp{}}
				if err := w.scan(ctx); err != nil {
					return &exitError{code: exitInvalid, err: err}
				}
				go w.watch(runCtx, time.Second)
			}
			go firing.NewScheduler(firing.SchedulerConfig{Store: sys.store, Bus: sys.engine, Log: log}).Run(runCtx, time.Second, nil)
			dir, _ := dataDir(cmd)
			forget, err := recordServer(dir, "http://"+ln.Addr().String())
			if err != nil {
				return err
			}
			defer forget()
			fmt.Fprintf(cmd.ErrOrStderr(), "relay server: http://%s (API, webhooks at /webhooks/{namespace}/{flowId}/{key}, web UI at /ui/), data in %s; Ctrl-C or SIGTERM stops, handing back running attempts\n", ln.Addr(), dir)
			return serveHTTP(ctx, ln, withUI(api.Handler(svc, log), ln))
		},
	}
	cmd.Flags().StringVar(&flowsDir, "flows", "", "deploy the flow files (*.yaml, *.yml) in this folder, and each change to them")
	cmd.Flags().StringVar(&host, "host", "127.0.0.1", "the address to listen on")
	cmd.Flags().IntVar(&port, "port", 8080, "the port to listen on")
	cmd.Flags().IntVar(&workers, "workers", 8, "task attempts run at once")
	return cmd
}

// fileStamp tells whether a flow file changed.
type fileStamp struct {
	mod  time.Time
	size int64
}

// flowWatcher deploys the flow files of a folder, and each change to them.
type flowWatcher struct {
	dir  string
	svc  *api.Service
	out  interface{ Write([]byte) (int, error) }
	seen map[string]fileStamp
	// owner is the file that defines each flow (namespace/id): a second
	// file with the same flow is refused rather than deployed over it.
	owner map[string]string
}

// scan deploys the files that are new or changed since the last scan. A
// file that does not validate is reported and retried when it changes.
func (w *flowWatcher) scan(ctx context.Context) error {
	return filepath.WalkDir(w.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("reading the flows folder: %w", err)
		}
		if d.IsDir() || !(strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		stamp := fileStamp{info.ModTime(), info.Size()}
		if w.seen[path] == stamp {
			return nil
		}
		w.seen[path] = stamp
		src, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintf(w.out, "relay server: %v\n", err)
			return nil
		}
		if f, err := engine.ParseFlow(path, src); err == nil {
			key := f.Namespace + "/" + f.ID
			if first := w.owner[key]; first != "" && first != path && fileExists(first) && w.defines(first, key) {
				fmt.Fprintf(w.out, "relay server: %s not deployed: flow %s is already defined by %s (give one of them another id or namespace)\n", path, key, first)
				return nil
			}
			if w.owner == nil {
				w.owner = map[string]string{}
			}
			w.owner[key] = path
		}
		rec, err := w.svc.DeployFlow(ctx, path, src)
		if err != nil {
			fmt.Fprintf(w.out, "relay server: %s not deployed:\n%v\n", path, err)
			return nil
		}
		fmt.Fprintf(w.out, "relay server: %s: %s/%s revision %d\n", path, rec.Namespace, rec.ID, rec.Revision)
		return nil
	})
}

// defines reports whether file still defines flow key (it may have been
// edited to another id since).
func (w *flowWatcher) defines(file, key string) bool {
	src, err := os.ReadFile(file)
	if err != nil {
		return false
	}
	f, err := engine.ParseFlow(file, src)
	return err == nil && f.Namespace+"/"+f.ID == key
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func (w *flowWatcher) watch(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := w.scan(ctx); err != nil && ctx.Err() == nil {
			fmt.Fprintf(w.out, "relay server: %v\n", err)
		}
	}
}
