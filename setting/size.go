package setting

import (
	"fmt"
	"strconv"
	"strings"
)

// ByteSize is a size in bytes. In files and environment variables it is a
// plain number of bytes ("4096") or a number with a binary or decimal unit
// ("64KiB", "1MiB", "1MB").
type ByteSize int64

// Size units.
const (
	KiB ByteSize = 1 << 10
	MiB ByteSize = 1 << 20
	GiB ByteSize = 1 << 30
)

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	// Longest suffixes first so that "KiB" is not read as "B".
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
	{"B", 1},
}

// ParseByteSize parses "4096", "64KiB", "1MiB", "1MB" and the like.
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, &SyntaxError{Value: s, Want: `bytes or a number with a unit (KiB, MiB, GiB, KB, MB, GB), such as "1MiB"`}
	}
	if n > (1<<62)/mult {
		return 0, &SyntaxError{Value: s, Want: "a size below 4EiB"}
	}
	return ByteSize(n * mult), nil
}

// SyntaxError is a value that does not parse.
type SyntaxError struct {
	Value string
	// Want says what is allowed.
	Want string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid value %q: want %s", e.Value, e.Want)
}

// String renders the size with the largest binary unit that divides it.
func (b ByteSize) String() string {
	switch {
	case b != 0 && b%GiB == 0:
		return fmt.Sprintf("%dGiB", b/GiB)
	case b != 0 && b%MiB == 0:
		return fmt.Sprintf("%dMiB", b/MiB)
	case b != 0 && b%KiB == 0:
		return fmt.Sprintf("%dKiB", b/KiB)
	}
	return strconv.FormatInt(int64(b), 10)
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (b *ByteSize) UnmarshalText(text []byte) error {
	v, err := ParseByteSize(string(text))
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (b ByteSize) MarshalText() ([]byte, error) { return []byte(b.String()), nil }
