package setting

import (
	"strings"
	"testing"
)

func TestParseByteSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ByteSize
	}{
		{"0", 0},
		{"4096", 4096},
		{"512B", 512},
		{"64KiB", 64 * KiB},
		{"64 KiB", 64 * KiB},
		{" 1MiB ", MiB},
		{"2GiB", 2 * GiB},
		{"1KB", 1000},
		{"1MB", 1000 * 1000},
		{"3GB", 3 * 1000 * 1000 * 1000},
	} {
		got, err := ParseByteSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "MiB", "1.5MiB", "-1", "-1KiB", "1 TiB", "1kib", "0x10", "1e6", "1MiB1", "99999999999GiB", "9223372036854775807"} {
		if got, err := ParseByteSize(in); err == nil {
			t.Errorf("ParseByteSize(%q) = %d, want an error", in, got)
		} else if !strings.Contains(err.Error(), "invalid value") || !strings.Contains(err.Error(), in) {
			t.Errorf("ParseByteSize(%q): error %q does not name the value", in, err)
		}
	}
}

func TestByteSizeString(t *testing.T) {
	for _, tc := range []struct {
		in   ByteSize
		want string
	}{
		{0, "0"}, {1, "1"}, {1000, "1000"}, {KiB, "1KiB"}, {1536, "1536"}, {64 * KiB, "64KiB"},
		{MiB, "1MiB"}, {3 * GiB, "3GiB"}, {1024 * GiB, "1024GiB"}, {-KiB, "-1KiB"},
	} {
		if got := tc.in.String(); got != tc.want {
			t.Errorf("ByteSize(%d).String() = %q, want %q", int64(tc.in), got, tc.want)
		}
		if tc.in < 0 {
			continue
		}
		back, err := ParseByteSize(tc.in.String())
		if err != nil || back != tc.in {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d back", tc.in.String(), back, err, tc.in)
		}
	}
}

// A Check collects every problem, with keys under their prefix.
func TestCheckCollectsEveryProblem(t *testing.T) {
	var c Check
	if c.Err() != nil {
		t.Fatal("an empty Check has an error")
	}
	c.Int("workers", 0, 1, 8)
	c.Under("public").Add("addr", "8080", `a TCP address "host:port"`)
	c.Size("limit", 0, 1, MiB)
	probs, ok := Problems(c.Err())
	want := []string{`workers = "0": want an integer from 1 to 8`, `public.addr = "8080": want a TCP address "host:port"`,
		`limit = "0": want a size from 1 to 1MiB`}
	if !ok || len(probs) != len(want) {
		t.Fatalf("problems %v", probs)
	}
	for i, p := range probs {
		if p.String() != want[i] {
			t.Errorf("problem %d: %s, want %s", i, p, want[i])
		}
	}
}
