// Package browser_test drives the web UI in a real browser: Debian's
// Chromium (installed by chromium.sh, which `make test` runs), headless,
// through the DevTools protocol (chromedp), against the API and engine on
// the embedded store, as `relay server` serves them.
package browser_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/relayflow/relay/api"
	"github.com/relayflow/relay/engine"
	"github.com/relayflow/relay/infra/blob"
	"github.com/relayflow/relay/infra/embedded"
	"github.com/relayflow/relay/internal/testnet"
	"github.com/relayflow/relay/secrets"
	"github.com/relayflow/relay/statemachine/flow"
	"github.com/relayflow/relay/storage"
	"github.com/relayflow/relay/tasks"
	"github.com/relayflow/relay/tasks/builtin"
	"github.com/relayflow/relay/ui"
)

// system is an engine on the embedded store, with the API and the UI
// served in front of it.
type system struct {
	url    string
	client *api.Client
	store  *embedded.Store
}

func start(t testing.TB, live ui.Live) *system {
	t.Helper()
	st, err := embedded.OpenStore(filepath.Join(t.TempDir(), "relay.db"))
	if err != nil {
		t.Fatal(err)
	}
	bus := embedded.NewBus()
	dir, err := blob.NewDir(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	files := storage.New(dir)
	reg, err := builtin.Registry(builtin.Config{Tasks: tasks.Config{Emitter: engine.BusEmitter{Bus: bus}}, Files: files})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := secrets.NewKeyring([]byte("the browser tests' key, 32 bytes at least"))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Config{Store: st, Bus: bus, Tasks: reg, Files: files, Secrets: keys, Workers: 8, CacheExecutions: 100}) // as relay server does
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	srv := testnet.Server(t, ui.Handler(api.Handler(api.NewService(st, bus, api.WithSecrets(keys), api.WithFiles(files)), nil), ui.Options{Live: live, LocalOnly: true}))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		bus.Close()
		eng.Wait()
		cancel()
		st.Close()
	})
	c, err := api.NewClient(srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &system{url: srv.URL, client: c, store: st}
	for _, f := range []string{"greet", "wait", "approval", "upload"} {
		s.deploy(t, "testdata/"+f+".yaml")
	}
	return s
}

func (s *system) deploy(t testing.TB, file string) engine.FlowRecord {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := s.client.DeployFlow(context.Background(), filepath.Base(file), src)
	if err != nil {
		t.Fatalf("deploying %s: %v", file, err)
	}
	return rec
}

func (s *system) start(t testing.TB, flowID string, inputs map[string]any) string {
	t.Helper()
	st, err := s.client.Start(context.Background(), "ui.test", flowID, inputs, nil)
	if err != nil {
		t.Fatal(err)
	}
	return st.ID
}

func (s *system) waitState(t testing.TB, id string, states ...string) engine.ExecutionDoc {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		doc, err := s.client.ExecutionPage(context.Background(), id, api.RunPage{Limit: 1})
		for _, st := range states {
			if err == nil && doc.State == st {
				return doc
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("execution %s: want %v, got %q (%v)", id, states, doc.State, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// chromium is the browser to drive: $RELAY_CHROMIUM, else Debian's.
func chromium() string {
	if p := os.Getenv("RELAY_CHROMIUM"); p != "" {
		return p
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	return ""
}

// page is a browser tab, and what went wrong in it.
type page struct {
	ctx    context.Context
	t      testing.TB
	mu     sync.Mutex
	errors []string
}

// newPage starts a headless Chromium with a fresh profile (talking to it
// through a pipe, so no port is opened) and returns a tab of it; it is
// closed when the test ends. Without Chromium the test is skipped, or
// fails under `make test` (RELAY_REQUIRE_SERVICES=1).
func newPage(t testing.TB) *page {
	t.Helper()
	path := chromium()
	if path == "" {
		if os.Getenv("RELAY_REQUIRE_SERVICES") == "1" {
			t.Fatal("no chromium: ui/browser/chromium.sh installs it (make test runs it)")
		}
		t.Skip("no chromium (run ui/browser/chromium.sh, or make test)")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	p := &page{t: t}
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			p.fail(fmt.Sprintf("exception at %s:%d: %s", d.URL, d.LineNumber, msg))
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, strings.TrimSpace(string(a.Value)+" "+a.Description))
				}
				p.fail("console.error: " + strings.Join(parts, " "))
			}
		}
	}))
	p.ctx = ctx
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("starting %s: %v", path, err)
	}
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	return p
}

