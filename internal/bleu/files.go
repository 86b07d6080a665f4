package bleu

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/clinic-ml/clinic/internal/fileutil"
)

// Files scores the hypothesis file hyp ("-": stdin) against the
// reference files refs, one segment per line, line-aligned: a missing
// reference is reported before the hypothesis is read from stdin.
func Files(refs []string, hyp string, stdin io.Reader, o Options) (Score, error) {
	// References first: a missing reference should be reported before
	// the command waits for a hypothesis on stdin.
	streams := make([][]string, len(refs))
	for k, r := range refs {
		var err error
		if streams[k], err = readSegments(stdin, r); err != nil {
			return Score{}, err
		}
	}
	hypName := hyp
	if hypName == "" {
		hypName = "-"
	}
	hyps, err := readSegments(stdin, hypName)
	if err != nil {
		return Score{}, err
	}
	if len(hyps) == 0 {
		return Score{}, fmt.Errorf("%s: no lines to score", displayName(hypName))
	}
	for k, r := range refs {
		if len(streams[k]) != len(hyps) {
			return Score{}, fmt.Errorf("line count mismatch: %s has %d, %s has %d (hypothesis and references must be line-aligned)",
				displayName(hypName), len(hyps), r, len(streams[k]))
		}
	}
	return Corpus(hyps, streams, o)
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
func readSegments(stdin io.Reader, path string) ([]string, error) {
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
type jsonScore struct {
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

// JSON is s as `sacrebleu --format json` prints it (score to width
// decimals), with the unrounded statistics added, so scripts need not
// parse the verbose string.
func JSON(s Score, width int) ([]byte, error) {
	j := jsonScore{
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
	return json.MarshalIndent(j, "", " ")
}
