// Package tokenizer encodes text to token ids with a Hugging Face
// tokenizer.json file, giving the ids that the Rust tokenizers library
// gives, and so the ids of transformers' fast tokenizers:
// Encode(text) equals tokenizer(text)["input_ids"] and EncodeRaw(text)
// equals tokenizer(text, add_special_tokens=False)["input_ids"].
//
// Encoding follows the Rust pipeline step by step: added tokens are split
// out of the text (first those matched on the raw text, then, after the
// normalizer has run on each remaining piece, those matched on the
// normalized text), the pre-tokenizer splits the pieces into words, the
// model turns each word into ids, and the post-processor adds special
// tokens.
//
// Supported components:
//
//   - model: BPE, with vocab and merges ("a b" strings or ["a","b"]
//     pairs), unk_token, fuse_unk, byte_fallback (<0xAB> tokens),
//     ignore_merges, continuing_subword_prefix and end_of_word_suffix.
//     dropout is ignored: ids are those of dropout 0. WordPiece (BERT's),
//     with unk_token, continuing_subword_prefix and
//     max_input_chars_per_word.
//   - added_tokens, with their lstrip, rstrip, single_word and normalized
//     flags.
//   - normalizers: Sequence, Prepend, Replace, NFC, NFD, NFKC, NFKD,
//     Lowercase, Strip, StripAccents, ByteLevel and BertNormalizer.
//   - pre-tokenizers: ByteLevel, Split, Metaspace, Digits, Sequence,
//     Whitespace, WhitespaceSplit, Punctuation and BertPreTokenizer.
//   - post-processors: TemplateProcessing (single template),
//     BertProcessing, RobertaProcessing, ByteLevel and Sequence.
//
// Regular expressions (Split and Replace with a Regex pattern) are written
// for Oniguruma, which Go's regexp cannot run in general. The GPT-2,
// Llama-3 (cl100k) and Qwen2 patterns are matched by hand-written code.
// Other patterns are translated to Go's syntax where the meaning is kept
// (\s and \d are made Unicode-wide, $ ends a line, \S may stand in a
// class) and a top-level alternative \s+(?!\S) is run by hand, which
// covers patterns such as GPT-4o's and DeepSeek's. A pattern that cannot
// be translated (other lookaround, possessive quantifiers, atomic groups,
// backreferences, \w, \b, ^, nested classes) is rejected by Parse with an
// error naming it.
//
// Added tokens take their ids as the Rust library gives them: the id of
// their content in the model's vocabulary, or else the next id from the
// size of the vocabulary, in the order of the file; the ids written in
// the file are not read.
//
// Not supported, and rejected by Parse with an error: the Unigram and
// WordLevel models, the Precompiled and Nmt normalizers, and the
// UnicodeScripts, FixedLength and CharDelimiterSplit pre-tokenizers. The decoder, truncation and padding
// sections are ignored, as transformers does by default for a single text.
//
// Known small differences from Rust: Unicode tables are those of Go
// (Unicode 15.0) rather than Rust's and Oniguruma's; case-insensitive
// regular expressions other than the hand-written ones use simple case
// folding; Metaspace's prepend_scheme "first" prepends to the piece that
// starts the text, judged by its position in the normalized piece rather
// than by Rust's alignment of inserted characters; invalid UTF-8 in the
// text is read as U+FFFD, one per bad byte.
package tokenizer
