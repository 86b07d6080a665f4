package progress

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newTest(total int, tty bool) (*Bar, *bytes.Buffer, *clock) {
	var buf bytes.Buffer
	c := &clock{t: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	return newBar(&buf, total, tty, c.now), &buf, c
}

func TestFormatDuration(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"}, {-time.Second, "0s"}, {1400 * time.Millisecond, "1s"}, {45 * time.Second, "45s"},
		{59600 * time.Millisecond, "1m00s"}, {192 * time.Second, "3m12s"}, {3599 * time.Second, "59m59s"},
		{3600 * time.Second, "1h00m"}, {2*time.Hour + 5*time.Minute + 29*time.Second, "2h05m"},
		{2*time.Hour + 5*time.Minute + 30*time.Second, "2h06m"}, {23*time.Hour + 59*time.Minute + 40*time.Second, "1d00h"},
		{76 * time.Hour, "3d04h"},
	} {
		if got := FormatDuration(c.d); got != c.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", c.d, got, c.want)
		}
	}
}

func TestPlainLines(t *testing.T) {
	b, buf, c := newTest(1000, false)
	b.Every = 100
	for step := 1; step <= 250; step++ {
		c.advance(200 * time.Millisecond)
		b.Update(step, "loss 2.31")
	}
	b.Log("checkpoint saved")
	b.Finish()
	b.Update(260, "ignored")
	b.Finish()
	want := "step 100/1000 10% loss 2.31 ETA 3m00s\n" +
		"step 200/1000 20% loss 2.31 ETA 2m40s\n" +
		"checkpoint saved\n" +
		"step 250/1000 25% loss 2.31 ETA 2m30s\n"
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
}

func TestPlainFinalLine(t *testing.T) {
	b, buf, c := newTest(30, false)
	b.Every = 20
	for step := 1; step <= 30; step++ {
		c.advance(2 * time.Second)
		b.Update(step, "")
	}
	b.Finish() // step 30 already printed: nothing more
	want := "step 20/30 66% ETA 20s\nstep 30/30 100% done in 1m00s\n"
	if buf.String() != want {
		t.Errorf("got %q, want %q", buf.String(), want)
	}
	if New(buf, 1000, false).Every != 10 || New(buf, 50, false).Every != 1 {
		t.Error("default Every")
	}
}

func TestTTY(t *testing.T) {
	b, buf, c := newTest(1000, true)
	b.Width = 10
	b.Update(0, "")
	if got := buf.String(); got != "\r[>         ] 0/1000 0% ETA --" {
		t.Errorf("first draw %q", got)
	}
	buf.Reset()
	// Updates within Interval of the last draw are not drawn.
	c.advance(50 * time.Millisecond)
	b.Update(1, "loss 9")
	if buf.Len() != 0 {
		t.Errorf("redrawn after 50ms: %q", buf.String())
	}
	c.advance(time.Second - 50*time.Millisecond)
	b.Update(120, "loss 2.31 val 2.40 1520 tok/s")
	// 120 steps in 1s -> 880 left at 120/s = 7.33s.
	want := "\r[=>        ] 120/1000 12% loss 2.31 val 2.40 1520 tok/s ETA 7s"
	if got := buf.String(); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	buf.Reset()
	c.advance(time.Second)
	b.Update(500, "short")
	// The shorter line is padded to blank out the old one.
	line := "[=====>    ] 500/1000 50% short ETA 2s"
	want = "\r" + line + strings.Repeat(" ", len(b.bar()+" 120/1000 12% loss 2.31 val 2.40 1520 tok/s ETA 7s")-len(line))
	if got := buf.String(); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	buf.Reset()
	b.Log("eval: val loss 2.40")
	want = "\r" + strings.Repeat(" ", len(line)) + "\reval: val loss 2.40\n" + line
	if got := buf.String(); got != want {
		t.Errorf("Log wrote %q\nwant %q", got, want)
	}
	buf.Reset()
	// The last step is always drawn, even within Interval.
	c.advance(10 * time.Millisecond)
	b.Update(1000, "end")
	b.Finish()
	want = "\r[==========] 1000/1000 100% end done in 2s\r[==========] 1000/1000 100% end done in 2s\n"
	if got := buf.String(); got != want {
		t.Errorf("final %q\nwant  %q", got, want)
	}
}

func TestResumeAndUnknownTotal(t *testing.T) {
	b, buf, c := newTest(1000, false)
	b.Every = 100
	c.advance(time.Hour) // time before SetStart must not count
	b.SetStart(500)
	c.advance(10 * time.Second)
	b.Update(600, "")
	if want := "step 600/1000 60% ETA 40s\n"; buf.String() != want {
		t.Errorf("resumed: %q, want %q", buf.String(), want)
	}

	b, buf, c = newTest(0, false)
	b.Every = 5
	c.advance(65 * time.Second)
	b.Update(5, "loss 1")
	if want := "step 5 loss 1 elapsed 1m05s\n"; buf.String() != want {
		t.Errorf("unknown total: %q, want %q", buf.String(), want)
	}
}

func TestIsTerminal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "x")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if IsTerminal(f) {
		t.Error("regular file reported as a terminal")
	}
	if IsTerminal(nil) {
		t.Error("nil reported as a terminal")
	}
	if null, err := os.Open(os.DevNull); err == nil {
		defer null.Close()
		// /dev/null is a character device; the check is by design coarse.
		if !IsTerminal(null) {
			t.Error("/dev/null is a char device but not reported as one")
		}
	}
}
