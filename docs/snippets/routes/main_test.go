package main

import (
	"context"
	"io"
	"net/http"
	"testing"

	"go.uber.org/fx"
	"go.uber.org/goleak"

	"github.com/lameduck/lameduck"
	"github.com/lameduck/lameduck/httpmodule"
	"github.com/lameduck/lameduck/lameducktest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The route answers with a token and the middleware refuses without one,
// on the port the servers were given (port 0 in a test).
func TestRoutes(t *testing.T) {
	ctx := context.Background()
	// snippet:start addr
	var servers *httpmodule.Servers
	app := fx.New(lameduck.WithConfig(lameducktest.Config()), options, fx.Populate(&servers))
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "http://"+servers.Addr("public").String()+"/orders/42", nil)
	// snippet:end addr
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	for token, want := range map[string]string{"": "a bearer token is required\n", "Bearer x": "order 42\n"} {
		req.Header.Set("Authorization", token)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != want {
			t.Errorf("token %q: %q, want %q", token, body, want)
		}
	}
	if err := app.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}
