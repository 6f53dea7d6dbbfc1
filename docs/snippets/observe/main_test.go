package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/lameduck/lameduck/httpmodule"
	"github.com/lameduck/lameduck/lameducktest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The service serves its route and its metrics, and stops clean.
func TestObserve(t *testing.T) {
	app := lameducktest.Start(t, options)
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	resp, err := client.Get(app.URL(httpmodule.AdminServer) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "lameduck_stop_phase") {
		t.Errorf("/metrics lacks lameduck_stop_phase:\n%s", body)
	}
	lameducktest.RequireClean(t, app.Stop())
}
