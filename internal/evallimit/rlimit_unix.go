//go:build unix

package evallimit

import "syscall"

// limitData sets the kernel's limit of this process's data segment, which
// on Linux counts every private writable mapping: the Go heap included.
func limitData(bytes int64) error {
	return syscall.Setrlimit(syscall.RLIMIT_DATA, &syscall.Rlimit{Cur: uint64(bytes), Max: uint64(bytes)})
}
