package bundle

import (
	"archive/tar"
	"errors"
	"strings"
	"testing"
)

func TestDetect(t *testing.T) {
	v7 := makeTar(t, tarFile{Header: tar.Header{Name: "f"}, Body: "x"})
	copy(v7[257:265], make([]byte, 8)) // drop the magic: a pre-POSIX header
	setTarSize(t, v7[:512], 1)         // recompute the checksum without the magic
	tests := []struct {
		name string
		head []byte
		want Format
	}{
		{"zip", makeZip(t, zipFile{Name: "a", Body: "x"}), FormatZip},
		{"empty zip", makeZip(t), FormatZip},
		{"tar", makeTar(t, tarFile{Body: "x"}), FormatTar},
		{"v7 tar without magic", v7, FormatTar},
		{"tgz", makeTgz(t, tarFile{Body: "x"}), FormatTgz},
		{"empty", nil, FormatUnknown},
		{"text", []byte(strings.Repeat("version: 0.0\n", 100)), FormatUnknown},
		{"zero block", make([]byte, 1024), FormatUnknown},
		{"short tar", makeTar(t, tarFile{Body: "x"})[:300], FormatUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Detect(tt.head); got != tt.want {
				t.Errorf("Detect = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseFormat(t *testing.T) {
	tests := []struct {
		in         string
		want       Format
		wantString string
		wantErr    bool
	}{
		{"zip", FormatZip, "zip", false},
		{"tar", FormatTar, "tar", false},
		{"tgz", FormatTgz, "tgz", false},
		{"tar.gz", FormatTgz, "tgz", false},
		{"rar", FormatUnknown, "unknown", true},
		{"", FormatUnknown, "unknown", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseFormat(tt.in)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("ParseFormat(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrUnsupportedFormat) {
				t.Errorf("error %v is not ErrUnsupportedFormat", err)
			}
			if got.String() != tt.wantString {
				t.Errorf("String() = %q, want %q", got.String(), tt.wantString)
			}
		})
	}
}