func (p *page) fail(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.errors = append(p.errors, msg)
}

// noErrors fails the test when the page threw or logged an error.
func (p *page) noErrors() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.errors {
		p.t.Errorf("the page: %s", e)
	}
	p.errors = nil
}

// run runs actions, failing the test after 30 s.
func (p *page) run(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("%v (page errors: %v)", err, p.errors)
	}
}

func (p *page) open(url string) {
	p.t.Helper()
	p.run(chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS("#main")))
}

// contextGone: the page's JavaScript context went away under a call (a
// navigation had not quite finished); the call is made again.
func contextGone(err error) bool {
	return err != nil && strings.Contains(err.Error(), "Cannot find context with specified id")
}

// waitFor waits until the JavaScript expression is true.
func (p *page) waitFor(expr string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	ok, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(25*time.Millisecond)))
	for try := 0; contextGone(err) && try < 5; try++ {
		ok, err = chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(25*time.Millisecond)))
	}
	if err != nil || !ok {
		text, _ := chromedp.Run(p.ctx, chromedp.Evaluate[string](`document.querySelector('main') ? document.querySelector('main').innerText.slice(0, 1500) : ''`))
		p.t.Fatalf("waiting for %s: %v\nthe page says:\n%s\nerrors: %v", expr, err, text, p.errors)
	}
}

// waitText waits until the element sel holds text.
func (p *page) waitText(sel, text string) {
	p.t.Helper()
	p.waitFor(fmt.Sprintf(`(() => { const el = document.querySelector(%q); return !!el && el.textContent.includes(%q); })()`, sel, text))
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](p *page, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	for try := 0; contextGone(err) && try < 5; try++ {
		v, err = chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	}
	if err != nil {
		p.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// clickButton clicks the button whose text is text.
func (p *page) clickButton(text string) {
	p.t.Helper()
	p.run(chromedp.Click(fmt.Sprintf(`//button[normalize-space()=%q]`, text), chromedp.NodeVisible))
}

// typeInto focuses a field and types into it, as a person would.
func (p *page) typeInto(sel, text string) {
	p.t.Helper()
	p.run(chromedp.Click(chromedp.CSS(sel)), chromedp.SendKeys(chromedp.CSS(sel), text))
}

// replaceIn replaces what a field holds with text, typed.
func (p *page) replaceIn(sel, text string) {
	p.t.Helper()
	p.run(chromedp.Click(chromedp.CSS(sel)), chromedp.KeyEvent("a", chromedp.KeyModifiers(chromedp.ModifierCtrl)), chromedp.SendKeys(chromedp.CSS(sel), text))
}

// insertText puts text where the cursor is, as a paste does.
func insertText(text string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, input.InsertText, input.InsertTextParams{Text: text})
		return err
	})
}

// hold keeps the page's requests whose URL matches pattern (Chromium's
// wildcards) from reaching the server, for as long as the browser runs:
// a page whose live updates are held shows what it first read, as a page
// does whose user acts on what it showed a moment ago.
func (p *page) hold(pattern string) {
	p.t.Helper()
	p.run(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: pattern}}})
		return err
	}))
}

// choose picks an option of a select as a change by the user.
func (p *page) choose(sel, value string) {
	p.t.Helper()
	ok := eval[bool](p, fmt.Sprintf(`(() => { const el = document.querySelector(%q); if (!el) return false; el.value = %q;
		el.dispatchEvent(new Event('input', {bubbles: true})); el.dispatchEvent(new Event('change', {bubbles: true})); return true; })()`, sel, value))
	if !ok {
		p.t.Fatalf("no select %s", sel)
	}
}

// state is the state badge of the execution page.
const stateBadge = `h1 + .state`

