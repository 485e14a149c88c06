package pipeline

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"atrium.dev/platform/rpcerr"
	"connectrpc.com/connect"
)

// limitExpansion refuses a compressed RPC message that decompresses to more than the body
// limit. limitBody counts the bytes on the wire only, so without this a 255 KB gzip body
// expanding to 256 MiB went through to a service, which then inflated it in memory.
//
// Only requests that name a compression pay: the message is decompressed into a counter
// (bounded at limit+1 bytes, so the bomb is never held) and the body, already capped
// compressed, is kept and forwarded as it came. A call whose client sends one message
// (unary, server streaming) is read and checked whole before anything is forwarded; a
// client stream is checked message by message as it is forwarded, each message released
// to the upstream only once checked. An encoding the services do not know is refused here
// rather than trusted to be refused behind.
func (g *Gateway) limitExpansion(r *http.Request, c *call) error {
	limit := g.bodyLimit(c)
	if limit <= 0 {
		return nil
	}
	if r.Method == http.MethodGet {
		return checkGetMessage(r, limit)
	}
	enc, enveloped := requestCompression(r)
	if enc == "" || enc == "identity" {
		// Nothing decompresses it behind either: a compressed flag without an encoding is
		// a protocol error to the upstream.
		return nil
	}
	if enc != "gzip" {
		return connect.NewError(connect.CodeUnimplemented, fmt.Errorf("unsupported compression %q (only gzip)", enc))
	}
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	er := &expansionReader{src: r.Body, closer: r.Body, limit: limit, enveloped: enveloped}
	if c.rule.ClientStreaming {
		r.Body = er
		return nil
	}
	raw, err := io.ReadAll(er)
	if err != nil {
		if refusal := expansionRefusal(err); refusal != nil {
			return refusal
		}
		return connect.NewError(connect.CodeInvalidArgument, errors.New("cannot read the request"))
	}
	r.Body = readCloser{Reader: bytes.NewReader(raw), Closer: r.Body}
	return nil
}

// requestCompression is the request's message encoding as the upstream's Connect handler
// reads it, and whether its body is enveloped messages (5-byte prefix, flag 1: compressed).
func requestCompression(r *http.Request) (encoding string, enveloped bool) {
	ct := strings.ToLower(r.Header.Get("Content-Type"))
	switch {
	case strings.HasPrefix(ct, "application/grpc"): // gRPC and gRPC-Web
		return r.Header.Get("Grpc-Encoding"), true
	case strings.HasPrefix(ct, "application/connect+"):
		return r.Header.Get("Connect-Content-Encoding"), true
	}
	return r.Header.Get("Content-Encoding"), false
}

// checkGetMessage checks a Connect GET call, whose message is in the query.
func checkGetMessage(r *http.Request, limit int64) error {
	q := r.URL.Query()
	enc := q.Get("compression")
	if enc == "" || enc == "identity" {
		return nil
	}
	if enc != "gzip" {
		return connect.NewError(connect.CodeUnimplemented, fmt.Errorf("unsupported compression %q (only gzip)", enc))
	}
	raw := []byte(q.Get("message"))
	if q.Get("base64") == "1" {
		// Padded or not, as Connect's handler reads it.
		var err error
		if raw, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(string(raw), "=")); err != nil {
			return expansionRefusal(&malformedMessage{"the message parameter is not valid base64"})
		}
	}
	return expansionRefusal(checkGzip(raw, limit))
}

// expansionRefusal is the gateway's answer to a body over the limit, compressed or
// decompressed, or to a malformed one; nil for any other error.
func expansionRefusal(err error) error {
	var (
		te  *tooExpanded
		mbe *http.MaxBytesError
		bad *malformedMessage
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &te):
		return rpcerr.ResourceExhausted(0, "request message decompresses to more than the limit of %d bytes", te.limit).
			WithCause(&http.MaxBytesError{Limit: te.limit})
	case errors.As(err, &mbe):
		return tooLarge(mbe.Limit)
	case errors.As(err, &bad):
		return connect.NewError(connect.CodeInvalidArgument, errors.New(bad.why))
	}
	return nil
}

// expansionReader passes a body on, one checked message at a time.
type expansionReader struct {
	src       io.Reader
	closer    io.Closer
	limit     int64
	enveloped bool

	pending []byte // checked bytes not yet read
	err     error  // after pending: what the next Read returns
}

func (e *expansionReader) Read(p []byte) (int, error) {
	for len(e.pending) == 0 {
		if e.err != nil {
			return 0, e.err
		}
		e.err = e.next()
	}
	n := copy(p, e.pending)
	e.pending = e.pending[n:]
	return n, nil
}

func (e *expansionReader) Close() error { return e.closer.Close() }

// next reads and checks the next message: the whole body for Connect unary, else one
// envelope.
func (e *expansionReader) next() error {
	if !e.enveloped {
		raw, err := io.ReadAll(e.src)
		if err != nil {
			return err
		}
		if err := checkGzip(raw, e.limit); err != nil {
			return err
		}
		e.pending = raw
		return io.EOF
	}
	var hdr [5]byte
	if _, err := io.ReadFull(e.src, hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return &malformedMessage{"the request ends inside a message prefix"}
		}
		return err
	}
	size := int64(binary.BigEndian.Uint32(hdr[1:]))
	if size > e.limit {
		return &http.MaxBytesError{Limit: e.limit}
	}
	// Grown as bytes arrive, not allocated at the declared size: a prefix that promises
	// 16 MiB and sends nothing costs nothing.
	var buf bytes.Buffer
	buf.Write(hdr[:])
	n, err := buf.ReadFrom(io.LimitReader(e.src, size))
	if err != nil {
		return err
	}
	if n < size {
		return &malformedMessage{"the request ends inside a message"}
	}
	if hdr[0]&1 != 0 {
		if err := checkGzip(buf.Bytes()[5:], e.limit); err != nil {
			return err
		}
	}
	e.pending = buf.Bytes()
	return nil
}

// checkGzip decompresses b into a counter and fails once it passes limit.
func checkGzip(b []byte, limit int64) error {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return &malformedMessage{"the message is not valid gzip"}
	}
	n, err := io.Copy(io.Discard, io.LimitReader(zr, limit+1))
	if n > limit {
		return &tooExpanded{limit: limit}
	}
	if err != nil {
		return &malformedMessage{"the message is not valid gzip"}
	}
	return nil
}

// tooExpanded is a message that decompresses past the limit.
type tooExpanded struct{ limit int64 }

func (e *tooExpanded) Error() string {
	return fmt.Sprintf("message decompresses to more than %d bytes", e.limit)
}

// malformedMessage is a body no service would decode; refused as InvalidArgument.
type malformedMessage struct{ why string }

func (m *malformedMessage) Error() string { return m.why }

type readCloser struct {
	io.Reader
	io.Closer
}
