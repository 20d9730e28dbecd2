package browser_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/relayflow/relay/ui"
)

// TestScreenshots takes the screenshots of docs/ui.md when
// RELAY_UI_SCREENSHOTS names the folder to write them to (`make
// ui-screenshots`).
func TestScreenshots(t *testing.T) {
	dir := os.Getenv("RELAY_UI_SCREENSHOTS")
	if dir == "" {
		t.Skip("RELAY_UI_SCREENSHOTS is not set (make ui-screenshots sets it)")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := start(t, ui.LiveSSE)
	s.deploy(t, "testdata/etl.yaml")
	s.deploy(t, "../../examples/flows/hello.yaml")
	etl := s.startIn(t, "ui.demo", "nightly_etl")
	s.waitState(t, etl, "WARNING")
	greet := s.start(t, "greet", map[string]any{"name": "Ada", "times": 3})
	s.waitState(t, greet, "SUCCESS")
	paused := s.start(t, "approval", nil)
	s.waitState(t, paused, "PAUSED")
	running := s.start(t, "wait", nil)
	s.waitState(t, running, "RUNNING")
	big, _ := s.bigExecution(t, 2000)
	s.deploy(t, "testdata/hub.yaml")
	s.deploy(t, "testdata/crash.yaml")
	s.deploy(t, "testdata/again.yaml")
	s.waitState(t, s.start(t, "crash", nil), "FAILED")
	crashed := s.start(t, "crash", nil) // its lookup comes from the task cache
	s.waitState(t, crashed, "FAILED")
	s.waitState(t, s.start(t, "again", nil), "RETRYING")

	p := newPage(t)
	shot := func(name, url, ready string, then ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		p.open(s.url + url)
		p.waitFor(ready)
		if len(then) > 0 {
			p.run(then...)
		}
		p.waitFor(`document.fonts.status === 'loaded'`)
		ctx, cancel := context.WithTimeout(p.ctx, 30e9)
		defer cancel()
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	light := func() { eval[chromedp.Void](p, `localStorage.setItem('relay-theme', 'light')`) }
	p.open(s.url + "/ui/")
	light()
	shot("flows", "/ui/flows", `!!document.querySelector('table') && !document.querySelector('main').textContent.includes('…')`)
	shot("flow", "/ui/flows/ui.demo/nightly_etl", `!!document.querySelector('.topology svg')`)
	shot("subflow", "/ui/flows/ui.test/hub", `!!document.querySelector('.topology g.cluster.subflow')`)
	shot("start", "/ui/flows/ui.test/greet?tab=start", `!!document.querySelector('#in-name')`)
	shot("executions", "/ui/executions", `document.querySelectorAll('tbody tr').length >= 5`)
	shot("execution", "/ui/executions/"+etl, `!!document.querySelector('.topology svg')`,
		chromedp.Click(chromedp.CSS(`.topology g.node[data-task="flaky_source"]`)))
	shot("gantt", "/ui/executions/"+etl+"?tab=gantt", `!!document.querySelector('canvas') && document.querySelector('canvas').width > 0`)
	shot("logs", "/ui/executions/"+greet+"?tab=logs", `document.querySelectorAll('.log-row').length > 3 && !document.querySelector('main').textContent.includes(', live')`)
	shot("runs-big", "/ui/executions/"+big+"?tab=runs", `document.querySelectorAll('.vlist .vrow button').length > 10`)
	shot("topology-big", "/ui/executions/"+big, `!!document.querySelector('.topology svg')`)
	shot("resume", "/ui/executions/"+paused, `!!document.querySelector('#resume-approved')`)
	shot("restart", "/ui/executions/"+crashed, `!!document.querySelector('.topology g.node.s-CRASHED') && !!document.querySelector('#replay-from')`,
		chromedp.Click(`//button[normalize-space()="Restart"]`, chromedp.NodeVisible),
		chromedp.Click(chromedp.CSS(`.topology g.node[data-task="oom"]`)))
	shot("crashed", "/ui/executions/"+crashed+"?tab=runs", `document.querySelectorAll('.vlist .vrow button').length === 2`,
		chromedp.Click(`//button[normalize-space()="oom"]`, chromedp.NodeVisible),
		waitJS(`!!document.querySelector('section[aria-label="Task run oom"]')`),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#panel-runs').scrollIntoView()`))
	shot("triggers", "/ui/triggers", `!!document.querySelector('table')`)
	shot("editor", "/ui/editor?namespace=ui.test&id=greet", `!!document.querySelector('.cm-content') && document.querySelector('#problems').textContent.includes('No problems')`,
		clickLineEnd("core.log.Log"),
		chromedp.KeyEvent(kb.End),
		chromedp.KeyEvent("z"),
		waitJS(`!!document.querySelector('.cm-lintRange-error') && !!document.querySelector('#problems li')`))
	s.deploy(t, "testdata/greet-v2.yaml")
	shot("diff", "/ui/flows/ui.test/greet?tab=revisions", `!!document.querySelector('.cm-mergeView .cm-changedLine')`)
	eval[chromedp.Void](p, `localStorage.setItem('relay-theme', 'dark')`)
	shot("execution-dark", "/ui/executions/"+etl+"?tab=gantt", `!!document.querySelector('canvas') && document.querySelector('canvas').width > 0`)
	shot("editor-dark", "/ui/editor?namespace=ui.demo&id=nightly_etl", `!!document.querySelector('.cm-content') && document.querySelector('#problems').textContent.includes('No problems')`)
	light()
	p.noErrors()
}

// clickLineEnd clicks at the end of the first editor line holding text.
func clickLineEnd(text string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		xy, err := chromedp.Evaluate[[]float64](fmt.Sprintf(`(() => { const l = [...document.querySelectorAll('.cm-line')].find(l => l.textContent.includes(%q));
			const r = l.getBoundingClientRect(); return [r.right - 4, r.top + r.height / 2]; })()`, text))(ctx, t)
		if err != nil {
			return err
		}
		_, err = chromedp.MouseClickXY(xy[0], xy[1])(ctx, t)
		return err
	})
}

// waitJS is an action that waits until a JavaScript expression is true.
func waitJS(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Poll[bool](expr)(ctx, t)
		return err
	})
}

func (s *system) startIn(t testing.TB, namespace, flowID string) string {
	t.Helper()
	st, err := s.client.Start(context.Background(), namespace, flowID, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return st.ID
}