// The whole path of a flow started from its form: the inputs are typed
// into fields generated from their declarations, a bad one is shown by its
// field, and the execution page then shows the run going from RUNNING to
// SUCCESS without a reload, its log lines on the Logs tab, and its
// outputs.
func TestUI_startFromTheFormAndWatchItFinishLive(t *testing.T) {
	for _, live := range []ui.Live{ui.LiveSSE, ui.LivePoll} {
		t.Run(string(live), func(t *testing.T) {
			s := start(t, live)
			p := newPage(t)
			p.open(s.url + "/ui/flows/ui.test/greet?tab=start")
			p.waitFor(`!!document.querySelector('#in-name')`)
			p.typeInto("#in-name", "Ada")
			p.replaceIn("#in-times", "9")
			p.choose("#in-mood", "cheerful")
			p.clickButton("Start execution")
			p.waitText("#in-times-err", "9")
			invalid := eval[string](p, `document.querySelector('#in-times').getAttribute('aria-invalid')`)
			if invalid != "true" {
				t.Errorf("the bad field is not marked invalid: aria-invalid=%q", invalid)
			}
			p.replaceIn("#in-times", "3")
			eval[chromedp.Void](p, `window.__samePage = true`)
			p.clickButton("Start execution")
			p.waitFor(`location.pathname.startsWith('/ui/executions/')`)
			id := eval[string](p, `location.pathname.split('/').pop()`)
			p.waitText(stateBadge, "RUNNING")
			p.waitText(stateBadge, "SUCCESS")
			same := eval[bool](p, `window.__samePage === true`)
			if !same {
				t.Error("the page was reloaded to show the end: it should update live")
			}
			doc := s.waitState(t, id, "SUCCESS")
			if doc.Inputs["name"] != "Ada" || doc.Inputs["mood"] != "cheerful" || fmt.Sprint(doc.Inputs["times"]) != "3" {
				t.Errorf("inputs %v, want those typed", doc.Inputs)
			}
			p.clickButton("Logs")
			p.waitText(".vlist", "Hello, Ada (cheerful)!")
			p.waitText(".vlist", "Goodbye, Ada.")
			p.typeInto("#log-search", "round")
			p.waitFor(`document.querySelectorAll('.vlist .log-row').length === 3`)
			p.clickButton("Inputs & outputs")
			p.waitText("#panel-io", `"rounds": 3`)
			p.clickButton("Topology")
			p.waitFor(`!!document.querySelector('.topology g.node.s-SUCCESS[data-task="say"]')`)
			label := eval[string](p, `document.querySelector('.topology g.node[data-task="say"]').getAttribute('aria-label')`)
			if !strings.Contains(label, "3 success") {
				t.Errorf("the ForEach child's box says %q, want its 3 runs counted", label)
			}
			p.noErrors()
		})
	}
}

