package board

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/clinic-ml/clinic/internal/limits"
)

// Synopsis is 'clinic board --help”s description.
const Synopsis = "Serve a live web page of the runs and sweeps under each DIR (default runs/):\n" +
	"their loss, validation loss, BLEU, learning rate, gradient norm and tokens/s\n" +
	"against step, several runs on one chart, each run's flags, Admin ω profile and\n" +
	"checkpoints. It updates every 2 s while runs train, reads only the files they\n" +
	"write, writes nothing, and binds to localhost unless --addr says otherwise.\n" +
	"SIGINT or SIGTERM stops it.\n\n" +
	"Arguments: DIR... (default runs/)"

// DefaultAddr is TensorBoard's port, on the loopback interface only.
const DefaultAddr = "localhost:6006"

// Serve serves the board over roots on addr until ctx is done or the
// process gets SIGINT or SIGTERM, then stops cleanly (nil). A bad addr
// or root is a usage error.
func Serve(ctx context.Context, addr string, roots []string, stdout io.Writer) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return limits.Usagef("--addr %q: want HOST:PORT (%v)", addr, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return limits.Usagef("--addr %q: port %q is not a number from 0 to 65535", addr, port)
	}
	b, err := New(roots)
	if err != nil {
		return limits.Usagef("%v", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--addr %s: %v", addr, err)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	var h http.Handler = b
	if loopback(host) {
		h = localOnly(h)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "clinic board: %s on http://%s/ (read-only; Ctrl-C stops it)\n", strings.Join(b.Roots(), ", "), ln.Addr())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	fmt.Fprintln(stdout, "clinic board: stopped")
	return nil
}

// loopback is whether host names the loopback interface.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// localOnly refuses requests whose Host is not a loopback name: a
// board bound to localhost is then out of reach of a web page that
// rebinds its own domain's address to 127.0.0.1 (DNS rebinding).
func localOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if hh, _, err := net.SplitHostPort(host); err == nil {
			host = hh
		}
		if !loopback(strings.Trim(host, "[]")) {
			http.Error(w, "the board answers requests to localhost only", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}
