package outdir

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Manifest is the file, beside the Marker, that lists what dmls wrote in
// an output folder: each file's path, SHA-256, size, inode and
// modification time. A later write takes the files it lists that still
// hold what it recorded (Stream.Keep, adopt) without reading them.
const Manifest = ".dmls-manifest"

// manifestHead is the manifest's first line; the format's version is part
// of it. Its last line is "crc32c <hex>", the CRC-32C of what precedes:
// a short, long or altered manifest is ignored, never trusted.
const manifestHead = "dmls output manifest v1\n"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// record is what a manifest says of one file.
type record struct {
	sum   [sha256.Size]byte
	size  int64
	ino   uint64
	mtime int64 // nanoseconds since the epoch
}

// manifest maps the paths of an output folder to their records.
type manifest map[string]record

// recordOf is the record of the file st describes, with digest sum, if it
// is a plain file with the mode Add gives and links names.
func recordOf(st *unix.Stat_t, sum [sha256.Size]byte, links uint64) (record, bool) {
	if uint32(st.Mode)&unix.S_IFMT != unix.S_IFREG || uint32(st.Mode)&0o7777 != 0o644 || uint64(st.Nlink) != links {
		return record{}, false
	}
	return record{sum: sum, size: st.Size, ino: uint64(st.Ino), mtime: st.Mtim.Nano()}, true
}

// encode writes m, a line per file sorted by path: "<sha256> <size>
// <inode> <mtime> <path>". A path with a newline is left out (the
// manifest then vouches for nothing under that name).
func (m manifest) encode() []byte {
	var b bytes.Buffer
	b.WriteString(manifestHead)
	for _, p := range slices.Sorted(maps.Keys(m)) {
		if strings.Contains(p, "\n") {
			continue
		}
		r := m[p]
		fmt.Fprintf(&b, "%x %d %d %d %s\n", r.sum, r.size, r.ino, r.mtime, p)
	}
	fmt.Fprintf(&b, "crc32c %08x\n", crc32.Checksum(b.Bytes(), castagnoli))
	return b.Bytes()
}

// maxManifestBytes bounds the manifest read: an output folder is the
// user's, and a larger file there is no manifest (the old files are then
// read and compared). A line is about 150 bytes: this is some 400,000
// files.
var maxManifestBytes int64 = 64 << 20

// readManifest reads the manifest name of root and returns it with its
// modification time, or nil if there is none or it is not sound.
func readManifest(root *os.Root, name string) (manifest, int64) {
	f, err := root.Open(name)
	if err != nil {
		return nil, 0
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Size() > maxManifestBytes {
		return nil, 0
	}
	b, err := io.ReadAll(io.LimitReader(f, maxManifestBytes+1))
	if err != nil || int64(len(b)) > maxManifestBytes {
		return nil, 0
	}
	m, err := parseManifest(b)
	if err != nil {
		return nil, 0
	}
	return m, st.ModTime().UnixNano()
}

// parseManifest checks and decodes what encode wrote.
func parseManifest(b []byte) (manifest, error) {
	body, tail, ok := cutLastLine(b)
	if !ok || !bytes.HasPrefix(body, []byte(manifestHead)) {
		return nil, fmt.Errorf("no manifest")
	}
	sum, ok := strings.CutPrefix(tail, "crc32c ")
	if n, err := strconv.ParseUint(sum, 16, 32); !ok || err != nil || len(sum) != 8 || uint32(n) != crc32.Checksum(body, castagnoli) {
		return nil, fmt.Errorf("manifest checksum mismatch")
	}
	m := manifest{}
	for line := range strings.Lines(string(body[len(manifestHead):])) {
		f := strings.SplitN(strings.TrimSuffix(line, "\n"), " ", 5)
		if len(f) != 5 {
			return nil, fmt.Errorf("bad manifest line %q", line)
		}
		var r record
		d, err := hex.DecodeString(f[0])
		if err != nil || len(d) != sha256.Size {
			return nil, fmt.Errorf("bad digest in %q", line)
		}
		copy(r.sum[:], d)
		r.size, err = strconv.ParseInt(f[1], 10, 64)
		if err == nil {
			r.ino, err = strconv.ParseUint(f[2], 10, 64)
		}
		if err == nil {
			r.mtime, err = strconv.ParseInt(f[3], 10, 64)
		}
		if err != nil || checkName(f[4]) != nil {
			return nil, fmt.Errorf("bad manifest line %q", line)
		}
		m[f[4]] = r
	}
	return m, nil
}

// cutLastLine splits b, which must end with a newline, before its last
// line, and returns that line without the newline.
func cutLastLine(b []byte) ([]byte, string, bool) {
	if len(b) == 0 || b[len(b)-1] != '\n' {
		return nil, "", false
	}
	i := bytes.LastIndexByte(b[:len(b)-1], '\n')
	if i < 0 {
		return nil, "", false
	}
	return b[:i+1], string(b[i+1 : len(b)-1]), true
}
