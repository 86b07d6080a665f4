package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/clinic-ml/clinic/internal/bleu"
	"github.com/clinic-ml/clinic/internal/fileutil"
)

func runBLEU(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bleu", "Score detokenized translations with BLEU exactly as sacreBLEU 2.x does, one segment per line.\n"+
		"The hypothesis is read from stdin when --hyp is omitted or \"-\". For fairseq's tokenized BLEU\n"+
		"(the number most papers report) give already tokenized files with --tokenize none --smooth none.\n"+
		"References may also follow the flags, as with sacrebleu: clinic bleu REF1 [REF2 ...] < HYP.", stdout)
	refs := fs.StringArray("ref", nil, "reference file, one segment per line (repeat for multiple references)")
	hyp := fs.String("hyp", "-", "hypothesis file, line-aligned with the references (\"-\": stdin)")
	tok := fs.String("tokenize", bleu.Tok13a, "tokenizer: 13a (mteval-v13a, sacreBLEU's default) or none (split on whitespace)")
	lc := fs.Bool("lowercase", false, "case-insensitive BLEU")
	smooth := fs.String("smooth", bleu.SmoothExp, "smoothing: exp, none, floor or add-k")
	smoothValue := fs.Float64("smooth-value", 0, "value for floor (default 0.1) or add-k (default 1)")
	width := fs.Int("width", 1, "decimals of the score (sacrebleu's default is 1)")
	asJSON := fs.Bool("json", false, "print a JSON object instead of the score line")
	if err := parseFiles(fs, args); err != nil {
		return err
	}
	// sacrebleu takes its references as arguments (sacrebleu REF < HYP),
	// so a user coming from it, or writing --ref r1 r2, gets the same.
	*refs = append(*refs, fs.Args()...)
	o := bleu.Options{Tokenize: *tok, Lowercase: *lc, Smooth: *smooth}
	if err := o.Validate(); err != nil {
		return usageError{Msg: err.Error()}
	}
	if fs.Changed("smooth-value") {
		// checked apart, so that its refusal names the flag
		o.SmoothValue = bleu.Float(*smoothValue)
		if err := o.Validate(); err != nil {
			return usagef("--smooth-value %g: %v", *smoothValue, err)
		}
	}
	switch {
	case len(*refs) == 0:
		return usagef("a reference is required: --ref FILE, or FILE after the flags")
	case *width < 0 || *width > 15:
		return usagef("--width must be between 0 and 15, got %d", *width)
	}
	for _, r := range *refs {
		if r == "" || r == "-" {
			return usagef("--ref must name a file (only the hypothesis can come from stdin)")
		}
	}

	if err := stdoutNotInput(stdout, append(*refs, *hyp)...); err != nil {
		return err
	}
	// References first: a missing reference should be reported before
	// the command waits for a hypothesis on stdin.
	streams := make([][]string, len(*refs))
	for k, r := range *refs {
		var err error
		if streams[k], err = readSegments(r); err != nil {
			return err
		}
	}
	hypName := *hyp
	if hypName == "" {
		hypName = "-"
	}
	hyps, err := readSegments(hypName)
	if err != nil {
		return err
	}
	if len(hyps) == 0 {
		return fmt.Errorf("%s: no lines to score", displayName(hypName))
	}
	for k, r := range *refs {
		if len(streams[k]) != len(hyps) {
			return fmt.Errorf("line count mismatch: %s has %d, %s has %d (hypothesis and references must be line-aligned)",
				displayName(hypName), len(hyps), r, len(streams[k]))
		}
	}
	s, err := bleu.Corpus(hyps, streams, o)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeBLEUJSON(stdout, s, *width)
	}
	_, err = fmt.Fprintln(stdout, s.Line(*width))
	return err
}

func displayName(path string) string {
	if path == "-" {
		return "stdin"
	}
	return path
}

// readSegments reads one segment per line as the sacrebleu command does:
// lines end at "\n" only, so a stray "\r" or U+2028 inside a line does
// not shift the alignment (bleu drops trailing whitespace, a "\r" of CRLF
// files included). A directory or FIFO is refused before it is opened, so
// a mistyped path cannot hang the command.
func readSegments(path string) ([]string, error) {
	var b []byte
	if path == "-" {
		var err error
		if b, err = fileutil.ReadAll(stdin, "stdin", fileutil.MaxText); err != nil {
			return nil, err
		}
	} else {
		var err error
		if b, err = fileutil.ReadRegular(path, fileutil.MaxText); err != nil {
			if st, serr := os.Stat(path); serr == nil && !st.IsDir() && !st.Mode().IsRegular() {
				// Reading a FIFO whose writer never comes would hang;
				// stdin is the way to pipe a hypothesis in.
				err = fmt.Errorf("%v (pipe a hypothesis to stdin with --hyp -)", err)
			}
			return nil, err
		}
	}
	if len(b) == 0 {
		return nil, nil
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if !utf8.ValidString(l) {
			return nil, fmt.Errorf("%s:%d: invalid UTF-8", displayName(path), i+1)
		}
	}
	return lines, nil
}

// bleuJSON follows the fields of `sacrebleu --format json` and adds the
// unrounded statistics, so scripts need not parse the verbose string.
type bleuJSON struct {
	Name         string      `json:"name"`
	Score        json.Number `json:"score"`
	Signature    string      `json:"signature"`
	VerboseScore string      `json:"verbose_score"`
	NRefs        string      `json:"nrefs"`
	Case         string      `json:"case"`
	Eff          string      `json:"eff"`
	Tok          string      `json:"tok"`
	Smooth       string      `json:"smooth"`
	Version      string      `json:"version"`
	BLEU         float64     `json:"bleu"`
	Precisions   []float64   `json:"precisions"`
	BP           float64     `json:"bp"`
	Ratio        float64     `json:"ratio"`
	HypLen       int         `json:"hyp_len"`
	RefLen       int         `json:"ref_len"`
	Counts       []int       `json:"counts"`
	Totals       []int       `json:"totals"`
}

func writeBLEUJSON(w io.Writer, s bleu.Score, width int) error {
	j := bleuJSON{
		Name:         "BLEU",
		Score:        json.Number(fmt.Sprintf("%.*f", width, s.Score)),
		Signature:    s.Signature(),
		VerboseScore: s.Verbose(),
		BLEU:         s.Score,
		Precisions:   s.Precisions,
		BP:           s.BP,
		Ratio:        s.Ratio,
		HypLen:       s.SysLen,
		RefLen:       s.RefLen,
		Counts:       s.Counts,
		Totals:       s.Totals,
	}
	fields := map[string]*string{"nrefs": &j.NRefs, "case": &j.Case, "eff": &j.Eff, "tok": &j.Tok, "smooth": &j.Smooth, "version": &j.Version}
	for _, kv := range strings.Split(j.Signature, "|") {
		k, v, _ := strings.Cut(kv, ":")
		if p := fields[k]; p != nil {
			*p = v
		}
	}
	b, err := json.MarshalIndent(j, "", " ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}
