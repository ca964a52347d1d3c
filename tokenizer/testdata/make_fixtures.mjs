// make_fixtures.mjs writes the tokenizer.json fixtures of this folder and
// golden.json, the ids that the reference implementation gives for a set
// of texts.
//
// The vocabularies are learned by a small BPE trainer below on corpus.txt.
// The ids are computed by @huggingface/tokenizers, the JavaScript port of
// the Rust tokenizers library, installed outside the repository:
//
//	mkdir -p /tmp/tokref && cd /tmp/tokref && npm init -y &&
//	    npm install @huggingface/tokenizers@0.2.0
//	cd tokenizer/testdata && TOKREF=/tmp/tokref node make_fixtures.mjs
//
// The texts avoid the few places where the JavaScript port is known to
// differ from Rust (see the README of the port and tokenizer_test.go):
// U+FEFF and U+0085 (JavaScript's \s differs from Oniguruma's), the long
// s after an apostrophe, non-ASCII digits with the Digits pre-tokenizer,
// single_word tokens, and a final capital sigma with Lowercase.

import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const tokref = process.env.TOKREF ?? "/tmp/tokref";
const require = createRequire(path.join(tokref, "package.json"));
const { Tokenizer } = require("@huggingface/tokenizers");

const corpus = fs.readFileSync(path.join(here, "corpus.txt"), "utf8");

// ---------------------------------------------------------------------------
// BPE training.

// trainBPE learns numMerges merges on words, a Map from a word's symbols
// joined by \u0000 to its count. Ties go to the smallest pair.
function trainBPE(words, numMerges) {
  const ws = [...words].map(([k, count]) => ({ syms: k.split("\u0000"), count }));
  const merges = [];
  for (let m = 0; m < numMerges; m++) {
    const counts = new Map();
    for (const w of ws) {
      for (let i = 0; i + 1 < w.syms.length; i++) {
        const k = w.syms[i] + "\u0000" + w.syms[i + 1];
        counts.set(k, (counts.get(k) ?? 0) + w.count);
      }
    }
    let best = null;
    let bestCount = 0;
    for (const [k, c] of counts) {
      if (c > bestCount || (c === bestCount && k < best)) {
        best = k;
        bestCount = c;
      }
    }
    if (best === null || bestCount < 2) break;
    const [a, b] = best.split("\u0000");
    merges.push([a, b]);
    for (const w of ws) {
      const out = [];
      for (let i = 0; i < w.syms.length; i++) {
        if (i + 1 < w.syms.length && w.syms[i] === a && w.syms[i + 1] === b) {
          out.push(a + b);
          i++;
        } else {
          out.push(w.syms[i]);
        }
      }
      w.syms = out;
    }
  }
  return merges;
}

// countWords counts the words, each an array of symbols.
function countWords(list) {
  const words = new Map();
  for (const syms of list) {
    if (syms.length === 0) continue;
    const k = syms.join("\u0000");
    words.set(k, (words.get(k) ?? 0) + 1);
  }
  return words;
}

// GPT-2's map from bytes to printable characters.
const byteChars = (() => {
  const bs = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n);
      n++;
    }
  }
  const m = new Array(256);
  bs.forEach((b, i) => (m[b] = String.fromCharCode(cs[i])));
  return { order: bs, map: m };
})();

const utf8 = new TextEncoder();
const byteLevel = (s) => Array.from(utf8.encode(s), (b) => byteChars.map[b]);

// byteLevelModel learns a byte-level vocabulary on the words that the
// regular expression re cuts out of the corpus.
function byteLevelModel(re, numMerges) {
  const words = countWords((corpus.match(re) ?? []).map(byteLevel));
  const merges = trainBPE(words, numMerges);
  const vocab = {};
  let id = 0;
  for (const b of byteChars.order) vocab[byteChars.map[b]] = id++;
  for (const [a, b] of merges) if (!(a + b in vocab)) vocab[a + b] = id++;
  return { vocab, merges, size: id };
}

