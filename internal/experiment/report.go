// Package experiment holds clinic's experiments as an API a Go program
// can call: the loop every task's depth sweep shares (Sweep; each task's
// own runs, lm.Sweep and translation.Sweep, sit next to the task, which
// imports this package: it imports no task), the stable learning-rate
// range read from sweeps, and the analyses of the
// amplification effect (output change, gradient norms, residual
// dependency) and of scaling. Each writes a folder with CSV data, PNG
// and SVG figures and a Markdown report, and returns its table; the CLI
// ('clinic analyze') parses the flags, checks the folder and prints.
package experiment

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/clinic-ml/clinic/internal/atomicfile"
	"github.com/clinic-ml/clinic/internal/fileutil"
	"github.com/clinic-ml/clinic/model"
)

// Summary is what an experiment reports on the terminal: its table, and
// a last line (where the report went).
type Summary struct {
	Header []string
	Rows   [][]string
	Note   string
}

// MaxSmallFile bounds the CSV and JSON files clinic reads back from its
// own outputs (sweep.csv, result.json, sweep_flags.json): far more than
// they ever hold, far less than memory.
const MaxSmallFile = 64 << 20

// Report collects an experiment's Markdown report and the files it
// writes.
type Report struct {
	dir   string
	md    strings.Builder
	Files []string
}

// NewReport starts the report of an experiment (title) in dir.
func NewReport(dir, title string) (*Report, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("output folder: %v", fileutil.Cause(err))
	}
	r := &Report{dir: dir}
	fmt.Fprintf(&r.md, "# %s\n\n", title)
	return r, nil
}

// Para adds a paragraph.
func (r *Report) Para(format string, a ...any) {
	fmt.Fprintf(&r.md, format, a...)
	r.md.WriteString("\n\n")
}

// Heading adds a section heading.
func (r *Report) Heading(s string) { fmt.Fprintf(&r.md, "## %s\n\n", s) }

// Table adds a Markdown table.
func (r *Report) Table(header []string, rows [][]string) {
	r.md.WriteString("| " + strings.Join(header, " | ") + " |\n|")
	for range header {
		r.md.WriteString(" --- |")
	}
	r.md.WriteString("\n")
	for _, row := range rows {
		r.md.WriteString("| " + strings.Join(row, " | ") + " |\n")
	}
	r.md.WriteString("\n")
}

// Figure embeds a PNG written by internal/plot and links its SVG.
func (r *Report) Figure(names []string, alt string) {
	r.Files = append(r.Files, names...)
	fmt.Fprintf(&r.md, "![%s](%s)\n\n([SVG](%s))\n\n", alt, names[0], names[1])
}

// Dropped notes, under a figure, the points its chart left out.
func (r *Report) Dropped(n int) {
	if n > 0 {
		r.Para("The figure leaves out %d point(s) that are not finite (a diverged loss) or not positive on a log axis; the CSV files hold every value.", n)
	}
}

// CSV writes a CSV file in the folder.
func (r *Report) CSV(name string, header []string, rows [][]string) error {
	var b strings.Builder
	w := csv.NewWriter(&b)
	w.Write(header)
	w.WriteAll(rows)
	if err := w.Error(); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(r.dir, name), []byte(b.String())); err != nil {
		return fmt.Errorf("writing %s: %v", name, fileutil.Cause(err))
	}
	r.Files = append(r.Files, name)
	return nil
}

// Save writes report.md, ending with the list of files in the folder.
func (r *Report) Save() error {
	r.Heading("Files")
	for _, f := range r.Files {
		fmt.Fprintf(&r.md, "- [%s](%s)\n", f, f)
	}
	if err := atomicfile.WriteFile(filepath.Join(r.dir, "report.md"), []byte(r.md.String())); err != nil {
		return fmt.Errorf("writing report.md: %v", fileutil.Cause(err))
	}
	return nil
}

// Finish saves the report and returns its table and where it went.
func (r *Report) Finish(header []string, rows [][]string) (*Summary, error) {
	if err := r.Save(); err != nil {
		return nil, err
	}
	return &Summary{header, rows, fmt.Sprintf("wrote %s", filepath.Join(r.dir, "report.md"))}, nil
}

// Num formats a value for CSV: shortest exact form.
func Num(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// short formats a value for tables.
func short(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }

// FourPlaces formats a loss kept as a string (it may be NaN) to four
// decimals for tables.
func FourPlaces(v string) string {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return v
	}
	return fmt.Sprintf("%.4f", f)
}

// LayersText is a config's depth: "12 layers", or "6+6 layers" for an
// encoder–decoder.
func LayersText(c model.Config) string {
	if c.EncoderLayers > 0 {
		return fmt.Sprintf("%d+%d layers", c.EncoderLayers, c.Layers)
	}
	return fmt.Sprintf("%d layers", c.Layers)
}

// ModelsText names models of c's depth: "12-layer models", or
// "6+6-layer translators".
func ModelsText(c model.Config) string {
	if c.EncoderLayers > 0 {
		return fmt.Sprintf("%d+%d-layer translators", c.EncoderLayers, c.Layers)
	}
	return fmt.Sprintf("%d-layer models", c.Layers)
}

// ShapeText describes a model shape for reports.
func ShapeText(c model.Config) string {
	return fmt.Sprintf("d_model %d, %d heads, d_ff %d, %s, sequence length %d", c.DModel, c.Heads, c.DFF, c.Activation, c.SeqLen)
}

// NormColor is the variant's color in plotutil's palette (-1 for an
// unknown variant), skipping the palette's sixth color, a red too close
// to the first to tell apart in a legend.
func NormColor(norm string) int {
	i := slices.Index(model.Norms, norm)
	if i >= 5 {
		i++
	}
	return i
}

func toFloats(xs []int) []float64 {
	f := make([]float64, len(xs))
	for i, x := range xs {
		f[i] = float64(x)
	}
	return f
}

// Print writes the summary: its table, aligned, and its last line.
func (s *Summary) Print(w io.Writer) {
	PrintTable(w, s.Header, s.Rows)
	fmt.Fprintln(w, s.Note)
}

// PrintTable writes an aligned text table.
func PrintTable(w io.Writer, header []string, rows [][]string) {
	width := make([]int, len(header))
	for i, h := range header {
		width[i] = len([]rune(h))
	}
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	line := func(cells []string) {
		var b strings.Builder
		for i, c := range cells {
			if i > 0 {
				b.WriteString("  ")
			}
			b.WriteString(c)
			if i < len(cells)-1 {
				b.WriteString(strings.Repeat(" ", width[i]-len([]rune(c))))
			}
		}
		fmt.Fprintln(w, b.String())
	}
	line(header)
	for _, r := range rows {
		line(r)
	}
}

// CommandLine is the command that produced a report.
func CommandLine(name string, args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " \t'\"$") {
			a = strconv.Quote(a)
		}
		q[i] = a
	}
	return strings.TrimSpace("clinic analyze " + name + " " + strings.Join(q, " "))
}

// orDiscard is w, or io.Discard for nil: an experiment's log is
// optional.
func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// PrecisionText names the precision of a model's training GEMMs for
// reports: "bf16" (inputs rounded to bfloat16, fp32 sums) or "fp32".
func PrecisionText(c model.Config) string {
	if c.BF16 {
		return "bf16"
	}
	return "fp32"
}
