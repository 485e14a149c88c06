package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Server is a Postgres cluster of its own, in a data directory that can outlive the process
// (benchmarks that provision thousands of tenants keep it between runs). Start it with
// StartServer; Stop leaves the data, Remove deletes it.
type Server struct {
	Dir  string // holds data/, log and port
	Port int
	bin  string
	as   *user.User
}

// ServerSettings are passed to the server with -c at every start (name = value).
type ServerSettings map[string]string

// StartServer starts the cluster in dir on a loopback port, creating it with initdb when dir
// holds none yet. A cluster made earlier keeps its port (dir/port); one already running is
// used as it is. The bin directory is ATRIUM_PG_BIN, else Debian's PostgreSQL 15.
func StartServer(dir string, settings ServerSettings) (*Server, error) {
	bin := os.Getenv(EnvPGBin)
	if bin == "" {
		bin = DefaultPGBin
	}
	if _, err := os.Stat(filepath.Join(bin, "initdb")); err != nil {
		return nil, fmt.Errorf("pgtest: no initdb in %s (set %s): %w", bin, EnvPGBin, err)
	}
	s := &Server{Dir: dir, bin: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("pgtest: running as root and there is no postgres user to run a cluster as: %w", err)
		}
		s.as = u
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if s.as != nil {
		uid, _ := strconv.Atoi(s.as.Uid)
		gid, _ := strconv.Atoi(s.as.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if out, err := s.run("initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale"); err != nil {
			return nil, fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
		}
	}
	portFile := filepath.Join(dir, "port")
	if b, err := os.ReadFile(portFile); err == nil {
		s.Port, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	if s.Port == 0 {
		p, err := freeTCPPort()
		if err != nil {
			return nil, err
		}
		s.Port = p
		if err := os.WriteFile(portFile, []byte(strconv.Itoa(p)), 0o644); err != nil {
			return nil, err
		}
	}
	if s.ping() == nil {
		return s, nil
	}
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories=''", s.Port)
	for k, v := range settings {
		opts += fmt.Sprintf(" -c %s=%s", k, v)
	}
	if out, err := s.run("pg_ctl", "-D", data, "-l", filepath.Join(dir, "log"), "-o", opts, "-w", "-t", "120", "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		return nil, fmt.Errorf("pgtest: pg_ctl start: %w\n%s\n%s", err, out, log)
	}
	return s, s.ping()
}

// URL is the connection string of database db on the server, as the superuser postgres.
func (s *Server) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, db)
}

// EnsureDatabase creates database db when it does not exist and returns its URL.
func (s *Server) EnsureDatabase(ctx context.Context, db string) (string, error) {
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, db).Scan(&ok); err != nil {
		return "", err
	}
	if !ok {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()); err != nil {
			return "", err
		}
	}
	return s.URL(db), nil
}

// Stop shuts the server down (fast mode), keeping its data.
func (s *Server) Stop() error {
	out, err := s.run("pg_ctl", "-D", filepath.Join(s.Dir, "data"), "-m", "fast", "-w", "stop")
	if err != nil {
		return fmt.Errorf("pgtest: pg_ctl stop: %w\n%s", err, out)
	}
	return nil
}

// Remove stops the server and deletes its directory.
func (s *Server) Remove() error {
	_ = s.Stop()
	return os.RemoveAll(s.Dir)
}

// Bin is the path of one of the server's programs (pg_dump, psql).
func (s *Server) Bin(name string) string { return filepath.Join(s.bin, name) }

func (s *Server) run(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	if s.as != nil {
		cmd = exec.Command("runuser", append([]string{"-u", s.as.Username, "--", filepath.Join(s.bin, name)}, args...)...)
	}
	return cmd.CombinedOutput()
}

func (s *Server) ping() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}
