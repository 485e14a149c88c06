package e2e

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"atrium.dev/gen/atrium/catalog/v1/catalogv1connect"
	"atrium.dev/gen/atrium/entitlements/v1/entitlementsv1connect"
	"atrium.dev/gen/atrium/insights/v1/insightsv1connect"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
)

// testReadLimits sends gzip bodies straight to each service (not through the gateway, which
// refuses them first): a message that decompresses to just under the service's read limit is
// read (and refused later, for want of an internal token), one a byte over it and a 256 MiB
// bomb are refused as ResourceExhausted before any handler runs.
func testReadLimits(t *testing.T, e *env) {
	services := []readLimited{
		{"tenancy", e.st.TenancyURL, tenancyv1connect.TenantServiceGetTenantProcedure, 1 << 20},
		{"catalog", e.st.CatalogURL, catalogv1connect.CatalogServiceApplyEntitiesProcedure, 16 << 20},
		{"entitlements", e.st.EntitlementsURL, entitlementsv1connect.PluginServiceListPluginsProcedure, 1 << 20},
		{"insights", e.st.InsightsURL, insightsv1connect.InsightsServiceTrackProcedure, 1 << 20},
	}
	for _, s := range services {
		t.Run(s.name, func(t *testing.T) { s.check(t, e) })
	}
}

// readLimited is one service's procedure and the read limit its handlers have.
type readLimited struct {
	name, url, procedure string
	limit                int
}

func (s readLimited) check(t *testing.T, e *env) {
	t.Helper()
	for _, tt := range []struct {
		name      string
		body      []byte
		exhausted bool
	}{
		{"just under", gzipped(t, unknownField(s.limit)), false},
		{"one byte over", gzipped(t, unknownField(s.limit+1)), true},
		{"256 MiB bomb", gzipBomb(), true},
	} {
		req, _ := http.NewRequest(http.MethodPost, s.url+s.procedure, bytes.NewReader(tt.body))
		req.Header.Set("Content-Type", "application/proto")
		req.Header.Set("Content-Encoding", "gzip")
		res, err := e.st.HTTPClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Code, Message string }
		_ = json.NewDecoder(res.Body).Decode(&body)
		_ = res.Body.Close()
		exhausted := body.Code == "resource_exhausted" && strings.Contains(body.Message, "larger than configured max")
		if exhausted != tt.exhausted || body.Code == "" {
			t.Errorf("%s: %s: status %d, %+v; want exhausted %v", s.name, tt.name, res.StatusCode, body, tt.exhausted)
		}
	}
}

// unknownField is a message of exactly n bytes: one length-delimited field no message has
// (number 2047), which a handler reads and keeps as unknown.
func unknownField(n int) []byte {
	tag := binary.AppendUvarint(nil, 2047<<3|2)
	for l := n - len(tag) - 1; l > 0; l-- {
		b := binary.AppendUvarint(append([]byte{}, tag...), uint64(l))
		if len(b)+l == n {
			return append(b, make([]byte, l)...)
		}
	}
	panic("no such message")
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// gzipBomb is about 255 KB of gzip expanding to 256 MiB: 256 members of 1 MiB of zeros,
// which Go's gzip reader reads as one stream.
func gzipBomb() []byte {
	var member bytes.Buffer
	zw := gzip.NewWriter(&member)
	_, _ = zw.Write(make([]byte, 1<<20))
	_ = zw.Close()
	return bytes.Repeat(member.Bytes(), 256)
}
