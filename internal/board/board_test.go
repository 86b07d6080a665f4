package board

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clinic-ml/clinic/admin"
	"github.com/clinic-ml/clinic/internal/safetensors"
)

// appendRecords appends the records of steps from..to to dir's
// metrics.jsonl, as the trainer writes them (val_loss every 5 steps).
func appendRecords(t *testing.T, dir string, from, to int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, metricsFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for s := from; s <= to; s++ {
		val := ""
		if s%5 == 0 {
			val = fmt.Sprintf(`,"val_loss":%g,"tokens_per_s":1234`, 4-float64(s)/50)
		}
		fmt.Fprintf(f, `{"step":%d,"loss":%g,"lr":0.001,"grad_norm":1.5%s}`+"\n", s, 5-float64(s)/40, val)
	}
}

func appendText(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

func newServer(t *testing.T, roots ...string) *httptest.Server {
	t.Helper()
	b, err := New(roots)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(b)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, srv *httptest.Server, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func list(t *testing.T, srv *httptest.Server) *List {
	t.Helper()
	code, body := get(t, srv, "/api/runs")
	if code != 200 {
		t.Fatalf("/api/runs: %d %s", code, body)
	}
	var l List
	if err := json.Unmarshal([]byte(body), &l); err != nil {
		t.Fatal(err)
	}
	return &l
}

func runOf(t *testing.T, l *List, name string) *Run {
	t.Helper()
	for _, r := range l.Runs {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no run %s in %+v", name, l.Runs)
	return nil
}

func records(t *testing.T, srv *httptest.Server, id string) *Records {
	t.Helper()
	code, body := get(t, srv, "/api/run?id="+id)
	if code != 200 {
		t.Fatalf("/api/run?id=%s: %d %s", id, code, body)
	}
	var r Records
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

// A run being written: its count grows between requests, and a torn
// last line (a record half written) is left out until it is whole.
func TestRunBeingWritten(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "lm")
	appendRecords(t, dir, 1, 3)
	srv := newServer(t, root)
	want := func(n int) {
		t.Helper()
		r := runOf(t, list(t, srv), "lm")
		if r.Records != n || r.Error != "" {
			t.Fatalf("records %d (error %q), want %d", r.Records, r.Error, n)
		}
		recs := records(t, srv, r.ID)
		if len(recs.Records) != n || recs.Error != "" || recs.Records[n-1]["step"] != float64(n) {
			t.Fatalf("/api/run: %d records (error %q), want %d ending at step %d", len(recs.Records), recs.Error, n, n)
		}
	}
	want(3)
	appendRecords(t, dir, 4, 7)
	want(7)
	appendText(t, filepath.Join(dir, metricsFile), `{"step":8,"loss":4.`)
	want(7)
	appendText(t, filepath.Join(dir, metricsFile), "1}\n")
	want(8)
	// A run that starts now is served at once, though its root was
	// walked a moment ago.
	appendRecords(t, filepath.Join(root, "lm2"), 1, 2)
	if recs := records(t, srv, "0:lm2"); len(recs.Records) != 2 {
		t.Errorf("a new run: %d records, want 2", len(recs.Records))
	}
}

// A metrics.jsonl that is garbage, foreign JSON, a directory or a FIFO
// is an error on its run's card; the other runs and the server go on.
func TestBadMetricsAreCardErrors(t *testing.T) {
	root := t.TempDir()
	appendRecords(t, filepath.Join(root, "good"), 1, 4)
	for name, text := range map[string]string{
		"garbage": "hello\nworld\n",
		"foreign": `{"epoch":1,"acc":0.5}` + "\n",
		"binary":  "\x00\x01\x02\n{}",
		// a header without a step, as a later format may write: skipped
		"header": `{"format":"clinic-metrics/9"}` + "\n" + `{"step":1,"loss":2}` + "\n",
	} {
		os.MkdirAll(filepath.Join(root, name), 0o755)
		os.WriteFile(filepath.Join(root, name, metricsFile), []byte(text), 0o644)
	}
	os.MkdirAll(filepath.Join(root, "isdir", metricsFile), 0o755)
	fifo := false
	if os.MkdirAll(filepath.Join(root, "fifo"), 0o755) == nil && syscall.Mkfifo(filepath.Join(root, "fifo", metricsFile), 0o644) == nil {
		fifo = true
	}
	srv := newServer(t, root)
	done := make(chan *List)
	go func() { done <- list(t, srv) }()
	var l *List
	select {
	case l = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the board hangs on a bad metrics file")
	}
	if r := runOf(t, l, "good"); r.Records != 4 || r.Error != "" {
		t.Errorf("good run: %d records, error %q", r.Records, r.Error)
	}
	names := []string{"garbage", "foreign", "binary", "isdir"}
	if fifo {
		names = append(names, "fifo")
	}
	for _, n := range names {
		r := runOf(t, l, n)
		if r.Error == "" || strings.Contains(r.Error, "\n") || !strings.Contains(r.Error, metricsFile) {
			t.Errorf("%s: error %q, want one line naming %s", n, r.Error, metricsFile)
		}
		if recs := records(t, srv, r.ID); recs.Error == "" {
			t.Errorf("%s: /api/run has no error", n)
		}
	}
	if r := runOf(t, l, "header"); r.Records != 1 || r.Error != "" {
		t.Errorf("a header line without a step: %d records, error %q; want 1 and none", r.Records, r.Error)
	}
	if r := runOf(t, l, "foreign"); !strings.Contains(r.Error, "not a metrics.jsonl of clinic") {
		t.Errorf("foreign: %q", r.Error)
	}
}

// The board serves its page, its assets and its JSON; nothing else:
// no file by path, no path with .. or escapes, no other method.
func TestRefusals(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	secret := "SECRET-OUTSIDE-THE-ROOT"
	os.WriteFile(filepath.Join(outside, "metrics.jsonl"), []byte(`{"step":1,"loss":1,"note":"`+secret+`"}`+"\n"), 0o644)
	os.WriteFile(filepath.Join(outside, "secret.txt"), []byte(secret), 0o644)
	appendRecords(t, filepath.Join(root, "run"), 1, 2)
	// A link to a directory outside the root, and a run whose metrics
	// file links outside it.
	if err := os.Symlink(outside, filepath.Join(root, "linked")); err != nil {
		t.Skip("no symlinks:", err)
	}
	os.MkdirAll(filepath.Join(root, "sly"), 0o755)
	os.Symlink(filepath.Join(outside, "metrics.jsonl"), filepath.Join(root, "sly", metricsFile))
	os.Symlink(filepath.Join(outside, "secret.txt"), filepath.Join(root, "sly", profileFile))
	os.Symlink(filepath.Join(outside, "secret.txt"), filepath.Join(root, "sly", "model.safetensors"))
	srv := newServer(t, root)

	for _, p := range []string{
		"/..", "/../", "/../secret.txt", "/%2e%2e/secret.txt", "/%2e%2e%2fsecret.txt", "/..%2fsecret.txt",
		"/run/metrics.jsonl", "/run%2fmetrics.jsonl", "/%2fetc%2fpasswd", "//etc/passwd", "/etc/passwd",
		"/static/app.js", "/static/", "/api/run", "/api/run?id=", "/api/run?id=0:../" + filepath.Base(outside),
		"/api/run?id=0:linked", "/api/run?id=0:" + url(outside), "/api/run?id=0:/etc", "/api/run?id=1:run",
		"/api/run?id=x:run", "/api/run?id=0:run/../run", "/api/run?id=0%3Arun%2F..%2Frun", "/api/run/../runs",
		"/app.js/..", "/index.html/", "/api/runs/",
	} {
		code, body := get(t, srv, p)
		if code == 200 || code/100 != 4 {
			t.Errorf("GET %s: %d, want 404 or 403", p, code)
		}
		if strings.Contains(body, secret) {
			t.Errorf("GET %s served a file outside the root", p)
		}
	}
	l := list(t, srv)
	for _, r := range l.Runs {
		if strings.Contains(r.Name, "linked") {
			t.Errorf("a run behind a link out of the root is listed: %s", r.Name)
		}
	}
	if r := runOf(t, l, "sly"); !strings.Contains(r.Error, "symbolic link out of") || r.Records != 0 {
		t.Errorf("a metrics file linking out of the root: error %q, %d records", r.Error, r.Records)
	}
	if r := runOf(t, l, "sly"); !strings.Contains(r.ProfileError, "symbolic link out of") || len(r.Checkpoints) != 1 || !strings.Contains(r.Checkpoints[0].Error, "symbolic link out of") {
		t.Errorf("a profile and a checkpoint linking out of the root: %q, %+v", r.ProfileError, r.Checkpoints)
	}
	if _, body := get(t, srv, "/api/runs"); strings.Contains(body, secret) {
		t.Error("/api/runs shows a file outside the root")
	}
	if code, body := get(t, srv, "/api/run?id="+runOf(t, l, "sly").ID); code != http.StatusForbidden || strings.Contains(body, secret) {
		t.Errorf("/api/run of a metrics file linking out of the root: %d %q, want 403", code, body)
	}
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS"} {
		req, _ := http.NewRequest(m, srv.URL+"/api/runs", strings.NewReader("{}"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s /api/runs: %d, want 405", m, resp.StatusCode)
		}
	}
	for _, p := range []string{"/", "/app.js", "/style.css", "/api/runs", "/api/run?id=" + runOf(t, l, "run").ID} {
		if code, _ := get(t, srv, p); code != 200 {
			t.Errorf("GET %s: %d", p, code)
		}
		resp, err := http.Head(srv.URL + p)
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("HEAD %s: %v %v", p, resp.StatusCode, err)
		}
	}
}

func url(p string) string { return strings.ReplaceAll(p, "/", "%2F") }

// The board writes nothing: after it served every endpoint the tree is
// as it was, file for file.
func TestReadOnly(t *testing.T) {
	root := t.TempDir()
	sweep := filepath.Join(root, "sweep")
	appendRecords(t, filepath.Join(sweep, "runs", "admin-L2"), 1, 5)
	os.WriteFile(filepath.Join(sweep, sweepFlagsFile), []byte(`{"steps":"5"}`), 0o644)
	snap := func() string {
		var b strings.Builder
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			st, _ := os.Lstat(p)
			fmt.Fprintf(&b, "%s %v %d %v\n", p, st.Mode(), st.Size(), st.ModTime().UnixNano())
			return nil
		})
		return b.String()
	}
	before := snap()
	srv := newServer(t, root, filepath.Join(t.TempDir(), "not-yet"))
	l := list(t, srv)
	records(t, srv, l.Runs[0].ID)
	get(t, srv, "/")
	if after := snap(); after != before {
		t.Errorf("the board changed its root:\n%s\nwas\n%s", after, before)
	}
	if l.Roots[1].Error == "" {
		t.Error("a root that does not exist yet has no note")
	}
	if len(l.Sweeps) != 1 || len(l.Sweeps[0].Runs) != 1 || l.Sweeps[0].Flags["steps"] != "5" || l.Runs[0].Sweep != l.Sweeps[0].ID {
		t.Errorf("sweep: %+v, run %+v", l.Sweeps, l.Runs[0])
	}
}

