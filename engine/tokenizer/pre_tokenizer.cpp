#include "tokenizer/pre_tokenizer.h"

#include "tokenizer/byte_level.h"

#include <algorithm>
#include <utility>

namespace lw {

namespace {

// GPT-2's pattern, which ByteLevel(use_regex=true) applies.
constexpr const char* kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

struct Span {
    std::size_t begin, end;
    bool is_match;
};

// The text cut into matched and unmatched spans covering all of it (HF's find_matches).
std::vector<Span> spans(const Regex& regex, std::string_view text, bool invert) {
    std::vector<Span> out;
    std::size_t last = 0;
    for (auto [begin, end] : regex.find_all(text)) {
        if (begin > last) out.push_back({last, begin, invert});
        out.push_back({begin, end, !invert});
        last = end;
    }
    if (last < text.size()) out.push_back({last, text.size(), invert});
    return out;
}

// Applies a split behaviour to the spans, as HF's NormalizedString::split.
std::vector<std::pair<std::size_t, std::size_t>> split_ranges(std::vector<Span> s, SplitBehavior behavior) {
    std::vector<std::pair<std::size_t, std::size_t>> out;
    switch (behavior) {
        case SplitBehavior::Removed:
            for (const Span& x : s)
                if (!x.is_match) out.emplace_back(x.begin, x.end);
            break;
        case SplitBehavior::Isolated:
            for (const Span& x : s) out.emplace_back(x.begin, x.end);
            break;
        case SplitBehavior::MergedWithPrevious: {
            bool previous_match = false;
            for (const Span& x : s) {
                if (x.is_match && !previous_match && !out.empty())
                    out.back().second = x.end;
                else
                    out.emplace_back(x.begin, x.end);
                previous_match = x.is_match;
            }
            break;
        }
        case SplitBehavior::MergedWithNext: {
            bool next_match = false;
            for (auto it = s.rbegin(); it != s.rend(); ++it) {
                if (it->is_match && !next_match && !out.empty())
                    out.back().first = it->begin;
                else
                    out.emplace_back(it->begin, it->end);
                next_match = it->is_match;
            }
            std::reverse(out.begin(), out.end());
            break;
        }
        case SplitBehavior::Contiguous: {
            bool previous_match = false;
            for (std::size_t i = 0; i < s.size(); ++i) {
                if (i > 0 && s[i].is_match == previous_match)
                    out.back().second = s[i].end;
                else
                    out.emplace_back(s[i].begin, s[i].end);
                previous_match = s[i].is_match;
            }
            break;
        }
    }
    return out;
}

void split_into(std::vector<Piece>& out, Piece piece, const Regex& regex, SplitBehavior behavior, bool invert) {
    bool first = true;
    for (auto [begin, end] : split_ranges(spans(regex, piece.text, invert), behavior)) {
        if (begin == end) continue;
        out.push_back({piece.text.substr(begin, end - begin), piece.at_start && first && begin == 0});
        first = false;
    }
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
    std::string out;
    std::size_t last = 0;
    for (std::size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, last)) {
        out.append(s, last, pos - last);
        out += to;
        last = pos + from.size();
    }
    out.append(s, last);
    s = std::move(out);
}

}  // namespace

void PreTokenizer::add_byte_level(bool add_prefix_space, bool use_regex) {
    Step s;
    s.kind = Step::Kind::ByteLevel;
    s.add_prefix_space = add_prefix_space;
    if (use_regex) {
        static const auto gpt2 = std::make_shared<const Regex>(kGpt2Pattern, false, "ByteLevel pattern");
        s.regex = gpt2;
    }
    steps_.push_back(std::move(s));
    byte_level_ = true;
}

void PreTokenizer::add_split(const std::string& pattern, bool literal, SplitBehavior behavior, bool invert,
                             const std::string& what) {
    Step s;
    s.kind = Step::Kind::Split;
    s.regex = std::make_shared<const Regex>(pattern, literal, what);
    s.behavior = behavior;
    s.invert = invert;
    steps_.push_back(std::move(s));
}

void PreTokenizer::add_metaspace(std::string replacement, PrependScheme scheme, bool split) {
    Step s;
    s.kind = Step::Kind::Metaspace;
    s.replacement = std::move(replacement);
    s.scheme = scheme;
    s.split = split;
    if (split) s.regex = std::make_shared<const Regex>(s.replacement, true, "Metaspace replacement");
    steps_.push_back(std::move(s));
}

void PreTokenizer::add_digits(bool individual) {
    add_split(individual ? R"(\p{N})" : R"(\p{N}+)", false, SplitBehavior::Isolated, false, "Digits");
}

std::vector<Piece> PreTokenizer::apply(std::string text, bool at_start) const {
    std::vector<Piece> pieces;
    pieces.push_back({std::move(text), at_start});
    for (const Step& step : steps_) {
        std::vector<Piece> next;
        next.reserve(pieces.size());
        for (Piece& p : pieces) {
            switch (step.kind) {
                case Step::Kind::ByteLevel: {
                    if (step.add_prefix_space && p.text.rfind(' ', 0) != 0) p.text.insert(0, " ");
                    const std::size_t first = next.size();
                    if (step.regex)
                        split_into(next, std::move(p), *step.regex, SplitBehavior::Isolated, false);
                    else
                        next.push_back(std::move(p));
                    for (std::size_t i = first; i < next.size(); ++i) next[i].text = byte_level::encode(next[i].text);
                    break;
                }
                case Step::Kind::Split:
                    split_into(next, std::move(p), *step.regex, step.behavior, step.invert);
                    break;
                case Step::Kind::Metaspace: {
                    replace_all(p.text, " ", step.replacement);
                    const bool prepend =
                        step.scheme == PrependScheme::Always || (step.scheme == PrependScheme::First && p.at_start);
                    if (prepend && p.text.rfind(step.replacement, 0) != 0) p.text.insert(0, step.replacement);
                    if (step.split)
                        split_into(next, std::move(p), *step.regex, SplitBehavior::MergedWithNext, false);
                    else
                        next.push_back(std::move(p));
                    break;
                }
            }
        }
        pieces = std::move(next);
    }
    return pieces;
}

}  // namespace lw
