// Reference token ids for tests/unit/data/hf_tokenizer_reference_test.cc, from @lenml/tokenizers
// (a JavaScript port of Hugging Face's tokenizers, via transformers.js) and a real tokenizer.json.
//
//   node reference.js MODEL_DIR < strings.jsonl > reference.jsonl
//
// MODEL_DIR holds tokenizer.json and tokenizer_config.json. Each input line is one JSON string;
// each output line is {"ids": [...], "text": "..."}: the ids Hugging Face gives the string
// (add_special_tokens false: no BOS), and the text decode(encode(string)) must give back by the
// file's own normalizer (see expectedRoundTrip).
//
// One change makes the port's answers Hugging Face's: the Split pre-tokenizer's regex is run with
// Oniguruma's definitions (Hugging Face's tokenizers match these regexes with Oniguruma 6.9.8),
// where JavaScript's differ:
// - \s: Oniguruma's is U+0009-U+000D, U+0085 and the Zs/Zl/Zp characters; JavaScript's has U+FEFF
//   instead of U+0085;
// - (?i:'s|'t|...): Oniguruma matches by case folding, so "'ſ" (U+017F folds to "s") is a
//   contraction; the port spells the group out as [sS]|[tT]|... and misses it.
// Both were measured against libonig 6.9.8 over every code point (the differences are exactly
// these). The Unicode versions differ as well (Oniguruma 6.9.8: Unicode 14.0; Node's ICU: newer),
// so the test strings use characters of Unicode 14.0 and earlier only.
'use strict';

const fs = require('fs');
const path = require('path');
const readline = require('readline');
const { TokenizerLoader } = require('@lenml/tokenizers');

const ONIGURUMA_SPACE = '\\t-\\r\\x85\\p{Zs}\\u2028\\u2029';
const CONTRACTIONS = "(?i:'s|'t|'re|'ve|'m|'ll|'d)";
const CONTRACTIONS_FOLDED = "(?:'(?:[sS\u017f]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD]))";

// The pattern with Oniguruma's \s and \S and case-folded contractions, in JavaScript syntax.
function onigurumaPattern(pattern) {
  const source = pattern.split(CONTRACTIONS).join(CONTRACTIONS_FOLDED);
  let out = '';
  let inClass = false;
  for (let i = 0; i < source.length; ++i) {
    const c = source[i];
    if (c === '\\') {
      const next = source[i + 1];
      if (next === 's') {
        out += inClass ? ONIGURUMA_SPACE : `[${ONIGURUMA_SPACE}]`;
      } else if (next === 'S') {
        if (inClass) throw new Error(`\\S inside a character class: ${pattern}`);
        out += `[^${ONIGURUMA_SPACE}]`;
      } else {
        out += c + next;
      }
      ++i;
      continue;
    }
    if (c === '[') inClass = true;
    if (c === ']') inClass = false;
    out += c;
  }
  return out;
}

function withOnigurumaRegexes(tokenizerJSON) {
  const pre = tokenizerJSON.pre_tokenizer;
  const steps = pre === null ? [] : pre.type === 'Sequence' ? pre.pretokenizers : [pre];
  for (const step of steps) {
    if (step.type === 'Split' && step.pattern.Regex !== undefined) {
      step.pattern.Regex = onigurumaPattern(step.pattern.Regex);
    }
    if (step.type === 'ByteLevel' && step.use_regex !== false) {
      throw new Error('ByteLevel with use_regex: the port hard-codes its regex; not handled here');
    }
  }
  return tokenizerJSON;
}

// decode(encode(text)) by the file's own definition: the added tokens stay as they are; each
// stretch between them goes through the part of the normalizer that decoding does not undo.
function roundTripRule(normalizer) {
  if (normalizer === null) return (s) => s;
  if (normalizer.type === 'NFC') return (s) => s.normalize('NFC');
  const steps = normalizer.type === 'Sequence' ? normalizer.normalizers : [];
  const types = steps.map((step) => step.type).join(',');
  // SentencePiece-style: the decoder turns every "▁" into a space and strips the one prepended.
  if (types === 'Prepend,Replace') return (s) => s.split('\u2581').join(' ');
  throw new Error(`no round-trip rule for the normalizer ${JSON.stringify(normalizer)}`);
}

function main() {
  const dir = process.argv[2];
  if (!dir) throw new Error('usage: node reference.js MODEL_DIR < strings.jsonl');
  const read = (name) => JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8'));
  const tokenizerJSON = withOnigurumaRegexes(read('tokenizer.json'));
  const tokenizer = TokenizerLoader.fromPreTrained({
    tokenizerJSON,
    tokenizerConfig: read('tokenizer_config.json'),
  });
  const roundTrip = roundTripRule(tokenizerJSON.normalizer);
  const expected = (text) =>
    tokenizer.added_tokens_splitter
      .split(text)
      .map((section) => (tokenizer.added_tokens_map.has(section) ? section : roundTrip(section)))
      .join('');

  const out = [];
  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  lines.on('line', (line) => {
    const text = JSON.parse(line);
    const ids = tokenizer.encode(text, { add_special_tokens: false });
    out.push(JSON.stringify({ ids, text: expected(text) }));
  });
  lines.on('close', () => process.stdout.write(out.length ? out.join('\n') + '\n' : ''));
}

// tests/js/template_reference.js loads its tokenizers the same way.
module.exports = { withOnigurumaRegexes };

if (require.main === module) main();
