// vlm-synth's library entry: records -> image files, corpus files, tokenizer, synth.json.
#include "data/synth.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <exception>
#include <fstream>
#include <set>
#include <thread>

#include "common/error.h"
#include "common/files.h"
#include "data/synth_records.h"
#include "data/tokenizer.h"

namespace vlm::data::synth {
namespace {

using Json = nlohmann::ordered_json;  // keys in LLaVA's order: id, image, conversations

constexpr int kJpegQuality = 95;  // above 90 stb keeps full-resolution chroma
constexpr char kCaptionsFile[] = "blip_laion_cc_sbu_558k.json";
constexpr char kInstructionsFile[] = "llava_v1_5_mix665k.json";
constexpr char kVoraFile[] = "vora_30m.jsonl";
constexpr char kEvalFile[] = "eval/questions.json";
constexpr char kCaptionImageRoot[] = "images";
constexpr int kMaxTokenizerRecords = 3000;  // per corpus and template: plenty for ~100 words

// A corpus file: its records, where their image paths are rooted, and how it is written.
struct CorpusFile {
  std::string name;
  std::string image_root;  // relative to out_dir; "" for out_dir itself
  bool json_lines = false;
  std::vector<Record> records;
};

Json to_json(const Record& record, bool json_lines) {
  const Conversation& conversation = record.conversation;
  Json json;
  json["id"] = conversation.id;
  if (json_lines) {
    if (!conversation.images.empty() || record.empty_frames) json["frames"] = conversation.images;
  } else if (!conversation.images.empty()) {
    json["image"] = conversation.images.front();
  }
  Json turns = Json::array();
  for (const Turn& turn : conversation.turns)
    turns.push_back({{"from", turn.from}, {"value", turn.value}});
  json["conversations"] = std::move(turns);
  if (!conversation.category.empty()) json["category"] = conversation.category;
  return json;
}

// A JSON array with one record per line, or JSON Lines.
std::string serialize(const CorpusFile& file) {
  std::string out = file.json_lines ? "" : "[\n";
  for (size_t i = 0; i < file.records.size(); ++i) {
    out += to_json(file.records[i], file.json_lines).dump();
    out += file.json_lines ? "\n" : (i + 1 < file.records.size() ? ",\n" : "\n");
  }
  return file.json_lines ? out : out + "]\n";
}

struct ImageJob {
  std::string path;
  Scene scene;
};

std::vector<ImageJob> image_jobs(const std::string& out_dir,
                                 const std::vector<CorpusFile>& corpora) {
  std::vector<ImageJob> jobs;
  std::set<std::string> seen;  // eval images are shared by their three questions
  for (const CorpusFile& file : corpora) {
    const std::string root =
        file.image_root.empty() ? out_dir : files::join(out_dir, file.image_root);
    for (const Record& record : file.records) {
      for (size_t i = 0; i < record.scenes.size(); ++i) {
        const std::string path = files::join(root, record.conversation.images[i]);
        if (seen.insert(path).second) jobs.push_back({path, record.scenes[i]});
      }
    }
  }
  return jobs;
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  VLM_CHECK(out.good(), IoError, "cannot write ", path);
}

void write_images(const std::vector<ImageJob>& jobs, int image_size, int threads) {
  std::set<std::string> folders;
  for (const ImageJob& job : jobs) folders.insert(files::parent(job.path));
  for (const std::string& folder : folders) files::make_directories(folder);

  std::vector<std::exception_ptr> errors(static_cast<size_t>(threads));
  std::vector<std::thread> writers;
  for (int t = 0; t < threads; ++t) {
    writers.emplace_back([&, t] {
      try {
        for (size_t i = static_cast<size_t>(t); i < jobs.size();
             i += static_cast<size_t>(threads)) {
          write_file(jobs[i].path, encode_jpeg(draw(jobs[i].scene, image_size), kJpegQuality));
        }
      } catch (...) {
        errors[static_cast<size_t>(t)] = std::current_exception();
      }
    });
  }
  for (auto& writer : writers) writer.join();
  for (const auto& error : errors) {
    if (error) std::rethrow_exception(error);
  }
}

// The tokenizer learns from the text exactly as the templates render it (each text segment is
// encoded on its own, so each is one line), so the template strings and the corpus words become
// single pieces in proportion to how often the model will see them.
std::vector<std::string> tokenizer_lines(const std::vector<CorpusFile>& corpora) {
  struct Use {
    const char* file;
    recipes::Template chat_template;
  };
  const Use uses[] = {{kCaptionsFile, recipes::Template::kPlain},
                      {kInstructionsFile, recipes::Template::kVicunaV1},
                      {kInstructionsFile, recipes::Template::kQwen2},
                      {kVoraFile, recipes::Template::kQwen2}};
  std::vector<std::string> lines;
  for (const Use& use : uses) {
    for (const CorpusFile& file : corpora) {
      if (file.name != use.file || file.records.empty()) continue;
      const size_t stride = std::max<size_t>(1, file.records.size() / kMaxTokenizerRecords);
      for (size_t i = 0; i < file.records.size(); i += stride) {
        for (const Segment& segment : render(file.records[i].conversation, use.chat_template)) {
          if (segment.kind == Segment::Kind::kText) lines.push_back(segment.text);
        }
      }
    }
  }
  return lines;
}

void check(const Options& options) {
  VLM_CHECK(!options.out_dir.empty(), ConfigError, "--out: an output directory is required");
  VLM_CHECK(options.captions >= 0 && options.instructions >= 0 && options.vora >= 0 &&
                options.eval_images >= 0,
            ConfigError, "record counts must not be negative");
  VLM_CHECK(options.captions + options.instructions + options.vora > 0, ConfigError,
            "nothing to generate: --captions, --instructions and --vora are all 0");
  VLM_CHECK(options.text_only_ratio >= 0 && options.text_only_ratio <= 1, ConfigError,
            "--text-only-ratio ", options.text_only_ratio, " is outside [0, 1]");
  VLM_CHECK(options.image_size >= 8 && options.image_size <= 1024, ConfigError, "--image-size ",
            options.image_size, " is outside [8, 1024]");
  VLM_CHECK(options.vocab_size >= 64, ConfigError, "--vocab-size ", options.vocab_size,
            " is too small (at least 64)");
}

std::vector<CorpusFile> make_records(const Options& options) {
  std::vector<CorpusFile> corpora = {{kCaptionsFile, kCaptionImageRoot, false, {}},
                                     {kInstructionsFile, "", false, {}},
                                     {kVoraFile, "", true, {}},
                                     {kEvalFile, "", false, {}}};
  for (int64_t i = 0; i < options.captions; ++i) {
    corpora[0].records.push_back(caption_record(options.seed, i));
  }
  for (int64_t i = 0; i < options.instructions; ++i) {
    corpora[1].records.push_back(instruction_record(options.seed, i, options.text_only_ratio));
  }
  for (int64_t i = 0; i < options.vora; ++i) {
    corpora[2].records.push_back(vora_record(options.seed, i, options.text_only_ratio));
  }
  for (int64_t i = 0; i < options.eval_images; ++i) {
    for (Record& record : eval_records(options.seed, i))
      corpora[3].records.push_back(std::move(record));
  }
  return corpora;
}

int64_t count_text_only(const CorpusFile& file) {
  return std::count_if(file.records.begin(), file.records.end(),
                       [](const Record& r) { return r.conversation.images.empty(); });
}

std::string describe(const Options& options, const Counts& counts) {
  Json json;
  json["generator"] = "vlm-synth";
  json["seed"] = options.seed;
  json["image_size"] = options.image_size;
  json["jpeg_quality"] = kJpegQuality;
  json["text_only_ratio"] = options.text_only_ratio;
  json["vocab_size_requested"] = options.vocab_size;
  json["counts"] = {{"images", counts.images},
                    {"captions", counts.captions},
                    {"instructions", counts.instructions},
                    {"instructions_text_only", counts.instructions_text_only},
                    {"vora", counts.vora},
                    {"vora_text_only", counts.vora_text_only},
                    {"eval_questions", counts.eval_questions},
                    {"vocab_size", counts.vocab_size}};
  json["files"] = Json::array(
      {{{"file", kCaptionsFile},
        {"format", "json"},
        {"image_root", kCaptionImageRoot},
        {"template", "plain"}},
       {{"file", kInstructionsFile},
        {"format", "json"},
        {"image_root", ""},
        {"template", "vicuna_v1"}},
       {{"file", kVoraFile}, {"format", "jsonl"}, {"image_root", ""}, {"template", "qwen2"}},
       {{"file", kEvalFile}, {"format", "json"}, {"image_root", ""}, {"template", "vicuna_v1"}},
       {{"file", "tokenizer.model"}, {"format", "sentencepiece"}}});
  Json colours = Json::array(), shapes = Json::array(), positions = Json::array();
  for (int i = 0; i < kNumColours; ++i) colours.push_back(colour_name(i));
  for (int i = 0; i < kNumShapes; ++i) shapes.push_back(shape_name(i));
  for (int i = 0; i < kNumPositions; ++i) positions.push_back(position_name(i));
  json["colours"] = colours;
  json["shapes"] = shapes;
  json["positions"] = positions;
  return json.dump(2) + "\n";
}

}  // namespace

Counts generate(const Options& options) {
  check(options);
  const std::vector<CorpusFile> corpora = make_records(options);
  const std::vector<ImageJob> jobs = image_jobs(options.out_dir, corpora);
  const int threads =
      options.threads > 0
          ? options.threads
          : static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 4u));
  files::make_directories(files::join(options.out_dir, "eval"));
  write_images(jobs, options.image_size, threads);
  for (const CorpusFile& file : corpora) {
    files::write_atomically(files::join(options.out_dir, file.name), serialize(file));
  }
  const std::string tokenizer_prefix = files::join(options.out_dir, "tokenizer");
  train_sentencepiece(tokenizer_lines(corpora), tokenizer_prefix, options.vocab_size,
                      {"<|im_start|>", "<|im_end|>"});

  Counts counts;
  counts.images = static_cast<int64_t>(jobs.size());
  counts.captions = options.captions;
  counts.instructions = options.instructions;
  counts.instructions_text_only = count_text_only(corpora[1]);
  counts.vora = options.vora;
  counts.vora_text_only = count_text_only(corpora[2]);
  counts.eval_questions = static_cast<int64_t>(corpora[3].records.size());
  counts.vocab_size = load_sentencepiece(tokenizer_prefix + ".model")->vocab_size();
  files::write_atomically(files::join(options.out_dir, "synth.json"), describe(options, counts));
  return counts;
}

}  // namespace vlm::data::synth
