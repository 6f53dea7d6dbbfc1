package main

import (
	"io"
	"net/http"
	"testing"

	"go.uber.org/fx"
	"go.uber.org/goleak"

	"github.com/lameduck/lameduck"
	"github.com/lameduck/lameduck/lameducktest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestHello(t *testing.T) {
	app := lameducktest.Start(t, fx.Provide(lameduck.AsRoute(newHelloRoute)))
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	resp, err := client.Get(app.URL("public") + "/hello")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello\n" {
		t.Errorf("GET /hello: %q", body)
	}
	lameducktest.RequireClean(t, app.Stop()) // every phase in order, nothing cut off
}
