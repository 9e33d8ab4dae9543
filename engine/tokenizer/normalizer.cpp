#include "tokenizer/normalizer.h"

#include "tokenizer/unicode_nfc.h"

namespace lw {

void Normalizer::add_prepend(std::string text) {
    steps_.push_back({Step::Kind::Prepend, std::move(text), {}});
}

void Normalizer::add_replace(const std::string& pattern, bool literal, std::string content, const std::string& what) {
    steps_.push_back({Step::Kind::Replace, std::move(content), Regex(pattern, literal, what)});
}

void Normalizer::add_nfc() {
    steps_.push_back({Step::Kind::Nfc, {}, {}});
}

std::string Normalizer::apply(std::string_view text) const {
    std::string s(text);
    for (const Step& step : steps_) {
        switch (step.kind) {
            case Step::Kind::Prepend:
                if (!s.empty()) s.insert(0, step.text);  // HF leaves empty text empty
                break;
            case Step::Kind::Replace: {
                std::string out;
                std::size_t last = 0;
                for (auto [begin, end] : step.pattern->find_all(s)) {
                    out.append(s, last, begin - last);
                    out += step.text;
                    last = end;
                }
                out.append(s, last);
                s = std::move(out);
                break;
            }
            case Step::Kind::Nfc:
                s = unicode::nfc(s);
                break;
        }
    }
    return s;
}

}  // namespace lw