// sentencePieceModel learns a Llama-2-style vocabulary: <unk>, <s>, </s>,
// the 256 byte tokens, the characters seen at least 3 times, and merges.
function sentencePieceModel(numMerges) {
  const lines = corpus.split("\n");
  const freq = new Map();
  for (const line of lines) {
    for (const c of "▁" + line.replaceAll(" ", "▁")) freq.set(c, (freq.get(c) ?? 0) + 1);
  }
  const chars = [...freq].filter(([c, n]) => n >= 3 && c >= " ").map(([c]) => c).sort();
  const known = new Set(chars);
  const list = [];
  for (const line of lines) {
    const norm = "▁" + line.replaceAll(" ", "▁");
    for (const w of norm.match(/▁*[^▁]+|▁+/gu) ?? []) {
      let syms = [];
      for (const c of w) {
        if (known.has(c)) {
          syms.push(c);
        } else {
          list.push(syms);
          syms = [];
        }
      }
      list.push(syms);
    }
  }
  const merges = trainBPE(countWords(list), numMerges);
  const vocab = { "<unk>": 0, "<s>": 1, "</s>": 2 };
  let id = 3;
  for (let b = 0; b < 256; b++) {
    vocab[`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`] = id++;
  }
  for (const [a, b] of merges) if (!(a + b in vocab)) vocab[a + b] = id++;
  for (const c of chars) if (!(c in vocab)) vocab[c] = id++;
  return { vocab, merges, size: id };
}

// ---------------------------------------------------------------------------
// tokenizer.json files.

const gpt2Regex = String.raw`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`;
const llama3Regex = String.raw`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;
const qwen2Regex = String.raw`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;
const o200kRegex = [
  String.raw`[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?`,
  String.raw`[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?`,
  String.raw`\p{N}{1,3}`,
  String.raw` ?[^\s\p{L}\p{N}]+[\r\n/]*`,
  String.raw`\s*[\r\n]+`,
  String.raw`\s+(?!\S)`,
  String.raw`\s+`,
].join("|");

const split = (regex) => ({ type: "Split", pattern: { Regex: regex }, behavior: "Isolated", invert: false });
const byteLevelPre = (addPrefixSpace, useRegex) => ({
  type: "ByteLevel", add_prefix_space: addPrefixSpace, trim_offsets: true, use_regex: useRegex,
});
const byteLevelDecoder = { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true };

function added(id, content, special, opts = {}) {
  return {
    id, content, single_word: false, lstrip: false, rstrip: false,
    normalized: !special, special, ...opts,
  };
}

function template(bos, id) {
  return {
    type: "TemplateProcessing",
    single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
    pair: [
      { SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } },
      { SpecialToken: { id: bos, type_id: 1 } }, { Sequence: { id: "B", type_id: 1 } },
    ],
    special_tokens: { [bos]: { id: bos, ids: [id], tokens: [bos] } },
  };
}

function bpeModel(m, opts = {}) {
  return {
    type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null,
    end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false,
    vocab: m.vocab, merges: m.merges, ...opts,
  };
}

function file(parts) {
  return {
    version: "1.0", truncation: null, padding: null, added_tokens: [],
    normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, ...parts,
  };
}

