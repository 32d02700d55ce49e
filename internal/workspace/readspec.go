package workspace

import (
	"fmt"
	"io"
	"io/fs"

	"github.com/dmls-project/dmls/internal/schema"
)

// ReadSpecFile reads the spec file rel of fsys, refusing, before it reads
// a byte, what is not a regular file (a FIFO would block the read for
// ever, a device could stream without end) and a file larger than a spec
// may be, by the size its FileInfo reports: for a git revision that is the
// blob's size from its object header, so a 100 MB blob is never inflated.
// Every reader of spec files (the loader, the cache's snapshot) calls it.
func ReadSpecFile(fsys fs.FS, rel string) ([]byte, error) {
	fi, err := fs.Stat(fsys, rel)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, notRegular(fi.Mode())
	}
	if fi.Size() > schema.MaxSpecBytes {
		return nil, sizeError(fi.Size())
	}
	f, err := fsys.Open(rel)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The file may have grown since the Stat: read one byte past the limit.
	b, err := io.ReadAll(io.LimitReader(f, schema.MaxSpecBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > schema.MaxSpecBytes {
		return nil, sizeError(-1)
	}
	return b, nil
}

// sizeError says that a spec file is too large; size < 0 when only a
// lower bound is known.
func sizeError(size int64) error {
	if size < 0 {
		return fmt.Errorf("file is more than %d bytes; spec files may be at most %d", schema.MaxSpecBytes, schema.MaxSpecBytes)
	}
	return fmt.Errorf("file is %d bytes; spec files may be at most %d", size, schema.MaxSpecBytes)
}

// notRegular refuses a spec file of mode m, which is not a regular file.
func notRegular(m fs.FileMode) error {
	return fmt.Errorf("is %s, not a regular file; a spec file must be a regular file", describeMode(m))
}

// describeMode names the kind of a file that is not a regular file.
func describeMode(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a folder"
	case m&fs.ModeSymlink != 0:
		return "a symlink"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeIrregular != 0:
		return "an irregular file"
	}
	return "a special file"
}
