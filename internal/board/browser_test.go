package board

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// chromium is the headless browser of the browser test: $CHROMIUM, or
// Debian's chromium (apt-get install chromium), or "" when there is none.
func chromium() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

// headless loads url in a headless chromium for budget ms of virtual
// time (its timers run, and it waits for the board's answers) and
// returns the DOM as the page left it.
func headless(t *testing.T, browser, url string, budget int) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
		"--user-data-dir="+t.TempDir(), "--virtual-time-budget="+strconv.Itoa(budget), "--dump-dom", url)
	var errb strings.Builder
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", browser, err, errb.String())
	}
	return string(out)
}

var (
	chartRe    = regexp.MustCompile(`(?s)<svg [^>]*data-metric="([a-z_]+)"[^>]*>(.*?)</svg>`)
	polylineRe = regexp.MustCompile(`<polyline [^>]*>`)
	attrRe     = regexp.MustCompile(`([a-z-]+)="([^"]*)"`)
)

// drawn returns, per chart and run, the number of points its line
// holds: "loss run-id" → n. The points themselves are counted, and
// checked against the line's data-n.
func drawn(t *testing.T, dom string) map[string]int {
	t.Helper()
	got := map[string]int{}
	for _, c := range chartRe.FindAllStringSubmatch(dom, -1) {
		for _, pl := range polylineRe.FindAllString(c[2], -1) {
			attrs := map[string]string{}
			for _, a := range attrRe.FindAllStringSubmatch(pl, -1) {
				attrs[a[1]] = a[2]
			}
			n := len(strings.Fields(attrs["points"]))
			if attrs["data-n"] != strconv.Itoa(n) {
				t.Errorf("%s chart, %s: data-n %s, %d points", c[1], attrs["data-run"], attrs["data-n"], n)
			}
			got[c[1]+" "+attrs["data-run"]] = n
		}
	}
	return got
}

// The board in a real browser (Debian's chromium, headless) over two
// runs of a sweep being written: the charts hold each run's records as
// the runs advance, redrawn by the page's polling without a reload; a
// torn last line is left out, a garbage run is shown as an error.
func TestBrowser(t *testing.T) {
	browser := chromium()
	if browser == "" {
		t.Skip("no chromium (Debian: apt-get install -y chromium; or set $CHROMIUM): the board's real-browser test is skipped")
	}
	root := t.TempDir()
	sweep := filepath.Join(root, "sweep")
	post, adm := filepath.Join(sweep, "runs", "postln-L2"), filepath.Join(sweep, "runs", "admin-L2")
	appendRecords(t, post, 1, 10)
	appendRecords(t, adm, 1, 6)
	os.WriteFile(filepath.Join(sweep, sweepFlagsFile), []byte(`{"steps":"40","depths":"2"}`), 0o644)
	os.MkdirAll(filepath.Join(root, "broken"), 0o755)
	os.WriteFile(filepath.Join(root, "broken", metricsFile), []byte("garbage\n"), 0o644)
	b, err := New([]string{root})
	if err != nil {
		t.Fatal(err)
	}
	// live: the runs advance at the page's second and third polls.
	var live atomic.Bool
	var lists, pages atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
			pages.Add(1)
		case "/api/runs":
			if n := lists.Add(1); live.Load() && n == 2 {
				appendRecords(t, post, 11, 20)
				appendRecords(t, adm, 7, 15)
			} else if live.Load() && n == 3 {
				appendRecords(t, post, 21, 25)
				appendText(t, filepath.Join(adm, metricsFile), `{"step":16,"loss":4.`) // torn: being written
			}
		}
		b.ServeHTTP(w, r)
	}))
	defer srv.Close()
	id := func(dir string) string { rel, _ := filepath.Rel(root, dir); return "0:" + filepath.ToSlash(rel) }
	check := func(dom string, nPost, nAdm int) {
		t.Helper()
		got := drawn(t, dom)
		for _, m := range []string{"loss", "lr", "grad_norm", "val_loss", "tokens_per_s"} {
			np, na := nPost, nAdm
			if m == "val_loss" || m == "tokens_per_s" {
				np, na = nPost/5, nAdm/5 // every 5 steps
			}
			if got[m+" "+id(post)] != np || got[m+" "+id(adm)] != na {
				t.Errorf("%s chart: postln %d points, admin %d; want %d and %d (all: %v)", m, got[m+" "+id(post)], got[m+" "+id(adm)], np, na, got)
			}
		}
		if strings.Contains(dom, `data-metric="val_bleu"`) {
			t.Error("a BLEU chart for runs that record no BLEU")
		}
		if !strings.Contains(dom, `data-run="0:broken"`) || !strings.Contains(dom, `<span class="meta err">error</span>`) {
			t.Error("the garbage run is not listed as an error")
		}
	}

	check(headless(t, browser, srv.URL+"/", 1000), 10, 6)
	live.Store(true)
	lists.Store(0)
	pages.Store(0)
	dom := headless(t, browser, srv.URL+"/", 9000)
	check(dom, 25, 15)
	if pages.Load() != 1 || lists.Load() < 4 {
		t.Errorf("the page was loaded %d times and polled %d times; want once, and polled at least 4 times", pages.Load(), lists.Load())
	}
	for _, want := range []string{"--steps", "--norm", "admin-L2", `data-checkpoints="0"`} {
		if !strings.Contains(dom, want) {
			t.Errorf("the page has no %q", want)
		}
	}
}

// The view in the address: two runs picked by id, against wall time
// (records with a "time" field), log y; a translation's BLEU gets its
// chart.
func TestBrowserTimeLogBLEU(t *testing.T) {
	browser := chromium()
	if browser == "" {
		t.Skip("no chromium (Debian: apt-get install -y chromium; or set $CHROMIUM): the board's real-browser test is skipped")
	}
	root := t.TempDir()
	for i, name := range []string{"a", "b", "c"} {
		os.MkdirAll(filepath.Join(root, name), 0o755)
		var b strings.Builder
		for s := 1; s <= 8+i; s++ {
			fmt.Fprintf(&b, `{"step":%d,"loss":%g,"lr":0.001,"grad_norm":1,"time":%d`, s, 6/float64(s), 1700000000+30*s)
			if s%4 == 0 {
				fmt.Fprintf(&b, `,"val_loss":%g,"val_bleu":%g`, 5/float64(s), float64(s))
			}
			b.WriteString("}\n")
		}
		os.WriteFile(filepath.Join(root, name, metricsFile), []byte(b.String()), 0o644)
	}
	b, err := New([]string{root})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(b)
	defer srv.Close()
	dom := headless(t, browser, srv.URL+"/?run=0:a&run=0:c&x=time&log=1", 1500)
	got := drawn(t, dom)
	want := map[string]int{"loss 0:a": 8, "loss 0:c": 10, "val_bleu 0:a": 2, "val_bleu 0:c": 2, "val_loss 0:a": 2, "val_loss 0:c": 2}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: %d points, want %d (all: %v)", k, got[k], n, got)
		}
	}
	if got["loss 0:b"] != 0 {
		t.Error("run b is charted, though the address picks a and c")
	}
	for _, s := range []string{">wall time</text>", ">training loss (log)</text>", ">validation BLEU (log)</text>", ">4m</text>"} {
		if !strings.Contains(dom, s) {
			t.Errorf("the page has no %q", s)
		}
	}
}
