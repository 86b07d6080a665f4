package board

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"
)

// serve starts Serve on a free loopback port and returns its URL and
// the channel of its result.
func serve(t *testing.T, ctx context.Context, roots ...string) (string, chan error) {
	t.Helper()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, "127.0.0.1:0", roots, pw); pw.Close() }()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("Serve: %v (%v)", err, <-done)
	}
	go io.Copy(io.Discard, pr)
	i := strings.Index(line, "http://")
	return strings.Fields(line[i:])[0], done
}

func wait(t *testing.T, done chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not stop")
	}
}

// SIGINT and SIGTERM stop the board cleanly (nil: exit status 0), as
// does the end of its context.
func TestServeStops(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, 0} {
		ctx, cancel := context.WithCancel(context.Background())
		url, done := serve(t, ctx, t.TempDir())
		resp, err := http.Get(url + "api/runs")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v %v", url, resp, err)
		}
		resp.Body.Close()
		if sig == 0 {
			cancel()
		} else {
			syscall.Kill(syscall.Getpid(), sig)
		}
		wait(t, done)
		cancel()
	}
}

// A bad --addr or root is a usage error.
func TestServeUsage(t *testing.T) {
	for _, addr := range []string{"6006", "localhost:http2", "localhost:70000", ""} {
		if err := Serve(context.Background(), addr, nil, io.Discard); err == nil || !strings.Contains(err.Error(), "--addr") {
			t.Errorf("--addr %q: %v", addr, err)
		}
	}
}

// Bound to the loopback interface, the board answers requests to
// localhost only (a page rebinding its own domain to 127.0.0.1 gets 403).
func TestLocalOnly(t *testing.T) {
	b, _ := New([]string{t.TempDir()})
	h := localOnly(b)
	for host, want := range map[string]int{"localhost:6006": 200, "127.0.0.1:6006": 200, "[::1]:6006": 200, "localhost": 200,
		"evil.example:6006": 403, "evil.example": 403, "192.168.1.2:6006": 403} {
		req := httptest.NewRequest("GET", "/api/runs", nil)
		req.Host = host
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("Host %s: %d, want %d", host, rec.Code, want)
		}
	}
}
