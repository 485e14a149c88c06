package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// ServerBinary is the redis-server a private server runs (ATRIUM_REDIS_SERVER overrides it).
func ServerBinary() string {
	if b := os.Getenv("ATRIUM_REDIS_SERVER"); b != "" {
		return b
	}
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p
	}
	return "/usr/bin/redis-server"
}

// Server is a private redis-server on a free loopback port, for tests that stop and restart
// Redis (the shared server must never be restarted under the other tests). It persists to an
// append-only file in a temporary directory, as a production Redis holding the usage stream
// does, so a restart keeps what was written before it.
type Server struct {
	t    testing.TB
	Addr string
	URL  string
	dir  string
	args []string
	cmd  *exec.Cmd
	done chan struct{}
}

// StartServer starts a private server with redis-server's extra args (such as
// "--requirepass", pw); it is stopped at clean-up.
func StartServer(t testing.TB, args ...string) *Server {
	t.Helper()
	if testing.Short() {
		t.Skip("redistest: integration test skipped in -short mode")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	s := &Server{t: t, Addr: addr, URL: "redis://" + addr + "/0", dir: t.TempDir(), args: args}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Start runs the server (again, on the same port and data directory) and waits until it
// answers.
func (s *Server) Start() {
	s.t.Helper()
	_, port, _ := net.SplitHostPort(s.Addr)
	args := append([]string{"--bind", "127.0.0.1", "--port", port, "--dir", s.dir,
		"--save", "", "--appendonly", "yes", "--appendfsync", "everysec", "--protected-mode", "no"}, s.args...)
	s.cmd = exec.Command(ServerBinary(), args...)
	out, err := os.Create(s.dir + "/redis.log")
	if err != nil {
		s.t.Fatal(err)
	}
	s.cmd.Stdout, s.cmd.Stderr = out, out
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("redistest: start %s: %v", ServerBinary(), err)
	}
	done := make(chan struct{})
	s.done = done
	go func() { _ = s.cmd.Wait(); _ = out.Close(); close(done) }()
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil || strings.HasPrefix(err.Error(), "NOAUTH") { // up, and wants a password
			return
		}
		select {
		case <-done:
			log, _ := os.ReadFile(s.dir + "/redis.log")
			s.t.Fatalf("redistest: redis-server exited: %s", log)
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redistest: private redis-server at %s not answering: %v", s.Addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop shuts the server down as an orderly restart does (SIGTERM: the append-only file is
// flushed) and waits for it to exit. Idempotent.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// Restart stops the server and starts it again after down.
func (s *Server) Restart(down time.Duration) {
	s.t.Helper()
	s.Stop()
	time.Sleep(down)
	s.Start()
}

// String is the server's address.
func (s *Server) String() string { return fmt.Sprintf("redis-server at %s", s.Addr) }
