// Package board is 'clinic board': a local, read-only web page over the
// runs and sweeps in a set of directories, with their curves, flags,
// Admin ω profiles and checkpoints, updated while the runs train.
//
// It reads only what the trainer writes (metrics.jsonl, the trainer
// state's header, admin_profile.json, the checkpoints' names and
// headers, a sweep's sweep_flags.json) and writes nothing. It serves no
// file by path: a run is named by an id that must be one it found under
// its roots, so no request reaches outside them (`..`, encoded slashes,
// absolute paths, symlinks out of a root are all refused).
package board

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/clinic-ml/clinic/admin"
	"github.com/clinic-ml/clinic/internal/fileutil"
	"github.com/clinic-ml/clinic/internal/metrics"
	"github.com/clinic-ml/clinic/internal/rundir"
	"github.com/clinic-ml/clinic/internal/safetensors"
	"github.com/clinic-ml/clinic/internal/train"
)

//go:embed static
var static embed.FS

// Limits of the walk and of what is read: a root holding a whole disk
// is walked only so far, and a metrics file far larger than any run
// writes is an error on its card, not memory without bound.
const (
	maxDepth       = 8
	maxEntries     = 50000
	maxMetrics     = 512 << 20
	maxSmallFile   = 16 << 20
	metricsFile    = train.MetricsFile
	stateFile      = train.StateFile
	profileFile    = train.ProfileFile
	sweepFlagsFile = rundir.SweepFlagsFile
)

// Board is the http.Handler of the board over its roots.
type Board struct {
	roots []string

	mu    sync.Mutex
	cache map[string]*cached // by path: what was read, and when
	walks map[int]*walked    // by root: Records' last walk
}

// walked is a walk of a root, which Records reuses for a second: the
// page asks for each charted run's records right after the list (List
// keeps its walks here too).
type walked struct {
	at   time.Time
	runs []*Run
}

// cached is a file's parse, valid while its size and time are the same.
type cached struct {
	size  int64
	mod   time.Time
	value any
	err   error
}

// New returns the board over roots (none: "runs"). A root that is not a
// directory is an error; one that does not exist yet is watched until it
// does.
func New(roots []string) (*Board, error) {
	if len(roots) == 0 {
		roots = []string{"runs"}
	}
	b := &Board{cache: map[string]*cached{}, walks: map[int]*walked{}}
	for _, r := range roots {
		st, err := os.Stat(r)
		switch {
		case err == nil && !st.IsDir():
			return nil, fmt.Errorf("%s: %s, not a directory", r, fileutil.Kind(st.Mode()))
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			return nil, fileutil.PathError(r, err)
		}
		abs, err := filepath.Abs(r)
		if err != nil {
			return nil, err
		}
		b.roots = append(b.roots, abs)
	}
	return b, nil
}

// Roots are the directories the board serves.
func (b *Board) Roots() []string { return b.roots }

func (b *Board) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:")
	h.Set("Referrer-Policy", "no-referrer")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "the board is read-only: GET and HEAD only", http.StatusMethodNotAllowed)
		return
	}
	// Only these paths exist; anything escaped or dotted is no path of
	// the board's (the raw path is checked too: %2e%2e, %2f).
	p := r.URL.Path
	if r.URL.RawPath != "" || strings.Contains(r.URL.EscapedPath(), "%") || strings.Contains(p, "..") || strings.Contains(p, "//") {
		http.NotFound(w, r)
		return
	}
	switch p {
	case "/", "/index.html":
		serveStatic(w, r, "static/index.html", "text/html; charset=utf-8")
	case "/app.js":
		serveStatic(w, r, "static/app.js", "text/javascript; charset=utf-8")
	case "/style.css":
		serveStatic(w, r, "static/style.css", "text/css; charset=utf-8")
	case "/api/runs":
		writeJSON(w, b.List())
	case "/api/run":
		rec, ok := b.Records(r.URL.Query().Get("id"))
		switch {
		case !ok:
			http.Error(w, "no such run", http.StatusNotFound)
		case rec.outside:
			http.Error(w, rec.Error, http.StatusForbidden)
		default:
			writeJSON(w, rec)
		}
	default:
		http.NotFound(w, r)
	}
}

