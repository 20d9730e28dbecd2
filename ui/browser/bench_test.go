package browser_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/relayflow/relay/ui"
)

// BenchmarkUI_openExecution measures how long an execution's page takes
// to open in Chromium, from navigation (browser cache off, so the scripts
// are fetched too) to: the topology drawn and coloured from the counts by
// task (topology), and the first rows of the task-run table (runs). The
// execution is a ForEach of n-1 items: n task runs, as run by the engine.
//
//	go test -run '^$' -bench BenchmarkUI -benchtime 10x ./ui/browser/
func BenchmarkUI_openExecution(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("runs=%d", n), func(b *testing.B) {
			s := start(b, ui.LiveSSE)
			id, _ := s.bigExecution(b, n)
			p := newPage(b)
			if _, err := chromedp.Run(p.ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
				_, err := chromedp.Call(ctx, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: true})
				return err
			})); err != nil {
				b.Fatal(err)
			}
			for _, view := range []struct{ name, query, ready string }{
				{"topology", "", fmt.Sprintf(`(() => { const n = document.querySelector('.topology g.node[data-task="item"]'); return !!n && n.getAttribute('aria-label').includes('%s success'); })()`, commas(n-1))},
				{"runs", "?tab=runs", `document.querySelectorAll('.vlist .vrow button').length >= 10`},
			} {
				b.Run(view.name, func(b *testing.B) {
					var total time.Duration
					for b.Loop() {
						p.run(chromedp.Navigate("about:blank"))
						t0 := time.Now()
						p.run(chromedp.Navigate(s.url + "/ui/executions/" + id + view.query))
						p.waitFor(view.ready)
						total += time.Since(t0)
					}
					b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/open")
				})
			}
			p.noErrors()
		})
	}
}

func commas(n int) string {
	if n < 1000 {
		return fmt.Sprint(n)
	}
	return commas(n/1000) + fmt.Sprintf(",%03d", n%1000)
}
