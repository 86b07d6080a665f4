// Package progress shows training progress.
//
// On a terminal a Bar redraws one line in place with "\r", at most ten
// times a second:
//
//	[=========>                    ] 120/1000 12% loss 2.31 val 2.40 1520 tok/s ETA 3m12s
//
// Elsewhere (a log file, CI) it prints a plain line every Every steps:
//
//	step 120/1000 12% loss 2.31 val 2.40 1520 tok/s ETA 3m12s
//
// The status text between the counter and the ETA is the caller's. The
// ETA extrapolates the average time per step since the Bar was created
// (or since SetStart). Output errors are ignored: progress is advisory.
// A Bar is safe for use by several goroutines.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Interval is the minimum time between two redraws on a terminal.
const Interval = 100 * time.Millisecond

// Bar is a progress display for a run of total steps.
type Bar struct {
	// Every is the step interval of the plain lines written when the
	// output is not a terminal. New sets it to max(1, total/100).
	Every int
	// Width is the number of cells of the bar on a terminal (default 30).
	Width int

	mu        sync.Mutex
	w         io.Writer
	total     int
	tty       bool
	now       func() time.Time
	start     time.Time
	startStep int

	step     int    // last step given to Update
	status   string // last status given to Update
	updated  bool   // Update has been called
	line     string // the bar line on screen (tty), "" if none
	lastDraw time.Time
	printed  int  // last step printed as a plain line (non-tty), -1 if none
	finished bool // Finish has been called
}

// New returns a Bar writing to w for a run of total steps (total <= 0
// means unknown: no bar, percentage or ETA). tty selects in-place
// redrawing; pass IsTerminal(f) for an *os.File.
func New(w io.Writer, total int, tty bool) *Bar {
	return newBar(w, total, tty, time.Now)
}

func newBar(w io.Writer, total int, tty bool, now func() time.Time) *Bar {
	every := total / 100
	if every < 1 {
		every = 1
	}
	return &Bar{Every: every, Width: 30, w: w, total: total, tty: tty, now: now, start: now(), printed: -1}
}

// IsTerminal reports whether f is a character device, such as a
// terminal (a good enough test for choosing in-place redrawing).
func IsTerminal(f *os.File) bool {
	if f == nil {
		return false
	}
	st, err := f.Stat()
	if err != nil {
		return false
	}
	return st.Mode()&os.ModeCharDevice != 0
}

// SetStart restarts the ETA clock now, counting step as already done
// (for a run resumed from a checkpoint at that step).
func (b *Bar) SetStart(step int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.start = b.now()
	b.startStep = step
}

// Update records that step steps are done and status describes the
// run, and redraws or prints as due.
func (b *Bar) Update(step int, status string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.finished {
		return
	}
	b.step, b.status, b.updated = step, status, true
	now := b.now()
	if b.tty {
		if b.line == "" || now.Sub(b.lastDraw) >= Interval || (b.total > 0 && step >= b.total) {
			b.draw(now)
		}
		return
	}
	every := b.Every
	if every < 1 {
		every = 1
	}
	if step%every == 0 || (b.total > 0 && step >= b.total) {
		b.printLine(now)
	}
}

// Log prints line on its own line without corrupting the bar: on a
// terminal it clears the bar, prints the line and redraws the bar.
func (b *Bar) Log(line string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	line = strings.TrimRight(line, "\n")
	if b.tty && b.line != "" {
		fmt.Fprintf(b.w, "\r%s\r%s\n%s", strings.Repeat(" ", len(b.line)), line, b.line)
		return
	}
	fmt.Fprintf(b.w, "%s\n", line)
}

// Finish shows the final state and ends the bar's line. Later Updates
// are ignored; Finish may be called more than once.
func (b *Bar) Finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.finished {
		return
	}
	b.finished = true
	if !b.updated {
		return
	}
	now := b.now()
	if b.tty {
		b.draw(now)
		fmt.Fprint(b.w, "\n")
		b.line = ""
		return
	}
	if b.printed != b.step {
		b.printLine(now)
	}
}

// draw redraws the bar line in place, blanking what a longer previous
// line left behind.
func (b *Bar) draw(now time.Time) {
	line := b.bar() + " " + b.text(now)
	pad := ""
	if n := len(b.line) - len(line); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	fmt.Fprintf(b.w, "\r%s%s", line, pad)
	b.line = line
	b.lastDraw = now
}

func (b *Bar) printLine(now time.Time) {
	fmt.Fprintf(b.w, "step %s\n", b.text(now))
	b.printed = b.step
}

// bar renders "[=====>    ]".
func (b *Bar) bar() string {
	if b.total <= 0 {
		return ""
	}
	w := b.Width
	if w < 1 {
		w = 30
	}
	fill := w * clamp(b.step, 0, b.total) / b.total
	var s strings.Builder
	s.WriteByte('[')
	s.WriteString(strings.Repeat("=", fill))
	if fill < w {
		s.WriteByte('>')
		s.WriteString(strings.Repeat(" ", w-fill-1))
	}
	s.WriteByte(']')
	return s.String()
}

// text renders "120/1000 12% <status> ETA 3m12s".
func (b *Bar) text(now time.Time) string {
	var s strings.Builder
	if b.total > 0 {
		fmt.Fprintf(&s, "%d/%d %d%%", b.step, b.total, 100*clamp(b.step, 0, b.total)/b.total)
	} else {
		fmt.Fprintf(&s, "%d", b.step)
	}
	if b.status != "" {
		s.WriteByte(' ')
		s.WriteString(b.status)
	}
	elapsed := now.Sub(b.start)
	switch {
	case b.total > 0 && b.step >= b.total:
		s.WriteString(" done in ")
		s.WriteString(FormatDuration(elapsed))
	case b.total > 0 && b.step > b.startStep && elapsed > 0:
		per := float64(elapsed) / float64(b.step-b.startStep)
		eta := time.Duration(per * float64(b.total-b.step))
		s.WriteString(" ETA ")
		s.WriteString(FormatDuration(eta))
	case b.total > 0:
		s.WriteString(" ETA --")
	default:
		s.WriteString(" elapsed ")
		s.WriteString(FormatDuration(elapsed))
	}
	return s.String()
}

func clamp(x, lo, hi int) int {
	return max(lo, min(x, hi))
}

// FormatDuration renders d compactly, rounded to the second: "45s",
// "3m12s", "2h05m" (minutes rounded), "3d04h" (hours rounded).
func FormatDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	sec := int64(d.Round(time.Second) / time.Second)
	switch {
	case sec < 60:
		return fmt.Sprintf("%ds", sec)
	case sec < 3600:
		return fmt.Sprintf("%dm%02ds", sec/60, sec%60)
	}
	mins := (sec + 30) / 60
	if mins < 24*60 {
		return fmt.Sprintf("%dh%02dm", mins/60, mins%60)
	}
	h := (mins + 30) / 60
	return fmt.Sprintf("%dd%02dh", h/24, h%24)
}
