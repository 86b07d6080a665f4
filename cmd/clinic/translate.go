package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/clinic-ml/clinic/internal/atomicfile"
	"github.com/clinic-ml/clinic/internal/fileutil"
	"github.com/clinic-ml/clinic/internal/limits"
	"github.com/clinic-ml/clinic/internal/translate"
	"github.com/clinic-ml/clinic/model"
)

func runTranslate(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("translate", "Translate source sentences, one per line, with an encoder–decoder checkpoint\n"+
		"('clinic train --task translate') by beam search as fairseq-generate does. Empty\n"+
		"lines give empty lines; lines longer than the model's seq-len in subword tokens\n"+
		"are truncated with a warning.", stdout)
	ckpt := fs.String("checkpoint", "runs/latest/model.safetensors", "translation checkpoint to load")
	input := fs.String("input", "-", "source sentences, one per line (\"-\": stdin)")
	output := fs.String("output", "-", "where to write the translations, one per line in input order (\"-\": stdout)")
	beam := fs.Int("beam", 5, "beam size (1: greedy)")
	lenpen := fs.Float64("lenpen", 1, "length penalty: hypotheses are scored Σ log p / length^lenpen")
	maxLenA := fs.Float64("max-len-a", 0, "outputs have at most a·srclen + b tokens (srclen with its EOS; capped by seq-len)")
	maxLenB := fs.Int("max-len-b", 200, "see --max-len-a")
	batch := fs.Int("batch-size", 32, "sentences decoded at once")
	var sh shared
	sh.take(fs, "threads")
	if err := parse(fs, args); err != nil {
		return err
	}
	// "-" (or nothing) is stdin and stdout, as bleu's --hyp -.
	toStdout := *output == "" || *output == "-"
	if !toStdout {
		if err := fileutil.CheckOutput(*output); err != nil {
			return err
		}
	}
	if err := outputNotInput("output", *output, stdout, *input, *ckpt); err != nil {
		return err
	}
	if err := checkDecodeFlags(*beam, *lenpen, *maxLenA, *maxLenB); err != nil {
		return err
	}
	if err := limits.CheckSize("batch-size", *batch, 1, limits.MaxBatch); err != nil {
		return err
	}
	if err := limits.CheckThreads(sh.threads); err != nil {
		return err
	}
	pool, err := sh.pool()
	if err != nil {
		return err
	}
	defer pool.Close()

	name, text := "stdin", []byte(nil)
	if *input != "" && *input != "-" {
		name = *input
		if text, err = fileutil.ReadRegular(*input, fileutil.MaxText); err != nil {
			return err
		}
	} else if text, err = fileutil.ReadAll(stdin, name, fileutil.MaxText); err != nil {
		return err
	}
	lines := splitLines(text)
	for i, l := range lines {
		if !utf8.ValidString(l) {
			return fmt.Errorf("%s:%d: not valid UTF-8", name, i+1)
		}
	}

	p, codes, err := translate.Load(*ckpt)
	if err != nil {
		return err
	}
	cfg := p.Cfg
	var srcs [][]int32
	var which []int // srcs[k] translates lines[which[k]]
	for i, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		ids, n := translate.SourceIDs(codes, l, cfg.SeqLen)
		if n > cfg.SeqLen-1 {
			fmt.Fprintf(stderr, "clinic translate: warning: %s:%d has %d subword tokens, truncated to the model's %d\n",
				name, i+1, n, cfg.SeqLen-1)
		}
		srcs = append(srcs, ids)
		which = append(which, i)
	}
	out := make([]string, len(lines))
	if len(srcs) > 0 {
		nb := min(*batch, len(srcs))
		maxHyp, err := limits.SizeProduct("--batch-size × --beam", nb, *beam)
		if err != nil {
			return err
		}
		if err := limits.CheckFits("translating with "+*ckpt, model.TranslatorBytes(cfg, nb, maxHyp), "use a smaller --batch-size or --beam"); err != nil {
			return err
		}
		opt := translate.Options(cfg, *beam, *lenpen)
		opt.MaxLenA, opt.MaxLenB = *maxLenA, *maxLenB
		hyps, err := translate.Sentences(p, codes, srcs, nb, maxHyp, opt, pool)
		if err != nil {
			return err
		}
		for k, h := range hyps {
			out[which[k]] = h
		}
	}
	var buf bytes.Buffer
	for _, s := range out {
		// A translation is one line: a model could emit a newline token.
		buf.WriteString(strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s))
		buf.WriteByte('\n')
	}
	if toStdout {
		_, err := stdout.Write(buf.Bytes())
		return err
	}
	if err := atomicfile.WriteFile(*output, buf.Bytes()); err != nil {
		return fmt.Errorf("writing %s: %v", *output, fileutil.Cause(err))
	}
	return nil
}

// splitLines splits text into lines without their "\n" or "\r\n"; a
// final newline does not start another line.
func splitLines(text []byte) []string {
	if len(text) == 0 {
		return nil
	}
	s := strings.TrimSuffix(string(text), "\n")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	return lines
}
