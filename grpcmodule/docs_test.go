package grpcmodule_test

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/lameduck/lameduck/grpcmodule"
)

// TestDocsListEverySetting keeps the settings table of docs/grpcmodule.md
// complete: every key of ServerSettings appears in it, in backquotes.
func TestDocsListEverySetting(t *testing.T) {
	doc, err := os.ReadFile("../docs/grpcmodule.md")
	if err != nil {
		t.Fatal(err)
	}
	typ := reflect.TypeFor[grpcmodule.ServerSettings]()
	for i := range typ.NumField() {
		key := typ.Field(i).Tag.Get("yaml")
		if key == "" || !strings.Contains(string(doc), "`"+key+"`") {
			t.Errorf("docs/grpcmodule.md does not list the setting %q (ServerSettings.%s) in its configuration table", key, typ.Field(i).Name)
		}
	}
}
