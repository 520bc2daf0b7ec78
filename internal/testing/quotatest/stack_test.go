package quotatest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	rlcommon "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	rlsvc "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/apiguard/apiguard/internal/ratelimitconf"
	"github.com/apiguard/apiguard/internal/testing/syncbuf"
	"github.com/apiguard/apiguard/internal/wasmvm"
)

// repoRoot is the repository's root directory.
func repoRoot(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := wasmvm.RepoRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// serviceBinary is the envoyproxy/ratelimit binary: RATELIMIT_BIN, else the
// only one make test built under build/ratelimit/.
func serviceBinary(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short (make check): needs the envoyproxy/ratelimit service, which make test builds")
	}
	if p := os.Getenv("RATELIMIT_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("RATELIMIT_BIN: %v", err)
		}
		return p
	}
	found, _ := filepath.Glob(filepath.Join(repoRoot(t), "build", "ratelimit", "*", "service_cmd"))
	if len(found) != 1 {
		t.Fatalf("the envoyproxy/ratelimit service is not built (found %d under build/ratelimit/): run make test, which builds it, or set RATELIMIT_BIN", len(found))
	}
	return found[0]
}

// redisBinary is REDIS_SERVER (make test sets it to the Redis it unpacked
// into build/redis/), else redis-server from PATH.
func redisBinary(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short (make check): needs Redis, which make test unpacks")
	}
	if p := os.Getenv("REDIS_SERVER"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("REDIS_SERVER: %v", err)
		}
		return p
	}
	p, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redis-server not found: run make test, which unpacks Redis into build/redis/ and sets REDIS_SERVER, or set REDIS_SERVER=/path/to/redis-server")
	}
	return p
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// proc is a started process whose output is kept for failure reports.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *syncbuf.Buffer
	done chan struct{}
	err  error
}

// start runs bin with args and env, and stops it when the test ends.
func start(t testing.TB, name, bin string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, cmd: exec.Command(bin, args...), out: &syncbuf.Buffer{}, done: make(chan struct{})}
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	dieWithTest(p.cmd)
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.out.String())
		}
	})
	return p
}

// stop ends the process (SIGTERM, then SIGKILL after 5 s) and waits for it.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stack is one Redis and one rate-limit service using it.
type stack struct {
	redis, service *proc
	redisAddr      string
	grpcAddr       string
	configDir      string
}

// startRedis starts a redis-server on a free loopback port, without
// persistence, and waits until it answers PING.
func startRedis(t testing.TB) (*proc, string) {
	t.Helper()
	return startRedisOn(t, strconv.Itoa(freePort(t)))
}

// startRedisOn starts a redis-server on the loopback port.
func startRedisOn(t testing.TB, port string) (*proc, string) {
	t.Helper()
	dir := t.TempDir()
	p := start(t, "redis-server", redisBinary(t), []string{"PATH=/usr/bin:/bin"},
		"--port", port, "--bind", "127.0.0.1", "--protected-mode", "yes",
		"--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no", "--loglevel", "warning")
	addr := net.JoinHostPort("127.0.0.1", port)
	deadline := time.Now().Add(15 * time.Second)
	for {
		if redisPing(addr) == nil {
			return p, addr
		}
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("redis-server on %s did not answer PING: %v\n%s", addr, redisPing(addr), p.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// redisPing sends PING to the Redis at addr.
func redisPing(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// serviceEnv is the environment of the rate-limit service: every listener
// on loopback, the configuration read from root/ratelimit/config/, no
// statsd, Redis at redisAddr over TCP.
func serviceEnv(root, redisAddr string, grpcPort, httpPort, debugPort int) []string {
	return []string{
		"PATH=/usr/bin:/bin",
		"HOST=127.0.0.1", "PORT=" + strconv.Itoa(httpPort),
		"GRPC_HOST=127.0.0.1", "GRPC_PORT=" + strconv.Itoa(grpcPort),
		"DEBUG_HOST=127.0.0.1", "DEBUG_PORT=" + strconv.Itoa(debugPort),
		"USE_STATSD=false", "USE_PROMETHEUS=false",
		"LOG_LEVEL=warn",
		"RUNTIME_ROOT=" + root, "RUNTIME_SUBDIRECTORY=ratelimit", "RUNTIME_APPDIRECTORY=config",
		"RUNTIME_WATCH_ROOT=false", "RUNTIME_IGNOREDOTFILES=true",
		"BACKEND_TYPE=redis", "REDIS_SOCKET_TYPE=tcp", "REDIS_TYPE=SINGLE", "REDIS_URL=" + redisAddr,
		"REDIS_TIMEOUT=2s",
	}
}

// startStack starts Redis and the service with the service configuration
// yml (as apiguard ratelimit-config writes it), and waits until the service
// answers over gRPC.
func startStack(t testing.TB, yml []byte) *stack {
	t.Helper()
	s := &stack{}
	s.redis, s.redisAddr = startRedis(t)
	root := t.TempDir()
	s.configDir = filepath.Join(root, "ratelimit", "config")
	if err := os.MkdirAll(s.configDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.configDir, "apiguard.yaml"), yml, 0o644); err != nil {
		t.Fatal(err)
	}
	grpcPort := freePort(t)
	s.grpcAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(grpcPort))
	s.service = start(t, "ratelimit service", serviceBinary(t),
		serviceEnv(root, s.redisAddr, grpcPort, freePort(t), freePort(t)))
	c := dial(t, s.grpcAddr)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		// A descriptor the configuration does not name: OK once the
		// service serves with its configuration loaded.
		_, err := c.ShouldRateLimit(ctx, &rlsvc.RateLimitRequest{Domain: ratelimitconf.DefaultDomain,
			Descriptors: []*rlcommon.RateLimitDescriptor{{Entries: []*rlcommon.RateLimitDescriptor_Entry{{Key: "quotatest_readiness", Value: "1"}}}}})
		cancel()
		if err == nil {
			return s
		}
		if s.service.exited() || time.Now().After(deadline) {
			t.Fatalf("the rate-limit service on %s does not answer: %v\n%s", s.grpcAddr, err, s.service.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dial opens a gRPC client connection to the service at addr, as one
// Envoy's ratelimit cluster does, closed when the test ends.
func dial(t testing.TB, addr string) rlsvc.RateLimitServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return rlsvc.NewRateLimitServiceClient(conn)
}
