package orders_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/lameduck/lameduck/examples/plugins/orders"
	"github.com/lameduck/lameduck/lameducktest"
	"github.com/lameduck/lameduck/lifecycle"
)

// fakeMailer is the test's mail service: Send waits for release (or its
// context) and records what it sent; Ping fails while down is set.
type fakeMailer struct {
	release chan struct{}
	sending chan orders.Order // each order as its Send begins

	mu   sync.Mutex
	sent []orders.Order
	down error
}

func newFakeMailer() *fakeMailer {
	return &fakeMailer{release: make(chan struct{}), sending: make(chan orders.Order, 16)}
}

func (m *fakeMailer) Send(ctx context.Context, o orders.Order) error {
	m.sending <- o
	select {
	case <-m.release:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, o)
	return nil
}

func (m *fakeMailer) Ping(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.down
}

func (m *fakeMailer) setDown(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.down = err
}

func (m *fakeMailer) sentItems() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var items []string
	for _, o := range m.sent {
		items = append(items, o.Item)
	}
	return items
}

// withMailer replaces the module's mailer with m.
func withMailer(m orders.Mailer) fx.Option {
	return fx.Decorate(func(orders.Mailer) orders.Mailer { return m })
}

func send(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestOrderIsConfirmedInTheBackground: POST /orders answers 201 before the
// confirmation is mailed; GET shows it pending, then confirmed.
func TestOrderIsConfirmedInTheBackground(t *testing.T) {
	t.Parallel()
	m := newFakeMailer()
	app := lameducktest.Start(t, orders.Module, withMailer(m))
	if code, body := send(t, "POST", app.URL("public")+"/orders", "book"); code != http.StatusCreated || body != "order 1: book\n" {
		t.Fatalf("POST /orders: %d %q", code, body)
	}
	<-m.sending
	if code, body := send(t, "GET", app.URL("public")+"/orders/1", ""); code != 200 || body != "order 1: book (confirmation pending)\n" {
		t.Fatalf("GET /orders/1 while mailing: %d %q", code, body)
	}
	close(m.release)
	rep := app.Stop() // waits for the confirmation task
	lameducktest.RequireClean(t, rep)
	if got := m.sentItems(); len(got) != 1 || got[0] != "book" {
		t.Fatalf("mailed %v, want [book]", got)
	}
}

// TestStopWaitsForConfirmations: an order placed just before the stop still
// gets its confirmation: the stop's wait phase waits for the task, which
// finishes after the servers have shut down.
func TestStopWaitsForConfirmations(t *testing.T) {
	t.Parallel()
	m := newFakeMailer()
	app := lameducktest.Start(t, orders.Module, withMailer(m))
	if code, _ := send(t, "POST", app.URL("public")+"/orders", "lamp"); code != http.StatusCreated {
		t.Fatalf("POST /orders: %d", code)
	}
	<-m.sending
	stopped := make(chan *lifecycle.StopReport)
	go func() { stopped <- app.Stop() }()
	<-app.Stopping()
	close(m.release) // the mail service answers while the app stops
	rep := <-stopped
	lameducktest.RequireClean(t, rep)
	if got := m.sentItems(); len(got) != 1 || got[0] != "lamp" {
		t.Fatalf("mailed %v, want [lamp]", got)
	}
}

// TestConfirmationCutOffIsNamed: a confirmation that outlasts the wait
// phase is cancelled and named in the report, so the team knows which
// order to mail again.
func TestConfirmationCutOffIsNamed(t *testing.T) {
	t.Parallel()
	m := newFakeMailer() // never released: Send ends with its context
	cfg := lameducktest.Config()
	cfg.Stop.Wait = 200 * time.Millisecond
	app := lameducktest.StartWith(t, cfg, orders.Module, withMailer(m))
	if code, _ := send(t, "POST", app.URL("public")+"/orders", "kettle"); code != http.StatusCreated {
		t.Fatalf("POST /orders: %d", code)
	}
	<-m.sending
	rep := app.Stop()
	if err := lameducktest.Verify(rep); err == nil {
		t.Fatal("the report of a stop that cut a confirmation off is clean")
	}
	cut := rep.Stragglers()
	if len(cut) != 1 || cut[0].Kind != "task" || cut[0].Name != "orders.confirm/1" {
		t.Fatalf("stragglers %v, want the task orders.confirm/1", cut)
	}
}

// TestReadinessFollowsTheMailer: /readyz fails, naming the team's check,
// while the mail service is down, and passes again when it is back.
func TestReadinessFollowsTheMailer(t *testing.T) {
	t.Parallel()
	m := newFakeMailer()
	app := lameducktest.Start(t, orders.Module, withMailer(m))
	readyz := app.URL("admin") + "/readyz?verbose"
	if code, body := send(t, "GET", readyz, ""); code != 200 || !strings.Contains(body, "[+]orders.mailer ok") {
		t.Fatalf("/readyz with the mailer up: %d %q", code, body)
	}
	m.setDown(errors.New("connection refused"))
	if code, body := send(t, "GET", readyz, ""); code != http.StatusServiceUnavailable || !strings.Contains(body, "[-]orders.mailer failed") {
		t.Fatalf("/readyz with the mailer down: %d %q", code, body)
	}
	m.setDown(nil)
	if code, _ := send(t, "GET", readyz, ""); code != 200 {
		t.Fatalf("/readyz with the mailer back: %d", code)
	}
	lameducktest.RequireClean(t, app.Stop())
}

// TestRoutesCheckTheirInput: bad or unknown IDs and empty orders are
// refused with a reason.
func TestRoutesCheckTheirInput(t *testing.T) {
	t.Parallel()
	app := lameducktest.Start(t, orders.Module, withMailer(newFakeMailer()))
	for _, tc := range []struct {
		method, path, body string
		code               int
		want               string
	}{
		{"GET", "/orders/7", "", http.StatusNotFound, "no order 7"},
		{"GET", "/orders/seven", "", http.StatusBadRequest, "id: want an order number"},
		{"POST", "/orders", "", http.StatusBadRequest, "the body is the item"},
	} {
		if code, body := send(t, tc.method, app.URL("public")+tc.path, tc.body); code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("%s %s: %d %q, want %d and %q", tc.method, tc.path, code, body, tc.code, tc.want)
		}
	}
	lameducktest.RequireClean(t, app.Stop())
}