// A FILE input is uploaded from the form, beside the other inputs, and
// the task reads the file.
func TestUI_startWithAFileInput(t *testing.T) {
	s := start(t, ui.LiveSSE)
	csv := filepath.Join(t.TempDir(), "orders.csv")
	if err := os.WriteFile(csv, []byte("id,total\n1,12\n2,30\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := newPage(t)
	p.open(s.url + "/ui/flows/ui.test/upload?tab=start")
	p.waitFor(`!!document.querySelector('#in-orders')`)
	p.clickButton("Start execution")
	p.waitText("#in-orders-err", "")
	p.run(chromedp.SetUploadFiles(chromedp.CSS("#in-orders"), []string{csv}))
	p.run(chromedp.Click(`//label[normalize-space()="eu"]/input`), chromedp.Click(`//label[normalize-space()="apac"]/input`))
	p.clickButton("Start execution")
	p.waitFor(`location.pathname.startsWith('/ui/executions/')`)
	p.waitText(stateBadge, "SUCCESS")
	p.clickButton("Logs")
	p.waitText(".vlist", "3 lines for eu,apac")
	p.clickButton("Inputs & outputs")
	p.waitText("#panel-io", "relay:///")
	p.noErrors()
}

// Kill stops a running execution after a confirmation, and the page shows
// it KILLED.
func TestUI_killARunningExecution(t *testing.T) {
	s := start(t, ui.LiveSSE)
	id := s.start(t, "wait", nil)
	s.waitState(t, id, "RUNNING")
	p := newPage(t)
	p.open(s.url + "/ui/executions/" + id)
	p.waitText(stateBadge, "RUNNING")
	p.clickButton("Kill")
	p.clickButton("Yes, kill it")
	p.waitText(stateBadge, "KILLED")
	s.waitState(t, id, "KILLED")
	buttons := eval[int](p, `[...document.querySelectorAll('button')].filter(b => b.textContent.trim() === 'Kill').length`)
	if buttons != 0 {
		t.Error("a KILLED execution still offers Kill")
	}
	p.noErrors()
}

// A paused execution is resumed with its pause's onResume inputs, asked
// for by a generated form.
func TestUI_resumeAPausedExecution(t *testing.T) {
	s := start(t, ui.LiveSSE)
	id := s.start(t, "approval", nil)
	s.waitState(t, id, "PAUSED")
	p := newPage(t)
	p.open(s.url + "/ui/executions/" + id)
	p.waitText(stateBadge, "PAUSED")
	p.waitFor(`!!document.querySelector('#resume-approved')`)
	p.choose("#resume-approved", "true")
	p.typeInto("#resume-reason", "looks good")
	p.clickButton("Resume")
	p.waitText(stateBadge, "SUCCESS")
	p.clickButton("Logs")
	p.waitText(".vlist", "approved=true because looks good")
	p.noErrors()
}

// The editor underlines a mistake at the line and column the validator
// gives, lists it, and deploys the corrected flow as a new revision whose
// diff with the last is one click away.
func TestUI_editorUnderlinesAMistakeAndDeploys(t *testing.T) {
	s := start(t, ui.LiveSSE)
	p := newPage(t)
	p.open(s.url + "/ui/editor?namespace=ui.test&id=wait")
	p.waitFor(`!!document.querySelector('.cm-content') && document.querySelector('#problems').textContent.includes('No problems')`)
	src := "id: wait\nnamespace: ui.test\ntasks:\n  - id: start\n    type: io.kestra.plugin.core.log.Logz\n    message: waiting\n"
	p.run(
		chromedp.Click(chromedp.CSS(".cm-content")),
		chromedp.KeyEvent("a", chromedp.KeyModifiers(chromedp.ModifierCtrl)),
		insertText(src),
	)
	p.waitFor(`!!document.querySelector('.cm-lintRange-error')`)
	marked := eval[string](p, `document.querySelector('.cm-lintRange-error').textContent`)
	if marked != "io.kestra.plugin.core.log.Logz" {
		t.Errorf("underlined %q, want the wrong type name", marked)
	}
	p.waitText("#problems", "5:11")
	p.waitText("#problems", "did you mean")
	disabled := eval[bool](p, `[...document.querySelectorAll('button')].find(b => b.textContent.trim() === 'Deploy').disabled`)
	if !disabled {
		t.Error("Deploy is enabled while the flow has problems")
	}
	// Fix it: go to the end of the bad word and delete the z.
	p.run(
		chromedp.Click(`//button[normalize-space()="5:11"]`),
		chromedp.KeyEvent(kb.End),
		chromedp.KeyEvent(kb.Backspace),
	)
	p.waitFor(`!document.querySelector('.cm-lintRange-error') && document.querySelector('#problems').textContent.includes('No problems')`)
	p.clickButton("Deploy")
	p.waitText("[role=status]", "revision 2")
	rec, err := s.client.Flow(context.Background(), "ui.test", "wait", 0)
	if err != nil || rec.Revision != 2 || !strings.Contains(string(rec.Source), "io.kestra.plugin.core.log.Log\n") || strings.Contains(string(rec.Source), "Sleep") {
		t.Errorf("deployed %d: %s (%v)", rec.Revision, rec.Source, err)
	}
	p.run(chromedp.Click(`//a[normalize-space()="See the diff"]`))
	p.waitFor(`!!document.querySelector('.cm-mergeView') && document.querySelector('.cm-mergeView').textContent.includes('Sleep')`)
	p.noErrors()
}

// Every value a user wrote (flow descriptions, labels, inputs, log
// lines, outputs, errors, trigger descriptions) reaches the pages as text:
// payloads that would run script as HTML show as they are written, and
// no element they describe exists in the page.
func TestUI_escapesUserDataEverywhere(t *testing.T) {
	s := start(t, ui.LiveSSE)
	s.deploy(t, "testdata/xss.yaml")
	label := `<script>window.__xss='start label'</script>`
	st, err := s.client.Start(context.Background(), "ui.test", "xss", map[string]any{"note": `<svg onload="window.__xss='input'">`}, []flow.Label{{Key: "who", Value: label}})
	if err != nil {
		t.Fatal(err)
	}
	s.waitState(t, st.ID, "WARNING", "SUCCESS")
	p := newPage(t)
	injected := `document.querySelectorAll('main img, main iframe, main svg[onload], main script, main a[href^="javascript"], main [onerror], main [onload]').length`
	for _, c := range []struct{ path, wait, shows string }{
		{"/ui/flows", "table", "xss"},
		{"/ui/flows/ui.test/xss", ".topology", `<img src=x onerror="window.__xss='description'">`},
		{"/ui/flows/ui.test/xss?tab=source", ".cm-content", `window.__xss='task'`},
		{"/ui/flows/ui.test/xss?tab=start", "#in-note", `"><svg onload="window.__xss='input description'">`},
		{"/ui/executions", "table", `<script>window.__xss='start label'</script>`},
		{"/ui/executions/" + st.ID, ".topology", `<script>window.__xss='label'</script>`},
		{"/ui/executions/" + st.ID + "?tab=logs", ".vlist .log-row", `<a href="javascript:window.__xss='log'">x</a>`},
		{"/ui/executions/" + st.ID + "?tab=io", "#panel-io pre", `<svg onload=\"window.__xss='input'\">`},
		{"/ui/executions/" + st.ID + "?tab=runs", ".vlist .vrow", `<img src=x onerror="window.__xss='error'">`},
		{"/ui/executions/" + st.ID + "?tab=gantt", "canvas", "Gantt"},
		{"/ui/triggers", "table", "xss"},
		{"/ui/editor?namespace=ui.test&id=xss", ".cm-content", `onerror`},
	} {
		t.Run(c.path, func(t *testing.T) {
			p.t = t
			p.open(s.url + c.path)
			p.waitFor(fmt.Sprintf(`!!document.querySelector(%q)`, c.wait))
			p.waitFor(fmt.Sprintf(`document.querySelector('main').innerText.includes(%q) || document.querySelector('main').textContent.includes(%q)`, c.shows, c.shows))
			n := eval[int](p, injected)
			ran := eval[string](p, `String(window.__xss || '')`)
			if n != 0 || ran != "" {
				t.Errorf("%s: %d injected elements, window.__xss=%v", c.path, n, ran)
			}
			p.noErrors()
		})
	}
	// A task run's outputs and its error, in its details.
	p.t = t
	p.open(s.url + "/ui/executions/" + st.ID + "?tab=runs")
	p.run(chromedp.Click(`//button[normalize-space()="out"]`, chromedp.NodeVisible))
	p.waitText(`section[aria-label="Task run out"]`, `<img src=x onerror=\"window.__xss='output'\">`)
	p.run(chromedp.Click(`//button[normalize-space()="boom"]`, chromedp.NodeVisible))
	p.waitText(`section[aria-label="Task run boom"]`, `<img src=x onerror="window.__xss='error'">`)
	if n := eval[int](p, injected); n != 0 {
		t.Errorf("a task run's details: %d injected elements", n)
	}
	// The secret input is masked: its value shows nowhere.
	for _, path := range []string{"?tab=io", "?tab=logs"} {
		p.open(s.url + "/ui/executions/" + st.ID + path)
		p.waitFor(`document.querySelectorAll('.vlist .log-row, #panel-io pre').length > 0`)
		leaked := eval[bool](p, `document.body.textContent.includes('s3cret-')`)
		if leaked {
			t.Errorf("%s shows the SECRET input's value", path)
		}
		if path == "?tab=logs" {
			p.waitText(".vlist", "and token ••••••••") // the API sends ******, the page shows its mask
		}
	}
}

// A trigger is disabled and enabled again from the triggers page, each a
// new revision of its flow.
func TestUI_disableAndEnableATrigger(t *testing.T) {
	s := start(t, ui.LiveSSE)
	p := newPage(t)
	p.open(s.url + "/ui/triggers")
	p.waitFor(`!!document.querySelector('[data-trigger="ui.test/greet/nightly"]')`)
	p.run(chromedp.Click(chromedp.CSS(`[data-trigger="ui.test/greet/nightly"] button`)))
	p.waitText("[role=status]", "revision 2")
	p.waitText(`[data-trigger="ui.test/greet/nightly"]`, "disabled")
	p.run(chromedp.Click(chromedp.CSS(`[data-trigger="ui.test/greet/nightly"] button`)))
	p.waitText("[role=status]", "revision 3")
	p.waitText(`[data-trigger="ui.test/greet/nightly"]`, "enabled")
	p.noErrors()
}

// An execution of thousands of task runs opens on its counts and first
// page; the table reads further pages as it scrolls, down to the last run.
func TestUI_bigExecutionIsReadAPageAtATime(t *testing.T) {
	s := start(t, ui.LiveSSE)
	id, total := s.bigExecution(t, 2000)
	p := newPage(t)
	p.open(s.url + "/ui/executions/" + id)
	p.waitText(".meta", strconv.Itoa(total/1000)+","+fmt.Sprintf("%03d", total%1000))
	p.waitFor(`!!document.querySelector('.topology g.node[data-task="item"]')`)
	label := eval[string](p, `document.querySelector('.topology g.node[data-task="item"]').getAttribute('aria-label')`)
	if !strings.Contains(label, fmt.Sprintf("%d,%03d success", (total-1)/1000, (total-1)%1000)) {
		t.Errorf("the ForEach child's box says %q", label)
	}
	p.clickButton("Task runs")
	p.waitFor(`document.querySelectorAll('.vlist .vrow button').length > 10`)
	rows := eval[int](p, `document.querySelectorAll('.vlist .vrow').length`)
	if rows > 100 {
		t.Errorf("%d rows in the page for %d runs: the list is not virtualised", rows, total)
	}
	eval[bool](p, `(() => { const l = document.querySelector('.vlist'); l.scrollTop = l.scrollHeight; return true })()`)
	p.waitText(".vlist", fmt.Sprintf("item[%d]", total-2))
	p.noErrors()
}

// bigExecution runs a ForEach of n-1 items: n task runs.
func (s *system) bigExecution(t testing.TB, n int) (string, int) {
	t.Helper()
	src := fmt.Sprintf(`id: big%d
namespace: ui.test
tasks:
  - id: each
    type: flow.foreach
    values: "{{ range(1, %d) }}"
    concurrencyLimit: 0
    tasks:
      - id: item
        type: output.values
        values:
          n: "{{ taskrun.value }}"
`, n, n-1)
	if _, err := s.client.DeployFlow(context.Background(), "big.yaml", []byte(src)); err != nil {
		t.Fatal(err)
	}
	st, err := s.client.Start(context.Background(), "ui.test", fmt.Sprintf("big%d", n), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		doc, err := s.client.ExecutionPage(context.Background(), st.ID, api.RunPage{Limit: 1})
		if err == nil && doc.State == "SUCCESS" {
			if doc.TaskRunCount != n {
				t.Fatalf("%d task runs, want %d", doc.TaskRunCount, n)
			}
			return st.ID, n
		}
		if err == nil && doc.EndDate != nil || time.Now().After(deadline) {
			t.Fatalf("the big execution: %s (%v)", doc.State, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// keyboard reaches the main navigation, and the tabs move with the arrow
// keys. A subflow's tasks, drawn inside its task, are labelled too.
func TestUI_keyboardAndLabels(t *testing.T) {
	s := start(t, ui.LiveSSE)
	id := s.start(t, "approval", nil)
	s.waitState(t, id, "PAUSED")
	s.deploy(t, "testdata/hub.yaml")
	hub := s.start(t, "hub", nil)
	s.waitState(t, hub, "SUCCESS")
	p := newPage(t)
	for _, path := range []string{"/ui/flows/ui.test/greet?tab=start", "/ui/executions?state=PAUSED", "/ui/executions/" + id, "/ui/editor", "/ui/triggers",
		"/ui/flows/ui.test/hub", "/ui/executions/" + hub} {
		p.open(s.url + path)
		p.waitFor(`document.querySelector('main').textContent.length > 20 && !document.querySelector('main').textContent.includes('Loading')`)
		unlabelled := eval[[]string](p, `[...document.querySelectorAll('input, select, textarea')].filter(el => {
			if (el.closest('.cm-editor')) return false;
			if (el.getAttribute('aria-label') || el.getAttribute('aria-labelledby')) return false;
			if (el.id && document.querySelector('label[for="' + el.id + '"]')) return false;
			return !el.closest('label');
		}).map(el => el.outerHTML.slice(0, 80))`)
		if len(unlabelled) > 0 {
			t.Errorf("%s: fields without a label: %v", path, unlabelled)
		}
		nameless := eval[[]string](p, `[...document.querySelectorAll('button, a[href]')].filter(el => !(el.getAttribute('aria-label') || el.textContent.trim())).map(el => el.outerHTML.slice(0, 80))`)
		if len(nameless) > 0 {
			t.Errorf("%s: buttons or links without a name: %v", path, nameless)
		}
	}
	for _, path := range []string{"/ui/flows/ui.test/hub", "/ui/executions/" + hub} {
		p.open(s.url + path)
		p.waitFor(`!!document.querySelector('.topology g.cluster.subflow[data-subflow="call"]')`)
		drawn := eval[[]string](p, `[...document.querySelectorAll('.topology g.node[data-subflow-task^="call/"]')].map(n => n.getAttribute('data-subflow-task')).sort()`)
		if want := []string{"call/branch", "call/bye", "call/each", "call/hello", "call/many", "call/nap", "call/one", "call/say"}; !slices.Equal(drawn, want) {
			t.Errorf("%s: the subflow's tasks drawn %v, want %v", path, drawn, want)
		}
		inside := eval[bool](p, `(() => {
			const g = document.querySelector('.topology g.cluster.subflow[data-subflow="call"] rect').getBBox();
			return [...document.querySelectorAll('.topology g.node[data-subflow-task^="call/"] rect')].every(r => {
				const b = r.getBBox();
				return b.x >= g.x && b.y >= g.y && b.x + b.width <= g.x + g.width && b.y + b.height <= g.y + g.height;
			});
		})()`)
		if !inside {
			t.Errorf("%s: the subflow's tasks are not drawn inside its group", path)
		}
		if got := eval[string](p, `document.querySelector('.topology g.cluster.subflow[data-subflow="call"] a').textContent`); got != "ui.test/greet · revision 1" {
			t.Errorf("%s: the subflow's group is labelled %q", path, got)
		}
		for task, note := range map[string]string{"ghost": "flow not found", "again": "flow drawn above"} {
			label := eval[string](p, `document.querySelector('.topology g.node[data-task="`+task+`"]').getAttribute('aria-label')`)
			if !strings.Contains(label, note) {
				t.Errorf("%s: %s is labelled %q, want it to say %q", path, task, label, note)
			}
		}
		if focusable := eval[int](p, `document.querySelectorAll('.topology [data-subflow-task][tabindex]').length`); focusable != 0 {
			t.Errorf("%s: %d of the subflow's tasks are tab stops, though they select nothing", path, focusable)
		}
	}
	if label := eval[string](p, `document.querySelector('.topology g.node[data-task="call"]').getAttribute('aria-label')`); !strings.Contains(label, "1 success") {
		t.Errorf("the subflow task of the execution is labelled %q, want its run counted", label)
	}
	if colored := eval[int](p, `document.querySelectorAll('.topology g.node[data-subflow-task][class*="s-"]').length`); colored != 0 {
		t.Errorf("%d of the subflow's tasks are coloured by the parent execution's runs", colored)
	}
	p.open(s.url + "/ui/executions/" + id)
	p.waitFor(`!!document.querySelector('[role=tab][aria-selected=true]')`)
	p.run(chromedp.Focus(chromedp.CSS(`[role=tab][aria-selected=true]`)), chromedp.KeyEvent(kb.ArrowRight))
	p.waitFor(`document.activeElement.getAttribute('role') === 'tab' && document.activeElement.textContent === 'Gantt' && location.search.includes('tab=gantt')`)
	p.open(s.url + "/ui/flows")
	p.run(chromedp.KeyEvent("\t"))
	skip := eval[string](p, `document.activeElement.textContent`)
	if skip != "Skip to content" {
		t.Errorf("the first Tab stop is %q, want the skip link", skip)
	}
	p.noErrors()
}
