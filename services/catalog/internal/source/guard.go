// Package source fetches Locations: Git repositories (a shallow fetch of one ref with
// go-git) and plain HTTPS files. Every outbound connection goes through a guard that
// resolves the host and refuses private, loopback, link-local and metadata addresses (on
// every redirect too) unless the operator allows the host, and every fetch has a size and a
// time limit.
package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport/client"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
)

// Policy is the operator's outbound configuration.
type Policy struct {
	// AllowHosts are hosts ("git.internal", "127.0.0.1") or host:port pairs that may resolve
	// to addresses the guard otherwise refuses.
	AllowHosts []string
	// MaxBytes bounds what one fetch reads over the network (all responses together).
	MaxBytes int64
	// Timeout bounds one fetch.
	Timeout time.Duration
	// MaxRedirects bounds the redirects one request follows.
	MaxRedirects int
}

// Default limits.
const (
	DefaultMaxBytes     = 64 << 20
	DefaultTimeout      = 30 * time.Second
	DefaultMaxRedirects = 5
)

// ErrBlocked is returned for a destination the policy refuses.
var ErrBlocked = errors.New("source: destination not allowed")

// ErrTooLarge is returned when a fetch reads more than MaxBytes.
var ErrTooLarge = errors.New("source: fetch exceeds the size limit")

// blocked are the ranges nothing may reach without an allowance: loopback, RFC 1918 and
// unique-local, link-local (cloud metadata at 169.254.169.254 and fd00:ec2::254 included),
// CGNAT, "this network", multicast and reserved.
var blocked = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
		"192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4",
		"::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8", "64:ff9b::/96",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// Blocked reports whether an address is one the guard refuses without an allowance.
func Blocked(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range blocked {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Fetcher fetches under one policy.
type Fetcher struct {
	policy    Policy
	allow     map[string]bool
	transport *http.Transport
	resolver  *net.Resolver
}

// New returns a fetcher. Each fetcher has its own connection pool, so a connection one
// policy allowed is never reused under another.
func New(p Policy) *Fetcher {
	if p.MaxBytes <= 0 {
		p.MaxBytes = DefaultMaxBytes
	}
	if p.Timeout <= 0 {
		p.Timeout = DefaultTimeout
	}
	if p.MaxRedirects <= 0 {
		p.MaxRedirects = DefaultMaxRedirects
	}
	f := &Fetcher{policy: p, allow: map[string]bool{}, resolver: net.DefaultResolver}
	for _, h := range p.AllowHosts {
		f.allow[strings.ToLower(strings.TrimSpace(h))] = true
	}
	f.transport = &http.Transport{
		DialContext:           f.dial,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 20 * time.Second,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       60 * time.Second,
		ForceAttemptHTTP2:     true,
		// No proxy from the environment: a proxy would hide the real destination.
		Proxy: nil,
	}
	installGit()
	return f
}

// Close drops idle connections.
func (f *Fetcher) Close() { f.transport.CloseIdleConnections() }

func (f *Fetcher) allowed(host, port string) bool {
	host = strings.ToLower(strings.Trim(host, "[]"))
	return f.allow[host] || f.allow[net.JoinHostPort(host, port)]
}

// dial resolves the host, checks every address and connects to a checked one: the address
// checked is the address dialled, so a DNS answer that changes in between (rebinding) cannot
// slip through.
func (f *Fetcher) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	allowed := f.allowed(host, port)
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		addrs = []netip.Addr{ip}
	} else {
		ips, err := f.resolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, fmt.Errorf("source: resolve %s: %w", host, err)
		}
		addrs = ips
	}
	var d net.Dialer
	var lastErr error = fmt.Errorf("%w: %s has no address", ErrBlocked, host)
	for _, a := range addrs {
		if Blocked(a) && !allowed {
			lastErr = fmt.Errorf("%w: %s resolves to %s, a private, loopback, link-local or reserved address", ErrBlocked, host, a)
			continue
		}
		c, err := d.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
		if err == nil {
			return c, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

// budget counts the bytes of one fetch.
type budget struct {
	left atomic.Int64
}

type budgetKey struct{}
type fetcherKey struct{}

// withFetch marks ctx as one fetch of f with its byte budget.
func (f *Fetcher) withFetch(ctx context.Context) (context.Context, *budget) {
	b := &budget{}
	b.left.Store(f.policy.MaxBytes)
	ctx = context.WithValue(ctx, fetcherKey{}, f)
	return context.WithValue(ctx, budgetKey{}, b), b
}

// countingBody fails a read once the fetch's budget is spent.
type countingBody struct {
	io.ReadCloser
	b *budget
}

func (c countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	if c.b.left.Add(-int64(n)) < 0 {
		return n, ErrTooLarge
	}
	return n, err
}

// roundTripper sends a request through the fetcher of its context (go-git's transport is
// process-wide, so the fetch's policy travels in the request context). A request without
// one is refused: nothing leaves unguarded.
type roundTripper struct{}

func (roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	f, ok := req.Context().Value(fetcherKey{}).(*Fetcher)
	if !ok {
		return nil, fmt.Errorf("%w: outbound request outside a fetch", ErrBlocked)
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return nil, fmt.Errorf("%w: scheme %s", ErrBlocked, req.URL.Scheme)
	}
	res, err := f.transport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if b, ok := req.Context().Value(budgetKey{}).(*budget); ok {
		if res.ContentLength > 0 && res.ContentLength > b.left.Load() {
			res.Body.Close()
			return nil, ErrTooLarge
		}
		res.Body = countingBody{res.Body, b}
	}
	return res, nil
}

// checkRedirect bounds redirects and keeps them on http(s); the dialer checks each hop's
// address.
func checkRedirect(req *http.Request, via []*http.Request) error {
	f, ok := req.Context().Value(fetcherKey{}).(*Fetcher)
	max := DefaultMaxRedirects
	if ok {
		max = f.policy.MaxRedirects
	}
	if len(via) >= max {
		return fmt.Errorf("source: more than %d redirects", max)
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return fmt.Errorf("%w: redirect to scheme %s", ErrBlocked, req.URL.Scheme)
	}
	// Credentials are for the host they were given for.
	if len(via) > 0 && req.URL.Host != via[0].URL.Host {
		req.Header.Del("Authorization")
	}
	return nil
}

var gitOnce sync.Once

// httpClient is the one client every fetch uses; the policy comes from the context.
var httpClient = &http.Client{Transport: roundTripper{}, CheckRedirect: checkRedirect}

// installGit routes go-git's http and https through the guard, once per process.
func installGit() {
	gitOnce.Do(func() {
		t := githttp.NewClient(httpClient)
		client.InstallProtocol("http", t)
		client.InstallProtocol("https", t)
		// Nothing but HTTP(S): file:// and ssh:// would reach the local disk or keys.
		client.InstallProtocol("file", nil)
		client.InstallProtocol("ssh", nil)
		client.InstallProtocol("git", nil)
	})
}
