//go:build unix

package bgwork

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time (user and system) the process has used.
// On a shared machine it varies less than the wall-clock time, which also
// counts the time other processes held the CPUs.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
