package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
	"atrium.dev/platform/config"
	"atrium.dev/platform/pgtest"
	"atrium.dev/platform/redistest"
	"atrium.dev/platform/serve"
	"connectrpc.com/connect"
)

// TestTwoStacksSideBySide runs two devstacks the way two checkouts would, each configured
// only through the README's settings, on one Postgres and one Redis: both come up, neither
// sees the other's tenants or change messages, and each stops with a nil error (exit 0) when
// its context ends, as on Ctrl-C.
func TestTwoStacksSideBySide(t *testing.T) {
	rd := redistest.New(t)
	type stackRun struct {
		name   string
		env    map[string]string
		out    *syncBuffer
		cancel context.CancelFunc
		done   chan error
		gw     string
		op     string
	}
	var stacks []*stackRun
	all := freePorts(t, 14) // both stacks' at once, so that the second's cannot be the first's
	for k, name := range []string{"a", "b"} {
		dir := t.TempDir()
		ports := all[k*7 : k*7+7]
		s := &stackRun{name: name, out: newSyncBuffer(), done: make(chan error, 1)}
		s.env = map[string]string{
			config.EnvDatabaseURL:      pgtest.New(t),
			config.EnvRedisURL:         rd.URL,
			config.EnvRedisPrefix:      rd.Prefix + name + ":",
			config.EnvGatewayPort:      strconv.Itoa(ports[0]),
			config.EnvTenancyPort:      strconv.Itoa(ports[1]),
			config.EnvCatalogPort:      strconv.Itoa(ports[2]),
			config.EnvEntitlementsPort: strconv.Itoa(ports[3]),
			config.EnvSMTPPort:         strconv.Itoa(ports[4]),
			config.EnvBillingPort:      strconv.Itoa(ports[5]),
			config.EnvInsightsPort:     strconv.Itoa(ports[6]),
			config.EnvConfigPath:       filepath.Join(dir, "tenantctl.yaml"),
			config.EnvContextName:      "local-" + name,
			config.EnvStateDir:         dir,
			config.EnvLogLevel:         "error",
		}
		ctx, cancel := context.WithCancel(context.Background())
		s.cancel = cancel
		go func() {
			var stderr bytes.Buffer
			err := run(ctx, []string{"--examples", "", "--static", filepath.Join(dir, "none")},
				func(k string) string { return s.env[k] }, s.out, &stderr)
			if err != nil {
				err = fmt.Errorf("%w\nstderr: %s", err, stderr.String())
			}
			s.done <- err
		}()
		stacks = append(stacks, s)
	}
	for _, s := range stacks {
		select {
		case <-s.out.banner:
		case err := <-s.done:
			t.Fatalf("stack %s ended before its banner: %v", s.name, err)
		case <-time.After(90 * time.Second):
			t.Fatalf("stack %s: no banner after 90 s", s.name)
		}
		s.gw = "http://127.0.0.1:" + s.env[config.EnvGatewayPort]
		if !strings.Contains(s.out.String(), "http://demo.localhost:"+s.env[config.EnvGatewayPort]) {
			t.Errorf("stack %s banner does not show its gateway port:\n%s", s.name, s.out.String())
		}
		tc, err := readTenantctlConfig(s.env[config.EnvConfigPath])
		if err != nil {
			t.Fatal(err)
		}
		s.op = tc.context("local-" + s.name).OperatorToken
		if s.op == "" {
			t.Fatalf("stack %s wrote no operator token to context local-%s", s.name, s.name)
		}
	}
	a, b := stacks[0], stacks[1]
	ctx := t.Context()
	hc := serve.H2CClient()
	ops := func(s *stackRun) tenancyv1connect.OperatorServiceClient {
		return tenancyv1connect.NewOperatorServiceClient(hc, s.gw, connect.WithInterceptors(credentials{token: s.op}))
	}

	// Databases: a tenant made in a is not in b.
	if _, err := ops(a).CreateTenant(ctx, connect.NewRequest(&tenancyv1.CreateTenantRequest{
		Slug: "acme", DisplayName: "Acme", AdminEmail: "ops@acme.test", AdminPassword: "a long passphrase 42"})); err != nil {
		t.Fatalf("create acme in a: %v", err)
	}
	if _, err := ops(b).LookupTenant(ctx, connect.NewRequest(&tenancyv1.LookupTenantRequest{Tenant: "acme"})); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("b looked up a's tenant: err = %v, want NotFound", err)
	}

	// Redis: a's tenant-changed message reaches a's channel only.
	sub := rd.Client.Subscribe(ctx, a.env[config.EnvRedisPrefix]+"atrium:tenant-changed", b.env[config.EnvRedisPrefix]+"atrium:tenant-changed")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil { // the subscription confirmation
		t.Fatal(err)
	}
	if _, err := ops(a).SuspendTenant(ctx, connect.NewRequest(&tenancyv1.SuspendTenantRequest{Tenant: "acme", Reason: "test"})); err != nil {
		t.Fatalf("suspend in a: %v", err)
	}
	msgs := sub.Channel()
	deadline := time.After(5 * time.Second)
	gotA := false
	for !gotA {
		select {
		case m := <-msgs:
			if m.Channel != a.env[config.EnvRedisPrefix]+"atrium:tenant-changed" {
				t.Fatalf("message on %s: %s", m.Channel, m.Payload)
			}
			gotA = true
		case <-deadline:
			t.Fatal("no tenant-changed message on a's channel")
		}
	}
	select {
	case m := <-msgs:
		if m.Channel != a.env[config.EnvRedisPrefix]+"atrium:tenant-changed" {
			t.Fatalf("b received a's change: %s %s", m.Channel, m.Payload)
		}
	case <-time.After(500 * time.Millisecond):
	}

	// Ctrl-C: run returns nil.
	for _, s := range stacks {
		s.cancel()
		select {
		case err := <-s.done:
			if err != nil {
				t.Errorf("stack %s stopped with %v, want nil (exit 0)", s.name, err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("stack %s did not stop", s.name)
		}
	}
}

// freePorts returns n ports free at the moment (the listeners are closed again), below
// Linux's ephemeral range (32768 and up): a port the kernel handed out with ":0" and the test
// released could be taken as the source port of the first stack's connections to Postgres or
// Redis before the second stack listens on it, which happened once.
func freePorts(t *testing.T, n int) []int {
	var out []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for port := 20000 + rand.IntN(10000); len(out) < n && port < 32768; port++ {
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		lns = append(lns, ln)
		out = append(out, port)
	}
	if len(out) < n {
		t.Fatalf("only %d free ports below 32768", len(out))
	}
	return out
}

// syncBuffer is a stdout for run: safe across goroutines, and it signals the banner.
type syncBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	banner chan struct{}
	once   sync.Once
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{banner: make(chan struct{})} }

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.b.Write(p)
	if strings.Contains(s.b.String(), "Ctrl-C stops it.") {
		s.once.Do(func() { close(s.banner) })
	}
	return n, err
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
