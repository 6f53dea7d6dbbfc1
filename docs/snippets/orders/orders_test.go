package orders

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/fx"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/lameduck/lameduck/lameducktest"
	"github.com/lameduck/lameduck/lifecycle"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// An order accepted just before the stop is audited before the app stops.
func TestOrderAuditedBeforeTheStop(t *testing.T) {
	var audit *AuditLog
	app := lameducktest.Start(t, Module, fx.Populate(&audit))
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	resp, err := client.Post(app.URL("public")+"/orders", "application/json", strings.NewReader(`{"id":"o-1"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /orders: %d", resp.StatusCode)
	}
	lameducktest.RequireClean(t, app.Stop())
	if o := <-audit.written; o.ID != "o-1" {
		t.Errorf("audited %+v", o)
	}
}

func TestPoolWithoutFx(t *testing.T) {
	c := lifecycle.New(lifecycle.DefaultSettings(nil))
	pool, err := newPool(zap.NewNop(), c)
	if err != nil {
		t.Fatal(err)
	}
	if err := pool.Go(context.Background(), "noop", func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if rep, err := c.Stop(context.Background()); err != nil || !rep.Clean() {
		t.Fatalf("stop: %v\n%s", err, rep)
	}
}
