package bundle

import (
	"bytes"
	"fmt"
	"strconv"
)

// Format is the container format of a bundle, the three CodeDeploy accepts.
type Format int

// The formats; FormatUnknown is the zero value, for bytes that are none of the others.
const (
	FormatUnknown Format = iota
	FormatZip
	FormatTar
	FormatTgz
)

func (f Format) String() string {
	switch f {
	case FormatZip:
		return "zip"
	case FormatTar:
		return "tar"
	case FormatTgz:
		return "tgz"
	}
	return "unknown"
}

// ParseFormat reads a format name as written in configuration or on a command line. "tar.gz" is
// accepted for tgz because that is what people type.
func ParseFormat(s string) (Format, error) {
	switch s {
	case "zip":
		return FormatZip, nil
	case "tar":
		return FormatTar, nil
	case "tgz", "tar.gz":
		return FormatTgz, nil
	}
	return FormatUnknown, fmt.Errorf("unknown bundle format %q (want zip, tar or tgz): %w", s, ErrUnsupportedFormat)
}

// detectLen is how many leading bytes Detect needs to recognise every format: one tar header block.
const detectLen = 512

// Detect names the format of an archive from its first bytes (up to 512 are used); the file name
// is never trusted, since uploads and S3 keys carry whatever name the user chose. A gzip stream is
// taken to be a tgz: whether it really holds a tar shows when it is read.
func Detect(head []byte) Format {
	switch {
	case bytes.HasPrefix(head, []byte("PK\x03\x04")), bytes.HasPrefix(head, []byte("PK\x05\x06")):
		return FormatZip
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return FormatTgz
	case isTarHeader(head):
		return FormatTar
	}
	return FormatUnknown
}

// isTarHeader accepts a POSIX or GNU magic, or else a valid header checksum, because pre-POSIX
// (v7) tar writers put no magic in the header at all.
func isTarHeader(b []byte) bool {
	if len(b) < detectLen {
		return false
	}
	if bytes.Equal(b[257:262], []byte("ustar")) {
		return true
	}
	field := bytes.TrimRight(bytes.TrimLeft(b[148:156], " "), " \x00")
	want, err := strconv.ParseInt(string(field), 8, 64)
	if err != nil || len(field) == 0 {
		return false
	}
	var sum int64
	for i, c := range b[:detectLen] {
		if i >= 148 && i < 156 {
			c = ' '
		}
		sum += int64(c)
	}
	// An all-zero block has a checksum of 256 spaces' worth and is not a header.
	return sum == want && b[0] != 0
}
