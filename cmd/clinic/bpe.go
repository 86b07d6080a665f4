package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/clinic-ml/clinic/internal/atomicfile"
	"github.com/clinic-ml/clinic/internal/bpe"
	"github.com/clinic-ml/clinic/internal/fileutil"
	"github.com/clinic-ml/clinic/internal/limits"
	"github.com/clinic-ml/clinic/internal/rundir"
	"github.com/spf13/pflag"
)

const bpeSynopsis = `Learn, apply and invert a joint BPE subword vocabulary.

  clinic bpe learn  --merges N --out codes.bpe FILE...   learn codes from text
  clinic bpe encode --codes codes.bpe [--ids]            stdin lines → subword tokens
  clinic bpe decode --codes codes.bpe [--ids]            subword tokens → text lines`

func runBPE(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("missing subcommand: learn, encode or decode")
	}
	switch args[0] {
	case "learn":
		return runBPELearn(args[1:], stdout)
	case "encode":
		return runBPEEncode(args[1:], stdout)
	case "decode":
		return runBPEDecode(args[1:], stdout)
	case "-h", "--help", "help":
		fmt.Fprintf(stdout, "Usage: clinic bpe <subcommand> [flags]\n\n%s\n\nRun 'clinic bpe <subcommand> --help' for its flags.\n", bpeSynopsis)
		return pflag.ErrHelp
	}
	return usagef("unknown subcommand %q: want learn, encode or decode", args[0])
}

func runBPELearn(args []string, stdout io.Writer) error {
	fs := newFlags("bpe learn", "Learn a joint BPE vocabulary (subword-nmt's algorithm) from text files with one\nsentence per line (.gz read as gzip), and write its codes atomically.\n\n  clinic bpe learn --merges N [--min-frequency F] --out codes.bpe FILE... [--tsv FILE --columns 2,3]", stdout)
	d := bpe.DefaultOptions()
	merges := fs.Int("merges", 10000, "merges to learn (fewer if pairs run out)")
	minFreq := fs.Int("min-frequency", d.MinFrequency, "stop when the best pair occurs fewer times")
	minChar := fs.Int("min-char-frequency", d.MinCharFrequency, "characters seen fewer times are encoded as bytes")
	out := fs.String("out", "codes.bpe", "codes file to write")
	tsv := fs.String("tsv", "", "also read a tab-separated file (.gz read as gzip)")
	columns := fs.String("columns", "2,3", "with --tsv: the 1-based columns to learn from")
	if err := parseFiles(fs, args); err != nil {
		return err
	}
	// 0 merges is a character-level vocabulary, as train --bpe-merges 0.
	if err := limits.CheckSize("merges", *merges, 0, bpe.MaxMerges); err != nil {
		return err
	}
	if err := limits.CheckSize("min-frequency", *minFreq, 1, math.MaxInt); err != nil {
		return err
	}
	if err := limits.CheckSize("min-char-frequency", *minChar, 1, math.MaxInt); err != nil {
		return err
	}
	cols, err := parseColumns(*columns)
	if err != nil {
		return err
	}
	if fs.Changed("columns") && *tsv == "" {
		return usagef("--columns needs --tsv")
	}
	if fs.NArg() == 0 && *tsv == "" {
		return usagef("no input: give text FILEs or --tsv FILE")
	}
	if *out == "" {
		return usagef("--out must not be empty")
	}
	if err := fileutil.CheckOutput(*out); err != nil {
		return err
	}
	if err := rundir.NotInput("out", *out, append(fs.Args(), *tsv)...); err != nil {
		return err
	}
	start := time.Now()
	lines, err := bpe.CorpusLines(fs.Args(), *tsv, cols, fs.Changed("columns"))
	if err != nil {
		return err
	}
	codes, err := bpe.Learn(lines, *merges, bpe.Options{MinFrequency: *minFreq, MinCharFrequency: *minChar})
	if err != nil {
		return err
	}
	text, err := codes.MarshalText()
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(*out, text); err != nil {
		return fmt.Errorf("%s: %v", *out, fileutil.Cause(err))
	}
	note := ""
	if codes.NumMerges() < *merges {
		note = fmt.Sprintf(" (of %d asked: no more pairs occur %d times)", *merges, *minFreq)
	}
	fmt.Fprintf(stdout, "learned %d merges%s from %d lines: vocabulary %d tokens, %.2f s, wrote %s\n",
		codes.NumMerges(), note, len(lines), codes.Size(), time.Since(start).Seconds(), *out)
	return nil
}

func parseColumns(s string) ([]int, error) {
	var cols []int
	for _, f := range strings.Split(s, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || c < 1 {
			return nil, usagef("--columns %q: want 1-based column numbers separated by commas, like 2,3", s)
		}
		cols = append(cols, c)
	}
	return cols, nil
}

// maxStdinLine bounds a line of standard input in bytes (a variable so
// tests can lower it).
var maxStdinLine = fileutil.MaxText

// eachStdinLine calls fn with each line of standard input (bpe.EachLine).
func eachStdinLine(fn func(n int, line string) error) error {
	return bpe.EachLine(stdin, "stdin", maxStdinLine, fn)
}

func runBPEEncode(args []string, stdout io.Writer) error {
	fs := newFlags("bpe encode", "Encode standard input, line by line, into subword tokens separated by spaces\n(▁ marks a space, <0xAB> a byte; a backslash escapes \\, a leading < and\nwhitespace as \\uXXXX), or into ids with --ids.", stdout)
	path := fs.String("codes", "codes.bpe", "codes file written by clinic bpe learn")
	ids := fs.Bool("ids", false, "print ids instead of tokens")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := rundir.StdoutNotInput(stdout, *path); err != nil {
		return err
	}
	codes, err := bpe.ReadFile(*path)
	if err != nil {
		return err
	}
	w, format := bufio.NewWriter(stdout), codes.FormatTokens
	if *ids {
		format = bpe.FormatIDs
	}
	err = eachStdinLine(func(_ int, line string) error {
		w.WriteString(format(codes.Encode(line)))
		return w.WriteByte('\n')
	})
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	return err
}

func runBPEDecode(args []string, stdout io.Writer) error {
	fs := newFlags("bpe decode", "Decode standard input, line by line, from space-separated subword tokens (or\nids with --ids) back into text.", stdout)
	path := fs.String("codes", "codes.bpe", "codes file written by clinic bpe learn")
	ids := fs.Bool("ids", false, "read ids instead of tokens")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := rundir.StdoutNotInput(stdout, *path); err != nil {
		return err
	}
	codes, err := bpe.ReadFile(*path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(stdout)
	var buf []int32
	err = eachStdinLine(func(n int, line string) error {
		var err error
		if *ids {
			buf, err = bpe.ParseIDs(buf[:0], line, codes.Size())
		} else {
			buf, err = codes.ParseTokens(line)
		}
		if err != nil {
			return fmt.Errorf("stdin:%d: %v", n, err)
		}
		w.WriteString(codes.Decode(buf))
		return w.WriteByte('\n')
	})
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	return err
}
