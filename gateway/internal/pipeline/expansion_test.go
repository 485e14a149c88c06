package pipeline

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"testing"
)

func envelope(flags byte, payload []byte) []byte {
	b := append([]byte{flags}, binary.BigEndian.AppendUint32(nil, uint32(len(payload)))...)
	return append(b, payload...)
}

func gz(b []byte) []byte {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return out.Bytes()
}

// A client stream is checked as it is forwarded: the messages before a bomb go through,
// not one byte of the bomb does.
func TestExpansionReaderClientStream(t *testing.T) {
	const limit = 1 << 10
	good := append(envelope(1, gz(make([]byte, limit))), envelope(0, []byte("plain"))...)
	tests := []struct {
		name    string
		body    []byte
		wantOut []byte
		wantErr func(error) bool
	}{
		{"within the limit", good, good, nil},
		{"a bomb after good messages", append(append([]byte{}, good...), envelope(1, gz(make([]byte, limit+1)))...), good,
			func(err error) bool { var te *tooExpanded; return errors.As(err, &te) }},
		{"not gzip", envelope(1, []byte("nope")), nil,
			func(err error) bool { var bad *malformedMessage; return errors.As(err, &bad) }},
		{"prefix past the limit", envelope(0, make([]byte, limit+1)), nil,
			func(err error) bool { var mbe *http.MaxBytesError; return errors.As(err, &mbe) }},
		{"truncated", envelope(1, gz([]byte("x")))[:8], nil,
			func(err error) bool { var bad *malformedMessage; return errors.As(err, &bad) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			er := &expansionReader{src: bytes.NewReader(tt.body), closer: io.NopCloser(nil), limit: limit, enveloped: true}
			out, err := io.ReadAll(er)
			if !bytes.Equal(out, tt.wantOut) {
				t.Errorf("forwarded %d bytes, want %d", len(out), len(tt.wantOut))
			}
			if (tt.wantErr == nil) != (err == nil) || (err != nil && !tt.wantErr(err)) {
				t.Errorf("err = %v", err)
			}
		})
	}
}
