//go:build unix

// Package pgtest runs throwaway PostgreSQL clusters for tests and benchmarks.
//
// A Cluster is created from the local Postgres server binaries (initdb, pg_ctl): a
// data directory in a fresh temporary directory, a free loopback port, a private
// Unix socket directory, torn down by Close. When the test process runs as root the
// binaries run as the "postgres" system user (initdb refuses to run as root) and the
// temporary directory is handed to that user.
//
// Env is the per-test-binary entry point: it uses TEST_DATABASE_URL when set,
// otherwise one throwaway cluster shared by all tests of the binary (start it in
// TestMain), and hands each test a fresh schema. Tests call Env.DSN; when no
// Postgres is available the test is skipped, or fails when CI=true.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrUnavailable means no Postgres can be used: the server binaries are missing (or,
// when running as root, there is no postgres system user).
var ErrUnavailable = errors.New("pgtest: postgres unavailable")

// EnvBinDir names the environment variable that overrides where the server binaries
// are looked up.
const EnvBinDir = "PGTEST_BINDIR"

// EnvDatabaseURL names the environment variable with an existing database to use
// instead of a throwaway cluster.
const EnvDatabaseURL = "TEST_DATABASE_URL"

// Options configure a throwaway cluster.
type Options struct {
	// Durable keeps the server's default durability (fsync, synchronous_commit,
	// full_page_writes on). Without it those are switched off, which is faster and
	// fine for tests that never crash the server. Use Durable for benchmarks and
	// for tests that stop the server with StopImmediate and count what survived.
	Durable bool
	// Settings are extra server settings, "name=value", passed as -c options in order.
	Settings []string
	// StartTimeout bounds initdb and each pg_ctl start/stop; default 60 s.
	StartTimeout time.Duration
}

// StopMode is a pg_ctl shutdown mode.
type StopMode string

// The pg_ctl shutdown modes.
const (
	// StopSmart waits for clients to disconnect.
	StopSmart StopMode = "smart"
	// StopFast disconnects clients and shuts down cleanly.
	StopFast StopMode = "fast"
	// StopImmediate aborts the server without a shutdown checkpoint, like a crash;
	// the next start runs crash recovery.
	StopImmediate StopMode = "immediate"
)

// Cluster is one throwaway Postgres cluster. Its methods are safe for concurrent use.
type Cluster struct {
	bindir  string
	dir     string
	dataDir string
	sockDir string
	logPath string
	port    int
	cred    *syscall.Credential
	opts    Options

	mu      sync.Mutex
	running bool
}

