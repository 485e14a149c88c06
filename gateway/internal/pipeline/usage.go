package pipeline

import (
	"encoding/json"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"atrium.dev/gateway/internal/usage"
	"atrium.dev/platform/authn"
	"connectrpc.com/connect"
)

// finish ends the call's span and records its duration and usage event.
func (g *Gateway) finish(c *call) {
	status := c.resp.status
	if status == 0 {
		status = http.StatusOK
	}
	code := c.code
	if code == "" {
		code = g.outcome(c, status)
	}
	d := time.Since(c.start)
	g.obs.end(c, status, code, d)
	user, kind := userOf(&c.identity)
	g.cfg.Usage.Record(usage.Event{
		Time:       c.start,
		TenantID:   c.identity.TenantID,
		Shard:      c.identity.Shard,
		User:       user,
		UserKind:   kind,
		Plugin:     pluginOf(c),
		Procedure:  c.procedure,
		Code:       code,
		HTTPStatus: status,
		Duration:   d,
		BytesIn:    c.body.n,
		BytesOut:   c.resp.bytes,
		RequestID:  c.requestID,
	})
}

// userOf names who made the call for Insights: an API token counts apart from its user, so
// machines do not inflate active users.
func userOf(id *authn.Identity) (user, kind string) {
	switch {
	case id.TokenID != "":
		return id.TokenID, usage.KindAPIToken
	case id.UserID != "":
		return id.UserID, usage.KindUser
	case id.OperatorID != "":
		return id.OperatorID, usage.KindOperator
	}
	return "", usage.KindAnonymous
}

// pluginOf is the method's plugin when it has one, else the API's package ("catalog" for
// atrium.catalog.v1 and the catalog REST API), so plugin adoption covers free plugins too.
func pluginOf(c *call) string {
	if c.rule.Plugin != "" {
		return c.rule.Plugin
	}
	p := c.procedure
	if c.rest {
		// "GET /api/catalog/entities" -> "catalog"
		if _, path, ok := strings.Cut(p, " /api/"); ok {
			name, _, _ := strings.Cut(path, "/")
			return name
		}
		return ""
	}
	if rest, ok := strings.CutPrefix(p, "/atrium."); ok {
		name, _, _ := strings.Cut(rest, ".")
		return name
	}
	return ""
}

// outcome works out the Connect code of a proxied response. gRPC carries it in grpc-status
// (a trailer, or a header for trailers-only errors); a Connect unary error in its JSON body.
// Connect and gRPC-Web streams end with it inside the body, which the gateway does not parse:
// for those a 200 counts as "ok".
func (g *Gateway) outcome(c *call, status int) string {
	if c.rest {
		return codeOfHTTP(status)
	}
	h := c.resp.Header()
	if s := h.Get("Grpc-Status"); s != "" {
		return grpcCode(s)
	}
	if s := h.Get(http.TrailerPrefix + "Grpc-Status"); s != "" {
		return grpcCode(s)
	}
	if status == http.StatusOK {
		return "ok"
	}
	ct, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	if ct == "application/json" {
		var body struct {
			Code string `json:"code"`
		}
		if json.Unmarshal(c.resp.errHead.Bytes(), &body) == nil && body.Code != "" {
			return body.Code
		}
	}
	return codeOfHTTP(status)
}

func grpcCode(s string) string {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32)
	if err != nil {
		return "unknown"
	}
	return codeString(connect.Code(n))
}

func codeString(c connect.Code) string {
	if c == 0 {
		return "ok"
	}
	return c.String()
}

// codeOfHTTP names the outcome of a plain HTTP status.
func codeOfHTTP(status int) string {
	switch {
	case status < 400:
		return "ok"
	case status == http.StatusBadRequest:
		return "invalid_argument"
	case status == http.StatusUnauthorized:
		return "unauthenticated"
	case status == http.StatusForbidden:
		return "permission_denied"
	case status == http.StatusNotFound:
		return "not_found"
	case status == http.StatusConflict:
		return "already_exists"
	case status == http.StatusRequestEntityTooLarge, status == http.StatusTooManyRequests:
		return "resource_exhausted"
	case status == 499:
		return "canceled"
	case status == http.StatusNotImplemented:
		return "unimplemented"
	case status == http.StatusServiceUnavailable, status == http.StatusBadGateway:
		return "unavailable"
	case status == http.StatusGatewayTimeout:
		return "deadline_exceeded"
	case status < 500:
		return "invalid_argument"
	}
	return "internal"
}
