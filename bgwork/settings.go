package bgwork

import (
	"fmt"
	"time"

	"github.com/lameduck/lameduck/setting"
)

// WhenFull says what the pool does with a submission while it is full.
type WhenFull string

// What a full pool does.
const (
	// Wait blocks the submitter until there is room or its context ends.
	Wait WhenFull = "wait"
	// Fail returns [ErrFull] at once.
	Fail WhenFull = "fail"
)

// Settings configure a [Pool]. In the configuration file they are the
// section "tasks".
type Settings struct {
	// MaxRunning caps the tasks running at once. Zero means no cap.
	MaxRunning int `yaml:"maxRunning"`
	// Queue is how many submitted tasks may wait, in order of submission,
	// for one of the MaxRunning slots; zero means none. A queued task holds
	// its record and what its function and the caller's context keep alive.
	// Ignored when MaxRunning is zero.
	Queue int `yaml:"queue"`
	// WhenFull is what a submission does when the pool is full (MaxRunning
	// tasks are running and Queue tasks are queued): "wait" (respecting the
	// submitter's context) or "fail".
	WhenFull WhenFull `yaml:"whenFull"`
	// TaskTimeout cancels a task's context after this long. Zero means no
	// timeout of its own; the pool still cancels it at the wait phase's
	// deadline.
	TaskTimeout time.Duration `yaml:"taskTimeout"`
}

// DefaultSettings returns a pool of 1,000 running tasks with a queue of
// 10,000 whose submitters wait when it is full. environ is unused.
func DefaultSettings(environ []string) Settings {
	return Settings{MaxRunning: 1000, Queue: 10_000, WhenFull: Wait}
}

// Validate checks every setting. An empty WhenFull means Wait.
func (s Settings) Validate() error {
	var c setting.Check
	c.Int("maxRunning", s.MaxRunning, 0, 1<<24)
	c.Int("queue", s.Queue, 0, 1<<24)
	if s.WhenFull != "" && s.WhenFull != Wait && s.WhenFull != Fail {
		c.Add("whenFull", string(s.WhenFull), fmt.Sprintf("%q or %q", Wait, Fail))
	}
	c.Duration("taskTimeout", s.TaskTimeout, 0, 24*time.Hour)
	return c.Err()
}