// BinDir finds the directory holding initdb and pg_ctl: $PGTEST_BINDIR, then the
// directory of initdb on PATH, then `pg_config --bindir`, then the newest
// /usr/lib/postgresql/*/bin (the Debian layout). The error wraps ErrUnavailable.
func BinDir() (string, error) {
	has := func(dir string) bool {
		for _, b := range []string{"initdb", "pg_ctl", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	if d := os.Getenv(EnvBinDir); d != "" {
		if has(d) {
			return d, nil
		}
		return "", fmt.Errorf("%w: %s=%s has no initdb/pg_ctl/postgres", ErrUnavailable, EnvBinDir, d)
	}
	if p, err := exec.LookPath("initdb"); err == nil && has(filepath.Dir(p)) {
		return filepath.Dir(p), nil
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if d := strings.TrimSpace(string(out)); has(d) {
			return d, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if has(d) {
			return d, nil
		}
	}
	return "", fmt.Errorf("%w: initdb/pg_ctl not found (set %s, or install the Debian package postgresql)", ErrUnavailable, EnvBinDir)
}

func versionOf(bindir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(bindir)), 64)
	return v
}

// New creates and starts a throwaway cluster. The caller must Close it.
func New(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 60 * time.Second
	}
	bindir, err := BinDir()
	if err != nil {
		return nil, err
	}
	c := &Cluster{bindir: bindir, opts: opts}
	uid, gid := -1, -1
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("%w: running as root and no postgres user: %v", ErrUnavailable, err)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	c.dir, err = os.MkdirTemp("", "guanaco-pg-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: creating temp dir: %w", err)
	}
	c.dataDir = filepath.Join(c.dir, "data")
	c.sockDir = filepath.Join(c.dir, "sock")
	c.logPath = filepath.Join(c.dir, "server.log")
	if err := os.Mkdir(c.sockDir, 0o700); err != nil {
		c.removeDir()
		return nil, fmt.Errorf("pgtest: creating socket dir: %w", err)
	}
	if c.cred != nil {
		for _, p := range []string{c.dir, c.sockDir} {
			if err := os.Chown(p, uid, gid); err != nil {
				c.removeDir()
				return nil, fmt.Errorf("pgtest: handing %s to postgres: %w", p, err)
			}
		}
	}
	if err := c.run(ctx, "initdb", "-D", c.dataDir, "-U", "postgres", "-A", "trust", "-E", "UTF8",
		"--locale=C", "--no-sync"); err != nil {
		c.removeDir()
		return nil, err
	}
	// A port picked free may be taken before the server binds it: retry a few times.
	for attempt := 0; ; attempt++ {
		c.port, err = freePort()
		if err == nil {
			err = c.Start(ctx)
		}
		if err == nil {
			return c, nil
		}
		if attempt == 2 || ctx.Err() != nil {
			c.removeDir()
			return nil, err
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Port is the loopback TCP port the server listens on; it stays the same across
// Stop and Start.
func (c *Cluster) Port() int { return c.port }

// DataDir is the cluster's data directory (postmaster.pid, server files).
func (c *Cluster) DataDir() string { return c.dataDir }

// DSN returns a postgres:// URL for database (default "postgres") as the superuser
// "postgres" over TCP on 127.0.0.1.
func (c *Cluster) DSN(database string) string {
	if database == "" {
		database = "postgres"
	}
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User("postgres"),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Start starts the (stopped) server on the same port and waits until it accepts
// connections. Starting a running cluster is a no-op.
func (c *Cluster) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running {
		return nil
	}
	o := []string{
		"-p", strconv.Itoa(c.port),
		"-k", c.sockDir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "max_connections=200",
		"-c", "max_wal_size=2GB",
	}
	if !c.opts.Durable {
		o = append(o, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	for _, s := range c.opts.Settings {
		o = append(o, "-c", s)
	}
	if err := c.run(ctx, "pg_ctl", "start", "-D", c.dataDir, "-l", c.logPath, "-w",
		"-t", strconv.Itoa(int(c.opts.StartTimeout/time.Second)), "-o", strings.Join(o, " ")); err != nil {
		return fmt.Errorf("%w\nserver log:\n%s", err, c.LogTail(2000))
	}
	c.running = true
	return nil
}

// Stop shuts the server down with mode and waits for it to exit. Stopping a stopped
// cluster is a no-op.
func (c *Cluster) Stop(ctx context.Context, mode StopMode) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.running {
		return nil
	}
	if err := c.run(ctx, "pg_ctl", "stop", "-D", c.dataDir, "-m", string(mode), "-w",
		"-t", strconv.Itoa(int(c.opts.StartTimeout/time.Second))); err != nil {
		return err
	}
	c.running = false
	return nil
}

// Running reports whether the server is started.
func (c *Cluster) Running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.running
}

// Close stops the server (immediately: the data is thrown away) and removes the
// temporary directory.
func (c *Cluster) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.StartTimeout)
	defer cancel()
	err := c.Stop(ctx, StopImmediate)
	if rmErr := c.removeDir(); err == nil {
		err = rmErr
	}
	return err
}

