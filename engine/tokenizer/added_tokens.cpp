#include "tokenizer/added_tokens.h"

#include "tokenizer/unicode_props.h"
#include "tokenizer/utf8.h"

#include <algorithm>

namespace lw {

namespace {

// Offset of the character that ends just before `pos` (pos > 0).
std::size_t start_of_char_before(std::string_view s, std::size_t pos) {
    std::size_t begin = pos - 1;
    while (begin > 0 && (static_cast<unsigned char>(s[begin]) & 0xC0) == 0x80) --begin;
    return begin;
}

char32_t char_before(std::string_view s, std::size_t pos) {
    std::size_t begin = start_of_char_before(s, pos);
    return utf8::next(s, begin);
}

}  // namespace

void AddedTokens::build(std::vector<AddedToken> tokens, const Normalizer* normalizer) {
    tokens_ = std::move(tokens);
    normalizer_ = normalizer;
    raw_ = {};
    normalized_ = {};
    raw_.patterns.resize(tokens_.size());
    normalized_.patterns.resize(tokens_.size());
    for (std::size_t i = 0; i < tokens_.size(); ++i) {
        const AddedToken& t = tokens_[i];
        index_by_id_[t.id] = i;
        index_by_content_.emplace(t.content, i);
        if (t.content.empty()) continue;
        const bool use_normalized = t.normalized && normalizer_ && !normalizer_->empty();
        Matcher& m = use_normalized ? normalized_ : raw_;
        m.patterns[i] = use_normalized ? normalizer_->apply(t.content) : t.content;
        if (m.patterns[i].empty()) continue;
        m.by_first_byte[static_cast<unsigned char>(m.patterns[i][0])].push_back(i);
    }
    for (Matcher* m : {&raw_, &normalized_})
        for (auto& list : m->by_first_byte)
            std::stable_sort(list.begin(), list.end(), [m](std::size_t a, std::size_t b) {
                return m->patterns[a].size() > m->patterns[b].size();
            });
}

void AddedTokens::split_with(const Matcher& m, const Segment& seg, std::vector<Segment>& out) const {
    const std::string_view text = seg.text;
    std::size_t emitted = 0;  // text before this offset is already in `out`
    auto emit_text = [&](std::size_t begin, std::size_t end) {
        if (end > begin)
            out.push_back({std::string(text.substr(begin, end - begin)), std::nullopt, seg.at_start && begin == 0});
    };
    for (std::size_t pos = 0; pos < text.size();) {
        const std::size_t index = [&]() -> std::size_t {
            // Leftmost-longest: the longest token that starts here.
            for (std::size_t i : m.by_first_byte[static_cast<unsigned char>(text[pos])])
                if (text.compare(pos, m.patterns[i].size(), m.patterns[i]) == 0) return i;
            return SIZE_MAX;
        }();
        if (index == SIZE_MAX) {
            ++pos;
            continue;
        }
        const AddedToken& t = tokens_[index];
        std::size_t begin = pos, end = pos + m.patterns[index].size();
        if (t.single_word) {
            const bool word_before = begin > 0 && unicode::is_word_char(char_before(text, begin));
            std::size_t after = end;
            const bool word_after = end < text.size() && unicode::is_word_char(utf8::next(text, after));
            if (word_before || word_after) {
                ++pos;
                continue;
            }
        }
        if (t.lstrip)
            while (begin > emitted && unicode::is_whitespace(char_before(text, begin)))
                begin = start_of_char_before(text, begin);
        if (t.rstrip)
            while (end < text.size()) {
                std::size_t next = end;
                if (!unicode::is_whitespace(utf8::next(text, next))) break;
                end = next;
            }
        emit_text(emitted, begin);
        out.push_back({std::string(text.substr(begin, end - begin)), t.id, false});
        emitted = pos = end;
    }
    emit_text(emitted, text.size());
}

std::vector<Segment> AddedTokens::split(std::string_view text) const {
    std::vector<Segment> raw;
    split_with(raw_, {std::string(text), std::nullopt, true}, raw);
    std::vector<Segment> out;
    for (Segment& seg : raw) {
        if (seg.token) {
            out.push_back(std::move(seg));
            continue;
        }
        if (normalizer_) seg.text = normalizer_->apply(seg.text);
        split_with(normalized_, seg, out);
    }
    return out;
}

const AddedToken* AddedTokens::by_id(TokenId id) const {
    const auto it = index_by_id_.find(id);
    return it == index_by_id_.end() ? nullptr : &tokens_[it->second];
}

std::optional<TokenId> AddedTokens::by_content(std::string_view content) const {
    const auto it = index_by_content_.find(std::string(content));
    if (it == index_by_content_.end()) return std::nullopt;
    return tokens_[it->second].id;
}

}  // namespace lw