const gpt2 = byteLevelModel(/'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu, 400);
const llama3 = byteLevelModel(
  /'s|'t|'re|'ve|'m|'ll|'d|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+/giu, 450);
const sp = sentencePieceModel(350);

const fixtures = {};

// gpt2: GPT-2 itself: ByteLevel with its regular expression, merges as
// strings, <|endoftext|> in the vocabulary.
{
  const vocab = { ...gpt2.vocab, "<|endoftext|>": gpt2.size };
  fixtures.gpt2 = {
    json: file({
      added_tokens: [added(gpt2.size, "<|endoftext|>", true, { normalized: true })],
      pre_tokenizer: byteLevelPre(false, true),
      post_processor: { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true },
      decoder: byteLevelDecoder,
      model: bpeModel({ vocab, merges: gpt2.merges.map(([a, b]) => `${a} ${b}`) }),
    }),
    bos: "<|endoftext|>", eos: "<|endoftext|>",
  };
}

// roberta: ByteLevel with add_prefix_space, RobertaProcessing, and <mask>
// with lstrip.
{
  const n = gpt2.size;
  const specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"];
  const vocab = { ...gpt2.vocab };
  specials.forEach((s, i) => (vocab[s] = n + i));
  fixtures.roberta = {
    json: file({
      added_tokens: specials.map((s, i) =>
        added(n + i, s, true, s === "<mask>" ? { lstrip: true } : { normalized: true })),
      pre_tokenizer: byteLevelPre(true, true),
      post_processor: { type: "RobertaProcessing", sep: ["</s>", n + 2], cls: ["<s>", n], trim_offsets: true, add_prefix_space: true },
      decoder: byteLevelDecoder,
      model: bpeModel({ vocab, merges: gpt2.merges }),
    }),
    bos: "<s>", eos: "</s>", extra: ["<mask>"],
  };
}

// llama3: Split with the Llama-3 regular expression, then ByteLevel
// without one; ignore_merges; special tokens after the vocabulary.
{
  const n = llama3.size;
  const specials = [
    "<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
    "<|reserved_special_token_1|>", "<|start_header_id|>", "<|end_header_id|>",
    "<|reserved_special_token_2|>", "<|eot_id|>",
  ];
  fixtures.llama3 = {
    json: file({
      added_tokens: specials.map((s, i) => added(n + i, s, true)),
      pre_tokenizer: { type: "Sequence", pretokenizers: [split(llama3Regex), byteLevelPre(false, false)] },
      post_processor: {
        type: "Sequence",
        processors: [
          { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true },
          template("<|begin_of_text|>", n),
        ],
      },
      decoder: byteLevelDecoder,
      model: bpeModel(llama3, { ignore_merges: true }),
    }),
    bos: "<|begin_of_text|>", eos: "<|eot_id|>", extra: ["<|start_header_id|>", "<|end_header_id|>"],
  };
}

// qwen2: the Qwen2 regular expression, an NFC normalizer, no BOS.
{
  const n = llama3.size;
  const specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
  fixtures.qwen2 = {
    json: file({
      added_tokens: specials.map((s, i) => added(n + i, s, true)),
      normalizer: { type: "NFC" },
      pre_tokenizer: { type: "Sequence", pretokenizers: [split(qwen2Regex), byteLevelPre(false, false)] },
      post_processor: { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: false },
      decoder: byteLevelDecoder,
      model: bpeModel(llama3),
    }),
    bos: "<|im_start|>", eos: "<|im_end|>",
  };
}

// o200k: the GPT-4o regular expression, which Go runs after translation.
{
  const n = llama3.size;
  fixtures.o200k = {
    json: file({
      added_tokens: [added(n, "<|startoftext|>", true), added(n + 1, "<|endoftext|>", true)],
      pre_tokenizer: { type: "Sequence", pretokenizers: [split(o200kRegex), byteLevelPre(false, false)] },
      post_processor: template("<|startoftext|>", n),
      decoder: byteLevelDecoder,
      model: bpeModel(llama3),
    }),
    bos: "<|startoftext|>", eos: "<|endoftext|>",
  };
}

// deepseek: a DeepSeek-style sequence of splits.
{
  const n = llama3.size;
  const pres = [
    split(String.raw`[\r\n]`),
    split(String.raw`\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽ]+`),
    split(String.raw`\s?[!-/:-~！-／：-～‘-‟　-。]+`),
    split(String.raw`\s+$`),
    split(String.raw`[一-龥ࠀ-一가-퟿]+`),
    split(String.raw`\p{N}+`),
    split(String.raw`[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\S]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`),
    byteLevelPre(false, false),
  ];
  fixtures.deepseek = {
    json: file({
      added_tokens: [added(n, "<｜begin▁of▁sentence｜>", true), added(n + 1, "<｜end▁of▁sentence｜>", true)],
      pre_tokenizer: { type: "Sequence", pretokenizers: pres },
      post_processor: template("<｜begin▁of▁sentence｜>", n),
      decoder: byteLevelDecoder,
      model: bpeModel(llama3),
    }),
    bos: "<｜begin▁of▁sentence｜>", eos: "<｜end▁of▁sentence｜>",
  };
}

// normalized: NFKC, Lowercase, a Replace with a regular expression and
// Strip; individual digits; ByteLevel with add_prefix_space;
// BertProcessing.
{
  const n = gpt2.size;
  const vocab = { ...gpt2.vocab, "[CLS]": n, "[SEP]": n + 1 };
  fixtures.normalized = {
    json: file({
      added_tokens: [added(n, "[CLS]", true), added(n + 1, "[SEP]", true)],
      normalizer: {
        type: "Sequence",
        normalizers: [
          { type: "NFKC" }, { type: "Lowercase" },
          { type: "Replace", pattern: { Regex: " {2,}" }, content: " " },
          { type: "Strip", strip_left: false, strip_right: true },
        ],
      },
      pre_tokenizer: { type: "Sequence", pretokenizers: [{ type: "Digits", individual_digits: true }, byteLevelPre(true, true)] },
      post_processor: { type: "BertProcessing", sep: ["[SEP]", n + 1], cls: ["[CLS]", n] },
      decoder: byteLevelDecoder,
      model: bpeModel({ vocab, merges: gpt2.merges }),
    }),
    bos: "[CLS]", eos: "[SEP]", noDigits: true,
  };
}

const spDecoder = {
  type: "Sequence",
  decoders: [
    { type: "Replace", pattern: { String: "▁" }, content: " " },
    { type: "ByteFallback" }, { type: "Fuse" }, { type: "Strip", content: " ", start: 1, stop: 0 },
  ],
};
const spSpecials = [added(0, "<unk>", true), added(1, "<s>", true), added(2, "</s>", true)];

// llama2: Prepend and Replace normalizers, no pre-tokenizer, byte
// fallback, merges as strings.
fixtures.llama2 = {
  json: file({
    added_tokens: spSpecials,
    normalizer: {
      type: "Sequence",
      normalizers: [
        { type: "Prepend", prepend: "▁" },
        { type: "Replace", pattern: { String: " " }, content: "▁" },
      ],
    },
    post_processor: template("<s>", 1),
    decoder: spDecoder,
    model: bpeModel({ vocab: sp.vocab, merges: sp.merges.map(([a, b]) => `${a} ${b}`) },
      { unk_token: "<unk>", fuse_unk: true, byte_fallback: true }),
  }),
  bos: "<s>", eos: "</s>",
};

// mistral: Metaspace with prepend_scheme "first" and no split, added
// tokens [INST] and [/INST].
fixtures.mistral = {
  json: file({
    added_tokens: [...spSpecials, added(sp.size, "[INST]", true), added(sp.size + 1, "[/INST]", true)],
    pre_tokenizer: { type: "Metaspace", replacement: "▁", prepend_scheme: "first", split: false },
    post_processor: template("<s>", 1),
    decoder: spDecoder,
    model: bpeModel(sp, { unk_token: "<unk>", fuse_unk: true, byte_fallback: true }),
  }),
  bos: "<s>", eos: "</s>", extra: ["[INST]", "[/INST]"],
};

// llama2unk: the Llama-2 vocabulary without byte tokens nor byte
// fallback, so that unknown characters become <unk>, and a normalized
// added token.
{
  // Ids stay contiguous: Rust gives an added token missing from the
  // vocabulary the id len(vocab), whatever the file says.
  const vocab = {};
  let id = 0;
  for (const [k, v] of Object.entries(sp.vocab).sort((a, b) => a[1] - b[1])) {
    if (!/^<0x[0-9A-F]{2}>$/.test(k)) vocab[k] = id++;
  }
  fixtures.llama2unk = {
    json: file({
      added_tokens: [...spSpecials, added(id, "[NEW]", false)],
      normalizer: fixtures.llama2.json.normalizer,
      post_processor: template("<s>", 1),
      decoder: spDecoder,
      model: bpeModel({ vocab, merges: sp.merges }, { unk_token: "<unk>", fuse_unk: false, byte_fallback: false }),
    }),
    bos: "<s>", eos: "</s>", extra: ["[NEW]"],
  };
}

// bert: BERT's uncased layout: BertNormalizer (control characters
// removed, CJK characters spaced, accents stripped, lowercase),
// BertPreTokenizer, WordPiece with "##" continuations and [UNK], and
// BertProcessing's [CLS] … [SEP].
{
  const clean = (s) => s.toLowerCase().normalize("NFD").replace(/\p{Mn}/gu, "");
  const counts = new Map();
  for (const w of clean(corpus).split(/[\s\p{P}\p{S}]+/u)) if (w) counts.set(w, (counts.get(w) ?? 0) + 1);
  const specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];
  const tokens = [...specials];
  const chars = new Set();
  for (const w of counts.keys()) for (const c of w) chars.add(c);
  for (const c of "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") chars.add(c);
  for (const c of [...chars].sort()) tokens.push(c, "##" + c);
  const words = [...counts].filter(([w, n]) => n >= 2 && w.length > 1)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 250).map(([w]) => w);
  for (const w of words) tokens.push(w);
  for (const suffix of ["##s", "##ed", "##ing", "##ly", "##er", "##est", "##tion"]) tokens.push(suffix);
  const vocab = {};
  for (const t of tokens) if (!(t in vocab)) vocab[t] = Object.keys(vocab).length;
  fixtures.bert = {
    json: file({
      added_tokens: specials.map((t) => added(vocab[t], t, true)),
      normalizer: { type: "BertNormalizer", clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
      pre_tokenizer: { type: "BertPreTokenizer" },
      post_processor: { type: "BertProcessing", sep: ["[SEP]", vocab["[SEP]"]], cls: ["[CLS]", vocab["[CLS]"]] },
      decoder: { type: "WordPiece", prefix: "##", cleanup: true },
      model: { type: "WordPiece", unk_token: "[UNK]", continuing_subword_prefix: "##", max_input_chars_per_word: 100, vocab },
    }),
    bos: "[CLS]", eos: "[SEP]", extra: ["[MASK]"],
  };
}

// ---------------------------------------------------------------------------
// Texts.

const texts = [
  "", " ", "  ", "Hello world", "Hello, world!", " Hello", "Hello ", "hello  world",
  "hello   world", "a\nb", "a\n\nb", "line one\nline two\n", "\n", "\n\n\n", " \n ",
  "tab\there", "\tindented", "    four spaces", "trailing spaces   ", "don't",
  "I'm, you're, we've, they'll, she'd, it's", "DON'T WON'T I'M HE'S", "'s 't 're 'Ve",
  "rock 'n' roll", "12345", "3.14159", "1,000,000 and 42", "year 2024, page 7",
  "x = 10; y = 20;", "def f(x):\n    return x * 2\n", "if (a && b) { return; }",
  "naïve café", "crème brûlée", "日本語", "こんにちは世界", "你好，世界！", "한국어 텍스트",
  "привет мир", "Ελληνικά", "مرحبا بالعالم", "🙂", "I ❤️ NY 🎉🎉", "👍🏽 family: 👨‍👩‍👧",
  "naïve café 日本語 🙂", "x² + y² = z²", "€25 or £21 or ¥3,500", "email@example.com",
  "https://example.org/a?b=c&d=e#f", "C:\\Users\\name", "<b>bold</b>", "a<s>b",
  "{BOS}Hello", "Hello{EOS}", "{BOS}", "{BOS}{EOS}", "Hello {EOS} world", "Hello{EOS}world",
  "{EOS}\n{BOS}", " {EOS}", "{EOS} ", "  {BOS}  x  ", "<|begin_of_text|>", "<|eot_id|>",
  "...!!!???", "—–-", "A", "The quick brown fox jumps over the lazy dog.",
  "ﬁ ligature ﬀ", "Ｆｕｌｌｗｉｄｔｈ", "e\u0301 vs \u00e9", "\u00a0nbsp\u00a0", "\u3000ideographic space",
  "\r\n windows \r\n", "  leading", "a  b  c  ", "ALL CAPS TEXT", "MiXeD CaSe",
  "under_score snake_case", "camelCaseWord", "word123abc", "1234567890123",
  "Unknown: ☃ ☄ ⚡", "\u0001 control \u0007", "   \n   \n", "the the the the",
  "İstanbul", "Ⅻ ½ ①", "a\u200db", "  \t  \n\t", "word\n\n\n  next", "'''", "''s",
  "It's 5 o'clock; we'll see.", "hello [NEW] world", "say[NEW]now", "[INST] Hello [/INST]",
  "[INST]Hello[/INST] Hi", "<mask>", "Hello <mask> world", "Hello  <mask>x", "<s> <mask>",
  "<|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>",
  "<|im_start|>user\nHi<|im_end|>", "printf(\"%d\\n\", x);", "a/b/c\r\n", "foo!!\n\nbar",
  "This is a sentence with  two spaces and   three spaces, and a tab\there.",
  corpus.slice(0, 400),
];

// pieces for random texts.
const randomPieces = [
  "the", "The", "model", "token", "café", "naïve", "日本", "語", "🙂", "👍", " ", "  ", "   ",
  "\n", "\n\n", "\t", "\r\n", "0", "7", "42", "1999", "3.5", ",", ".", "!", "?", "'s", "'t",
  "'ll", "don't", "I'M", "—", "(", ")", "{", "}", "\"", "-", "_", "/", "a", "Z", "é", "ß", "ø",
  "привет", "αβγ", "中文", "한", "€", "$", "%", "#", "@", "x²", "ﬁ", "{BOS}", "{EOS}", "{X}",
];

// random returns a deterministic pseudo-random number generator.
function random(seed) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const rand = random(12345);
for (let i = 0; i < 40; i++) {
  const n = 2 + Math.floor(rand() * 10);
  let t = "";
  for (let j = 0; j < n; j++) t += randomPieces[Math.floor(rand() * randomPieces.length)];
  texts.push(t);
}

// ---------------------------------------------------------------------------
// Output.

const golden = [];
for (const [name, fx] of Object.entries(fixtures)) {
  const json = JSON.stringify(fx.json, null, 1);
  fs.writeFileSync(path.join(here, `${name}.json`), json + "\n");
  const tok = new Tokenizer(JSON.parse(json), {});
  const extra = fx.extra ?? [fx.eos];
  let k = 0;
  for (const template of texts) {
    const text = template.replaceAll("{BOS}", fx.bos).replaceAll("{EOS}", fx.eos)
      .replaceAll("{X}", () => extra[k++ % extra.length]);
    if (fx.noDigits && /[^\P{N}0-9]/u.test(text.normalize("NFKC"))) continue;
    const ids = tok.encode(text).ids;
    const raw = tok.encode(text, { add_special_tokens: false }).ids;
    golden.push({ tokenizer: name, text, ids, raw });
  }
}
fs.writeFileSync(path.join(here, "golden.json"),
  "[\n" + golden.map((g) => JSON.stringify(g)).join(",\n") + "\n]\n");
console.log(`${Object.keys(fixtures).length} tokenizers, ${golden.length} cases`);
