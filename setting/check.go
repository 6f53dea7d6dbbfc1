package setting

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Problem is one bad setting.
type Problem struct {
	// Key is the setting's path in its section, as in the YAML file:
	// "total", "public.addr".
	Key string
	// Value is the bad value, as it would be written in the file.
	Value string
	// Want says what is allowed, or what to change.
	Want string
}

func (p Problem) String() string {
	if p.Value == "" {
		return fmt.Sprintf("%s: want %s", p.Key, p.Want)
	}
	return fmt.Sprintf("%s = %q: want %s", p.Key, p.Value, p.Want)
}

// Error lists every problem of a settings struct.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return "invalid settings: " + strings.Join(parts, "; ")
}

// Problems returns the problems of err if it is (or wraps) an [*Error].
func Problems(err error) ([]Problem, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.Problems, true
	}
	return nil, false
}

// Check collects problems. Its zero value is ready to use.
type Check struct {
	prefix   string
	problems *[]Problem
}

// Add records that the setting key has the bad value; want says what is
// allowed.
func (c *Check) Add(key, value, want string) {
	if c.problems == nil {
		c.problems = new([]Problem)
	}
	*c.problems = append(*c.problems, Problem{Key: c.prefix + key, Value: value, Want: want})
}

// Duration checks that d, the setting key, is from lo to hi.
func (c *Check) Duration(key string, d, lo, hi time.Duration) {
	if d < lo || d > hi {
		c.Add(key, d.String(), fmt.Sprintf("a duration from %v to %v", lo, hi))
	}
}

// Int checks that n, the setting key, is from lo to hi.
func (c *Check) Int(key string, n, lo, hi int) {
	if n < lo || n > hi {
		c.Add(key, strconv.Itoa(n), fmt.Sprintf("an integer from %d to %d", lo, hi))
	}
}

// Size checks that b, the setting key, is from lo to hi.
func (c *Check) Size(key string, b, lo, hi ByteSize) {
	if b < lo || b > hi {
		c.Add(key, b.String(), fmt.Sprintf("a size from %v to %v", lo, hi))
	}
}

// Under returns a Check that adds to c's problems with keys under prefix:
// Under("public").Add("addr", ...) records "public.addr".
func (c *Check) Under(prefix string) *Check {
	if c.problems == nil {
		c.problems = new([]Problem)
	}
	return &Check{prefix: c.prefix + prefix + ".", problems: c.problems}
}

// Err returns an [*Error] with every problem recorded, or nil.
func (c *Check) Err() error {
	if c.problems == nil || len(*c.problems) == 0 {
		return nil
	}
	return &Error{Problems: append([]Problem(nil), *c.problems...)}
}

// ValidName reports whether name can name an entry of a map of settings
// (a server, say): lower-case letters and digits, starting with a letter,
// so that every setting of it has an environment variable,
// LAMEDUCK_<SECTION>_<NAME>_<SETTING>.
func ValidName(name string) bool {
	if name == "" || name[0] < 'a' || name[0] > 'z' {
		return false
	}
	for _, r := range name {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}