func serveStatic(w http.ResponseWriter, r *http.Request, name, ctype string) {
	data, err := static.ReadFile(name)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", "no-cache")
	if r.Method == http.MethodGet {
		w.Write(data)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(data)
}

// List is what /api/runs answers: every root, sweep and run found.
type List struct {
	Roots  []Root   `json:"roots"`
	Sweeps []*Sweep `json:"sweeps"`
	Runs   []*Run   `json:"runs"`
}

// Root is one directory the board serves.
type Root struct {
	Path  string `json:"path"`
	Error string `json:"error,omitempty"`
}

// Sweep is a directory of 'clinic analyze sweep': its flags and runs.
type Sweep struct {
	ID    string            `json:"id"`
	Name  string            `json:"name"`
	Flags map[string]string `json:"flags,omitempty"`
	Error string            `json:"error,omitempty"`
	Runs  []string          `json:"runs"`
}

// Run is one run directory: a directory holding metrics.jsonl.
type Run struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Sweep string `json:"sweep,omitempty"`
	// Records is the number of whole records, LastStep the last one's
	// step; Error is what is wrong with its metrics, if anything.
	Records  int       `json:"records"`
	LastStep *float64  `json:"last_step,omitempty"`
	Modified time.Time `json:"modified"`
	Error    string    `json:"error,omitempty"`
	// Flags are the run's flags as its trainer state records them (name
	// → {value, changed}), or its sweep's.
	Flags        json.RawMessage `json:"flags,omitempty"`
	FlagsError   string          `json:"flags_error,omitempty"`
	Profile      *admin.Profile  `json:"profile,omitempty"`
	ProfileError string          `json:"profile_error,omitempty"`
	Checkpoints  []Checkpoint    `json:"checkpoints"`

	dir, metrics, root string
}

// Checkpoint is a *.safetensors file of a run (not its trainer state).
type Checkpoint struct {
	Name     string    `json:"name"`
	Size     int64     `json:"size"`
	Modified time.Time `json:"modified"`
	Step     string    `json:"step,omitempty"`
	Error    string    `json:"error,omitempty"`
}

// Records is what /api/run answers: one run's whole records.
type Records struct {
	ID      string           `json:"id"`
	Records []map[string]any `json:"records"`
	Error   string           `json:"error,omitempty"`

	outside bool // its metrics file is a link out of its root
}

// List walks the roots afresh and reads what changed since the last
// call.
func (b *Board) List() *List {
	l := &List{Sweeps: []*Sweep{}, Runs: []*Run{}}
	for i, root := range b.roots {
		rt := Root{Path: root}
		at := time.Now()
		sweeps, runs, err := b.walk(i, root)
		if err != nil {
			rt.Error = err.Error()
		}
		b.mu.Lock()
		b.walks[i] = &walked{at: at, runs: runs}
		b.mu.Unlock()
		l.Roots = append(l.Roots, rt)
		l.Sweeps = append(l.Sweeps, sweeps...)
		for _, r := range runs {
			b.fill(r)
		}
		l.Runs = append(l.Runs, runs...)
	}
	// What was read of files since removed is forgotten.
	b.mu.Lock()
	for p := range b.cache {
		if _, err := os.Lstat(p); err != nil {
			delete(b.cache, p)
		}
	}
	b.mu.Unlock()
	return l
}

// Records returns the records of the run named id, if the roots hold
// one of that id now.
func (b *Board) Records(id string) (*Records, bool) {
	i, _, ok := splitID(id)
	if !ok || i >= len(b.roots) {
		return nil, false
	}
	b.mu.Lock()
	w := b.walks[i]
	b.mu.Unlock()
	if w == nil || time.Since(w.at) > time.Second || w.find(id) == nil {
		w = &walked{at: time.Now()}
		_, w.runs, _ = b.walk(i, b.roots[i])
		b.mu.Lock()
		b.walks[i] = w
		b.mu.Unlock()
	}
	r := w.find(id)
	if r == nil {
		return nil, false
	}
	recs, err := b.records(r)
	out := &Records{ID: id, Records: recs, outside: inside(r.root, r.metrics) == errOutside}
	if err != nil {
		out.Error = err.Error()
	}
	if out.Records == nil {
		out.Records = []map[string]any{}
	}
	return out, true
}

func (w *walked) find(id string) *Run {
	if w == nil {
		return nil
	}
	for _, r := range w.runs {
		if r.ID == id {
			return r
		}
	}
	return nil
}

// id is a run's or sweep's id: its root's index and its path in it.
func id(root int, rel string) string { return fmt.Sprintf("%d:%s", root, filepath.ToSlash(rel)) }

