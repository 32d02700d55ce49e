//go:build unix

package evallimit

import (
	"os"
	"runtime"
	"syscall"
)

// limitData sets the kernel's limit of this process's data segment, which
// on Linux counts every private writable mapping: the Go heap included.
func limitData(bytes int64) error {
	return syscall.Setrlimit(syscall.RLIMIT_DATA, &syscall.Rlimit{Cur: uint64(bytes), Max: uint64(bytes)})
}

// peakRSS is the largest resident set an exited process had, in bytes,
// or 0 when the system does not say.
func peakRSS(ps *os.ProcessState) int64 {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0
	}
	if runtime.GOOS == "darwin" {
		return int64(ru.Maxrss) // bytes there, kilobytes elsewhere
	}
	return int64(ru.Maxrss) << 10
}
