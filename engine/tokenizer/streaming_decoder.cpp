#include "tokenizer/tokenizer.h"

#include "tokenizer/utf8.h"

namespace lw {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
// A window this long only builds up from a stream of bytes that never form text; past it
// everything is given out and the window starts afresh, rather than decoding an ever
// longer window (the one case where the pushes may differ from decode()).
constexpr std::size_t kMaxWindow = 1024;

// Bytes of `text` that later ids cannot change: whole characters, and not a final
// U+FFFD, which may stand for an incomplete byte sequence that the next id completes
// (earlier ones are settled: only the last sequence can still grow).
std::size_t settled_prefix(std::string_view text) {
    const std::size_t n = utf8::complete_prefix(text);
    if (n >= kReplacement.size() && text.substr(n - kReplacement.size(), kReplacement.size()) == kReplacement)
        return n - kReplacement.size();
    return n;
}

}  // namespace

StreamingDecoder::StreamingDecoder(const Tokenizer& tok, bool skip_special_tokens)
    : tok_(&tok), skip_special_(skip_special_tokens) {}

std::string StreamingDecoder::push(TokenId id) {
    ids_.push_back(id);
    // A run of <0xNN> tokens decodes to one U+FFFD per byte unless all of it is valid
    // UTF-8, so nothing of it is settled until a token ends the run; a skipped special
    // token adds no text and does not end the run.
    if (tok_->is_byte_token(id) || (skip_special_ && tok_->is_special(id))) return {};
    const std::string text = tok_->decode(ids_, skip_special_);
    const std::string_view fresh = std::string_view(text).substr(std::min(context_text_.size(), text.size()));
    const bool overlong = ids_.size() > kMaxWindow;
    const std::size_t settled = overlong ? fresh.size() : settled_prefix(fresh);
    std::string out;
    if (settled > emitted_bytes_) {
        out = std::string(fresh.substr(emitted_bytes_, settled - emitted_bytes_));
        emitted_bytes_ = settled;
    }
    if (overlong) {
        ids_.clear();
        context_text_.clear();
        emitted_bytes_ = 0;
        return out;
    }
    // Once everything is out, keep only the last id as context, if it decodes on its own
    // to settled, non-empty text (so stripping and byte runs treat what follows alike).
    if (emitted_bytes_ == fresh.size()) {
        const TokenId last = ids_.back();
        std::string last_text = tok_->decode(std::span<const TokenId>(&last, 1), skip_special_);
        if (!tok_->is_byte_token(last) && !last_text.empty() && settled_prefix(last_text) == last_text.size()) {
            ids_.assign(1, last);
            context_text_ = std::move(last_text);
            emitted_bytes_ = 0;
        }
    }
    return out;
}

std::string StreamingDecoder::finish() {
    const std::string text = tok_->decode(ids_, skip_special_);
    const std::size_t from = std::min(context_text_.size() + emitted_bytes_, text.size());
    std::string out = text.substr(from);
    ids_.clear();
    context_text_.clear();
    emitted_bytes_ = 0;
    return out;
}

}  // namespace lw