func splitID(s string) (int, string, bool) {
	n, rel, ok := strings.Cut(s, ":")
	var i int
	if !ok || len(n) == 0 || len(n) > 4 {
		return 0, "", false
	}
	for _, c := range n {
		if c < '0' || c > '9' {
			return 0, "", false
		}
		i = i*10 + int(c-'0')
	}
	return i, rel, true
}

// walk finds the sweeps and runs under root, not following symbolic
// links to directories (filepath.WalkDir does not), to maxDepth levels
// and maxEntries entries.
func (b *Board) walk(i int, root string) ([]*Sweep, []*Run, error) {
	real, err := filepath.EvalSymlinks(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("%s does not exist (yet)", root)
	}
	if err != nil {
		return nil, nil, fileutil.PathError(root, err)
	}
	var sweeps []*Sweep
	var runs []*Run
	entries := 0
	werr := filepath.WalkDir(real, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // an unreadable directory is skipped
		}
		if entries++; entries > maxEntries {
			return fmt.Errorf("over %d entries: only the first are shown", maxEntries)
		}
		if !d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(real, p)
		if rel != "." && strings.Count(rel, string(filepath.Separator)) >= maxDepth {
			return filepath.SkipDir
		}
		name := rel
		if len(b.roots) > 1 || rel == "." {
			name = filepath.Join(filepath.Base(root), rel)
		}
		name = filepath.ToSlash(name)
		if exists(p, sweepFlagsFile) || exists(p, "sweep.csv") {
			sweeps = append(sweeps, &Sweep{ID: id(i, rel), Name: name, Runs: []string{}})
		}
		if exists(p, metricsFile) {
			runs = append(runs, &Run{ID: id(i, rel), Name: name, dir: p, root: real, metrics: filepath.Join(p, metricsFile), Checkpoints: []Checkpoint{}})
		}
		return nil
	})
	// A run belongs to the sweep whose runs/ it is in.
	for _, r := range runs {
		for _, s := range sweeps {
			if _, rel, _ := splitID(s.ID); filepath.Dir(filepath.Dir(r.dir)) == filepath.Join(real, rel) && filepath.Base(filepath.Dir(r.dir)) == "runs" {
				r.Sweep = s.ID
				s.Runs = append(s.Runs, r.ID)
			}
		}
	}
	for _, s := range sweeps {
		_, rel, _ := splitID(s.ID)
		var err error
		if s.Flags, err = b.sweepFlags(real, filepath.Join(real, rel)); err != nil {
			s.Error = err.Error()
		}
	}
	return sweeps, runs, werr
}

// exists is whether dir holds name (as anything: what it is is checked
// when it is read).
func exists(dir, name string) bool {
	_, err := os.Lstat(filepath.Join(dir, name))
	return err == nil
}

// inside checks that path, its symbolic links followed, is in root (a
// resolved path): a link out of a root is refused.
func inside(root, path string) error {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return fileutil.PathError(path, err)
	}
	if real != root && !strings.HasPrefix(real, root+string(filepath.Separator)) {
		return errOutside
	}
	return nil
}

// relErr is err's message with the paths in it relative to root: a
// card names a run's files, not where the board's directory lies.
func relErr(root string, err error) string {
	return strings.ReplaceAll(err.Error(), root+string(filepath.Separator), "")
}

// errOutside is a file whose links lead out of its root.
var errOutside = errors.New("a symbolic link out of the board's directory (not served)")

// read returns parse(path)'s result, parsed again only when the file's
// size or time changed; the path must be in root.
func (b *Board) read(root, path string, parse func(string) (any, error)) (any, error) {
	if err := inside(root, path); err == errOutside {
		return nil, fmt.Errorf("%s: %w", path, err)
	} else if err != nil {
		return nil, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fileutil.PathError(path, err)
	}
	b.mu.Lock()
	c := b.cache[path]
	b.mu.Unlock()
	if c != nil && c.size == st.Size() && c.mod.Equal(st.ModTime()) {
		return c.value, c.err
	}
	v, err := parse(path)
	b.mu.Lock()
	b.cache[path] = &cached{st.Size(), st.ModTime(), v, err}
	b.mu.Unlock()
	return v, err
}

// records reads a run's metrics: its whole records, a torn last line
// (a run writing it) left out.
func (b *Board) records(r *Run) ([]map[string]any, error) {
	v, err := b.read(r.root, r.metrics, readMetrics)
	if err != nil {
		return nil, errors.New(relErr(r.root, err))
	}
	return v.([]map[string]any), nil
}

