// Package data loads training text, splits it into training and
// validation parts, and turns it into batches of byte-level tokens.
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
package data