// LogTail returns up to the last n bytes of the server log.
func (c *Cluster) LogTail(n int) string {
	b, err := os.ReadFile(c.logPath)
	if err != nil {
		return fmt.Sprintf("(no server log: %v)", err)
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

func (c *Cluster) removeDir() error {
	if c.dir == "" {
		return nil
	}
	if err := os.RemoveAll(c.dir); err != nil {
		return fmt.Errorf("pgtest: removing %s: %w", c.dir, err)
	}
	return nil
}

// run executes a server binary (as the postgres user when root) with a bounded time.
// Output goes to a file, not a pipe: pg_ctl start leaves the server running, and a
// server inheriting a pipe would keep Wait from returning.
func (c *Cluster) run(ctx context.Context, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.StartTimeout+10*time.Second)
	defer cancel()
	out, err := os.CreateTemp(c.dir, name+"-*.out")
	if err != nil {
		return fmt.Errorf("pgtest: creating output file: %w", err)
	}
	defer os.Remove(out.Name())
	defer out.Close()
	cmd := exec.CommandContext(ctx, filepath.Join(c.bindir, name), args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Dir = c.dir
	cmd.Env = []string{"PATH=" + c.bindir + ":/usr/bin:/bin", "LC_ALL=C", "LANG=C", "TZ=UTC", "HOME=" + c.dir}
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	if err := cmd.Run(); err != nil {
		b, _ := os.ReadFile(out.Name())
		return fmt.Errorf("pgtest: %s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(b)))
	}
	return nil
}

// Env is the Postgres environment of one test binary. Create it in TestMain with
// NewEnv and Close it after m.Run.
type Env struct {
	baseDSN string
	cluster *Cluster
	err     error
	seq     atomic.Int64
}

// NewEnv connects the tests to $TEST_DATABASE_URL when set, otherwise starts a
// throwaway cluster with opts. A failure is recorded, not returned: each test that
// needs Postgres then skips (or fails under CI=true) through DSN or Require.
func NewEnv(ctx context.Context, opts Options) *Env {
	if dsn := os.Getenv(EnvDatabaseURL); dsn != "" {
		return &Env{baseDSN: dsn}
	}
	c, err := New(ctx, opts)
	if err != nil {
		return &Env{err: err}
	}
	return &Env{baseDSN: c.DSN("postgres"), cluster: c}
}

// Close tears the throwaway cluster down (nothing for TEST_DATABASE_URL).
func (e *Env) Close() error {
	if e.cluster == nil {
		return nil
	}
	return e.cluster.Close()
}

// Err is the reason Postgres is unavailable, or nil.
func (e *Env) Err() error { return e.err }

// Require skips tb when Postgres is unavailable, or fails it when CI=true.
func (e *Env) Require(tb testing.TB) {
	tb.Helper()
	Require(tb, e.err)
}

// Require handles a failure to get Postgres: when err wraps ErrUnavailable it skips
// tb, or fails it when the environment variable CI is "true" (in CI a missing
// Postgres is a failure); any other error (a cluster that failed to start) fails tb.
// A nil err does nothing.
func Require(tb testing.TB, err error) {
	tb.Helper()
	if err == nil {
		return
	}
	if !errors.Is(err, ErrUnavailable) || os.Getenv("CI") == "true" {
		tb.Fatalf("postgres required: %v", err)
		return
	}
	tb.Skipf("postgres unavailable: %v", err)
}

// DSN creates a fresh, empty schema for tb, dropped when tb ends, and returns a DSN
// whose search_path selects it, so each test sees its own tables.
func (e *Env) DSN(tb testing.TB) string {
	tb.Helper()
	e.Require(tb)
	schema := fmt.Sprintf("t_%d_%d", os.Getpid(), e.seq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		tb.Fatalf("pgtest: creating schema: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := e.exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("pgtest: dropping schema: %v", err)
		}
	})
	dsn, err := WithSearchPath(e.baseDSN, schema)
	if err != nil {
		tb.Fatal(err)
	}
	return dsn
}

func (e *Env) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, e.baseDSN)
	if err != nil {
		return fmt.Errorf("pgtest: connecting: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("pgtest: %s: %w", sql, err)
	}
	return nil
}

// WithSearchPath returns dsn (a postgres:// URL) with the search_path run-time
// parameter set to schema.
func WithSearchPath(dsn, schema string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return "", fmt.Errorf("pgtest: parsing DSN: %w", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// NewCluster starts a dedicated throwaway cluster for tb (for tests that stop and
// restart the server), closed when tb ends. It skips or fails tb as Require does
// when Postgres is unavailable.
func NewCluster(tb testing.TB, opts Options) *Cluster {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := New(ctx, opts)
	if err != nil {
		Require(tb, err)
	}
	tb.Cleanup(func() {
		if err := c.Close(); err != nil {
			tb.Errorf("pgtest: closing cluster: %v", err)
		}
	})
	return c
}