func readMetrics(path string) (any, error) {
	st, err := os.Stat(path)
	if err == nil && st.Size() > maxMetrics {
		return nil, fmt.Errorf("%s: %d bytes, over the board's %d MiB limit", path, st.Size(), maxMetrics>>20)
	}
	all, err := metrics.ReadAll(path)
	if err != nil {
		return nil, err
	}
	// A record without a step (a header a later format may add) is not
	// charted; a file with records but no step is someone else's.
	recs := []map[string]any{}
	for _, m := range all {
		if _, ok := m["step"].(float64); ok {
			recs = append(recs, m)
		}
	}
	if len(recs) == 0 && len(all) > 0 {
		return nil, fmt.Errorf("%s: no record has a numeric step (not a metrics.jsonl of clinic)", path)
	}
	return recs, nil
}

// fill reads a run's metrics, flags, profile and checkpoints.
func (b *Board) fill(r *Run) {
	if st, err := os.Stat(r.metrics); err == nil && inside(r.root, r.metrics) == nil {
		r.Modified = st.ModTime()
	}
	recs, err := b.records(r)
	if err != nil {
		r.Error = err.Error()
	}
	r.Records = len(recs)
	if len(recs) > 0 {
		s := recs[len(recs)-1]["step"].(float64)
		r.LastStep = &s
	}
	if p := filepath.Join(r.dir, stateFile); exists(r.dir, stateFile) {
		v, err := b.read(r.root, p, readFlags)
		if err != nil {
			r.FlagsError = relErr(r.root, err)
		} else {
			r.Flags, _ = v.(json.RawMessage)
		}
	}
	if p := filepath.Join(r.dir, profileFile); exists(r.dir, profileFile) {
		v, err := b.read(r.root, p, func(p string) (any, error) { return admin.Load(p) })
		if err != nil {
			r.ProfileError = relErr(r.root, err)
		} else {
			r.Profile = v.(*admin.Profile)
		}
	}
	names, _ := filepath.Glob(filepath.Join(r.dir, "*.safetensors"))
	sort.Strings(names)
	for _, p := range names {
		if filepath.Base(p) == stateFile {
			continue
		}
		c := Checkpoint{Name: filepath.Base(p)}
		v, err := b.read(r.root, p, readStep)
		if err != nil {
			c.Error = relErr(r.root, err)
		} else {
			c.Step = v.(string)
		}
		if st, err := os.Stat(p); err == nil && c.Error == "" {
			c.Size, c.Modified = st.Size(), st.ModTime()
		}
		r.Checkpoints = append(r.Checkpoints, c)
	}
}

// errHeader stops a safetensors read after its header: the board needs
// the metadata only, not the weights.
var errHeader = errors.New("header read")

// header returns the metadata of the safetensors file at path.
func header(path string) (map[string]string, error) {
	var md map[string]string
	_, err := safetensors.ReadFileFunc(path, func(h *safetensors.File) error {
		md = h.Metadata
		return errHeader
	})
	if err != errHeader {
		return nil, err
	}
	return md, nil
}

// readFlags reads the flags a 'clinic train' run records in its trainer
// state ("run.flags": name → {value, changed}).
func readFlags(path string) (any, error) {
	md, err := header(path)
	if err != nil {
		return nil, err
	}
	f := md["run.flags"]
	if f == "" {
		return json.RawMessage(nil), nil // a sweep's run: its sweep's flags
	}
	if !json.Valid([]byte(f)) {
		return nil, fmt.Errorf("%s: its run.flags is not JSON", path)
	}
	return json.RawMessage(f), nil
}

// readStep reads the step a checkpoint's metadata records.
func readStep(path string) (any, error) {
	md, err := header(path)
	if err != nil {
		return nil, err
	}
	return md["step"], nil
}

// sweepFlags reads a sweep's sweep_flags.json (none: no flags).
func (b *Board) sweepFlags(root, dir string) (map[string]string, error) {
	p := filepath.Join(dir, sweepFlagsFile)
	if !exists(dir, sweepFlagsFile) {
		return nil, nil
	}
	v, err := b.read(root, p, func(p string) (any, error) {
		data, err := fileutil.ReadRegular(p, maxSmallFile)
		if err != nil {
			return nil, err
		}
		var m map[string]string
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("%s: %v", p, err)
		}
		return m, nil
	})
	if err != nil {
		return nil, errors.New(relErr(root, err))
	}
	return v.(map[string]string), nil
}
