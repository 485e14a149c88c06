package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvPGBin names the directory holding initdb and pg_ctl for NewCluster.
const EnvPGBin = "ATRIUM_PG_BIN"

// DefaultPGBin is where Debian's PostgreSQL 15 keeps them (what scripts/deps.sh installs).
const DefaultPGBin = "/usr/lib/postgresql/15/bin"

// NewCluster starts a second, private Postgres cluster on a free loopback port, for tests
// that need two servers (moving a tenant between shards), and returns the URL of a fresh
// database on it. It is stopped and removed at clean-up. Like New, it fails rather than
// skips when it cannot (only -short skips).
func NewCluster(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("pgtest: integration test skipped in -short mode")
	}
	bin := os.Getenv(EnvPGBin)
	if bin == "" {
		bin = DefaultPGBin
	}
	if _, err := os.Stat(filepath.Join(bin, "initdb")); err != nil {
		t.Fatalf("pgtest: no initdb in %s (set %s): %v", bin, EnvPGBin, err)
	}
	// The server refuses to run as root: run it as postgres then, in a directory it owns.
	var asUser *user.User
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("pgtest: running as root and there is no postgres user to run a cluster as: %v", err)
		}
		asUser = u
	}
	dir, err := os.MkdirTemp("", "atrium-pgtest-cluster-")
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	run := func(name string, args ...string) ([]byte, error) {
		cmd := exec.Command(filepath.Join(bin, name), args...)
		if asUser != nil {
			cmd = exec.Command("runuser", append([]string{"-u", asUser.Username, "--", filepath.Join(bin, name)}, args...)...)
		}
		return cmd.CombinedOutput()
	}
	if asUser != nil {
		uid, _ := strconv.Atoi(asUser.Uid)
		gid, _ := strconv.Atoi(asUser.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := run("initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"); err != nil {
		os.RemoveAll(dir)
		t.Fatalf("pgtest: initdb: %v\n%s", err, out)
	}
	port := freePort(t)
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100", port)
	if out, err := run("pg_ctl", "-D", data, "-l", filepath.Join(dir, "log"), "-o", opts, "-w", "-t", "60", "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		os.RemoveAll(dir)
		t.Fatalf("pgtest: pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	t.Cleanup(func() {
		_, _ = run("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
		os.RemoveAll(dir)
	})
	admin := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("pgtest: second cluster: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE atrium_second"); err != nil {
		t.Fatalf("pgtest: second cluster: %v", err)
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/atrium_second?sslmode=disable", port)
}

func freePort(t testing.TB) int {
	p, err := freeTCPPort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func freeTCPPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