// A run's flags (from its trainer state's header), Admin ω profile and
// checkpoints (with their steps) are on its card.
func TestFlagsProfileCheckpoints(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "mt")
	appendRecords(t, dir, 1, 2)
	flags := `{"norm":{"value":"admin","changed":true},"steps":{"value":"2"}}`
	w := []float32{1, 2}
	if err := safetensors.WriteFile(filepath.Join(dir, stateFile), &safetensors.File{
		Metadata: map[string]string{"format": "clinic-trainer-state/2", "run.flags": flags},
		Tensors:  []*safetensors.Tensor{safetensors.NewF32("w.x", []int{2}, w)}}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"model.safetensors", "checkpoint2.safetensors"} {
		safetensors.WriteFile(filepath.Join(dir, n), &safetensors.File{Metadata: map[string]string{"step": "2"},
			Tensors: []*safetensors.Tensor{safetensors.NewF32("x", []int{2}, w)}})
	}
	os.WriteFile(filepath.Join(dir, "model_best.safetensors"), []byte("not safetensors"), 0o644)
	pr := &admin.Profile{Format: "clinic-admin-profile/1", Method: "profiled", Layers: 1, Omega: []float64{1, 1.5, 1.7},
		EncoderLayers: 1, EncoderOmega: []float64{1, 1.4}}
	if err := pr.Save(filepath.Join(dir, profileFile)); err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, root)
	r := runOf(t, list(t, srv), "mt")
	var f map[string]struct {
		Value   string
		Changed bool
	}
	if err := json.Unmarshal(r.Flags, &f); err != nil || f["norm"].Value != "admin" || !f["norm"].Changed || r.FlagsError != "" {
		t.Errorf("flags %s (%v, %q)", r.Flags, err, r.FlagsError)
	}
	if r.Profile == nil || len(r.Profile.Omega) != 3 || len(r.Profile.EncoderOmega) != 2 {
		t.Errorf("profile %+v (%q)", r.Profile, r.ProfileError)
	}
	var got []string
	for _, c := range r.Checkpoints {
		got = append(got, fmt.Sprintf("%s:%s:%v", c.Name, c.Step, c.Error != ""))
	}
	if want := "checkpoint2.safetensors:2:false model.safetensors:2:false model_best.safetensors::true"; strings.Join(got, " ") != want {
		t.Errorf("checkpoints %q, want %q", strings.Join(got, " "), want)
	}
	// A broken profile is an error on the card.
	os.WriteFile(filepath.Join(dir, profileFile), []byte("{"), 0o644)
	if r := runOf(t, list(t, srv), "mt"); r.Profile != nil || !strings.Contains(r.ProfileError, profileFile) {
		t.Errorf("broken profile: %+v %q", r.Profile, r.ProfileError)
	}
}

// The page and its assets are embedded and load nothing from the
// network.
func TestAssetsLocal(t *testing.T) {
	srv := newServer(t, t.TempDir())
	for _, p := range []string{"/", "/app.js", "/style.css"} {
		_, body := get(t, srv, p)
		for _, bad := range []string{"http://", "https://", "//cdn", "@import"} {
			if strings.Contains(strings.ReplaceAll(body, "http://www.w3.org/2000/svg", ""), bad) {
				t.Errorf("%s refers to %q", p, bad)
			}
		}
	}
}

// A root that is a file is refused.
func TestNewRefusesFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, nil, 0o644)
	if _, err := New([]string{p}); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("New(file): %v", err)
	}
}
