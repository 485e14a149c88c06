package pipeline

import (
	"bytes"
	"io"
	"net/http"
)

// responseRecorder sees what goes back to the client: the status, the bytes, and the start of
// an error body (a Connect unary error names its code in JSON there).
type responseRecorder struct {
	http.ResponseWriter
	status  int
	bytes   int64
	errHead bytes.Buffer
}

const errHeadMax = 1024

func (w *responseRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseRecorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.status >= 400 && w.errHead.Len() < errHeadMax {
		w.errHead.Write(p[:min(len(p), errHeadMax-w.errHead.Len())])
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Flush lets the proxy push streamed messages through at once.
func (w *responseRecorder) Flush() {
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *responseRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// countingBody counts the request bytes read.
type countingBody struct {
	io.ReadCloser
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}
