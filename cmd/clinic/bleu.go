package main

import (
	"fmt"
	"io"

	"github.com/clinic-ml/clinic/internal/bleu"
	"github.com/clinic-ml/clinic/internal/rundir"
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

	if err := rundir.StdoutNotInput(stdout, append(*refs, *hyp)...); err != nil {
		return err
	}
	sc, err := bleu.Files(*refs, *hyp, stdin, o)
	if err != nil {
		return err
	}
	if *asJSON {
		b, err := bleu.JSON(sc, *width)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", b)
		return err
	}
	_, err = fmt.Fprintln(stdout, sc.Line(*width))
	return err
}
