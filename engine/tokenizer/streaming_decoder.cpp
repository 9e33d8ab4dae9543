#include "tokenizer/tokenizer.h"

#include "tokenizer/utf8.h"

namespace lw {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

// Bytes of `text` that later ids cannot change: whole characters, and not a trailing
// U+FFFD, which may be an incomplete byte sequence that the next id completes.
std::size_t settled_prefix(std::string_view text) {
    std::size_t n = utf8::complete_prefix(text);
    while (n >= kReplacement.size() && text.substr(n - kReplacement.size(), kReplacement.size()) == kReplacement)
        n -= kReplacement.size();
    return n;
}

}  // namespace

StreamingDecoder::StreamingDecoder(const Tokenizer& tok, bool skip_special_tokens)
    : tok_(&tok), skip_special_(skip_special_tokens) {}

std::string StreamingDecoder::push(TokenId id) {
    ids_.push_back(id);
    // A run of <0xNN> tokens decodes to U+FFFDs as a whole unless all of it is valid
    // UTF-8, so nothing of it is settled until a token ends the run.
    if (tok_->is_byte_token(id)) return {};
    const std::string text = tok_->decode(ids_, skip_special_);
    const std::string_view fresh = std::string_view(text).substr(std::min(context_text_.size(), text.size()));
    const std::size_t settled = settled_prefix(fresh);
    std::string out;
    if (settled > emitted_bytes_) {
        out = std::string(fresh.substr(emitted_bytes_, settled - emitted_bytes_));
        emitted_bytes_ = settled;
    }
    // Once everything is out, keep only the last id as context, if it decodes on its own
    // to settled, non-empty text (so stripping and byte runs treat what follows alike).
    if (emitted_bytes_ == fresh.size()) {
        const TokenId last = ids_.back();
        std::string last_text = tok_->decode(std::span<const TokenId>(&last, 1), skip_special_);
        if (!tok_->is_byte_token(last) && !last_text.empty() && settled_prefix(last_text) == last_text.size()) {
            ids_.assign(1, last);
            context_ = 1;
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
    context_ = 0;
    context_text_.clear();
    emitted_bytes_ = 0;
    return out;
}

}  // namespace lw
