package config

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
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
		} else if !strings.Contains(err.Error(), "invalid size") || !strings.Contains(err.Error(), in) {
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

// ByteSize decodes in a section of its own with yaml.v3, for programs that
// decode part of a config themselves.
func TestByteSizeYAML(t *testing.T) {
	var v struct {
		A ByteSize `yaml:"a"`
		B ByteSize `yaml:"b"`
	}
	if err := yaml.Unmarshal([]byte("a: 64KiB\nb: 4096\n"), &v); err != nil || v.A != 64*KiB || v.B != 4096 {
		t.Errorf("got %+v, %v", v, err)
	}
	if err := yaml.Unmarshal([]byte("a: [1]\n"), &v); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("sequence as size: err = %v, want one naming line 1", err)
	}
	out, err := yaml.Marshal(struct {
		A ByteSize `yaml:"a"`
	}{MiB})
	if err != nil || string(out) != "a: 1MiB\n" {
		t.Errorf("Marshal = %q, %v", out, err)
	}
}
