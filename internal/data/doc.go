// Package data loads training text and parallel corpora and turns them
// into batches.
//
// # Language modelling
//
// Tokens are the bytes of the UTF-8 text as int32 values 0..255, so the
// vocabulary has Vocab = 256 entries and every byte sequence encodes
// without loss.
//
// Training batches come from a Sampler, which draws random windows with
// its own seeded PRNG (SplitMix64), so a seed fixes the batch sequence
// on every platform. Evaluation batches come from an Eval, which cuts
// the data into contiguous, non-overlapping windows from the start, so
// every evaluation sees exactly the same tokens.
//
// # Translation
//
// LoadTSV and LoadAligned read a parallel corpus as Pairs of sentences,
// rejecting with a file:line error anything that would silently
// misalign it. After tokenization (elsewhere), PairBatcher cuts the
// examples into batches by token count rather than by sentence count —
// sentences vary from 2 to 200 tokens, and a fixed number of them per
// batch would either waste most of a batch on padding or overflow
// memory on the longest. Following fairseq, examples are sorted by
// length so that a batch holds sentences of similar length, and the
// order of the (fixed) batches is shuffled each epoch. The position in
// that sequence is a small PairState, so a resumed run continues with
// exactly the batches it would have seen. PairEval gives validation and
// test batches in a fixed order, with the example indices needed to put
// translations back in input order.
package data
