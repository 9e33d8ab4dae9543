#include "tokenizer/tokenizer.h"

#include "core/error.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/utf8.h"

namespace lw {

void Tokenizer::Impl::finish(std::vector<AddedToken> added_tokens) {
    // Ids index a table, so they must stay within the number of entries that define them.
    const std::size_t limit = model->vocab().size() + added_tokens.size();
    auto check = [&](TokenId id, const std::string& token) {
        if (id < 0 || static_cast<std::size_t>(id) >= limit)
            fail(source, ": token \"", token, "\" has id ", id, ", expected 0..", limit - 1);
    };
    std::size_t size = 0;
    for (const auto& [token, id] : model->vocab()) {
        check(id, token);
        size = std::max(size, static_cast<std::size_t>(id) + 1);
    }
    for (const AddedToken& t : added_tokens) {
        check(t.id, t.content);
        size = std::max(size, static_cast<std::size_t>(t.id) + 1);
    }
    id_to_token.assign(size, {});
    present.assign(size, 0);
    special.assign(size, 0);
    byte_token.assign(size, 0);
    if (model->options().byte_fallback)
        for (int b = 0; b < 256; ++b)
            if (auto id = model->byte_id(static_cast<unsigned char>(b))) byte_token[*id] = 1;
    for (const auto& [token, id] : model->vocab()) {
        id_to_token[id] = token;
        present[id] = 1;
    }
    for (const AddedToken& t : added_tokens) {
        // HF gives a normalized added token back as its normalized text (decode sees that too).
        id_to_token[t.id] = t.normalized && !normalizer.empty() ? normalizer.apply(t.content) : t.content;
        present[t.id] = 1;
        special[t.id] = t.special;
    }
    added.build(std::move(added_tokens), &normalizer);
}

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

std::vector<TokenId> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
    if (auto bad = utf8::first_invalid(text))
        fail(impl_->source, ": cannot encode: input text is not valid UTF-8 (byte ", *bad, " of ", text.size(), ")");
    std::vector<TokenId> ids;
    for (const Segment& seg : impl_->added.split(text)) {
        if (seg.token) {
            ids.push_back(*seg.token);
            continue;
        }
        for (const Piece& piece : impl_->pre_tokenizer.apply(seg.text, seg.at_start))
            impl_->model->tokenize(piece.text, ids);
    }
    if (add_special_tokens) impl_->post.apply(ids);
    return ids;
}

std::string Tokenizer::decode(std::span<const TokenId> ids, bool skip_special_tokens) const {
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (TokenId id : ids) {
        if (id < 0 || static_cast<std::size_t>(id) >= impl_->present.size() || !impl_->present[id])
            fail(impl_->source, ": cannot decode token id ", id, ": expected 0..", impl_->present.size() - 1,
                 " (a defined token)");
        if (skip_special_tokens && impl_->special[id]) continue;
        tokens.push_back(impl_->id_to_token[id]);
    }
    return impl_->decoder.decode(std::move(tokens));
}

std::size_t Tokenizer::vocab_size() const {
    return impl_->id_to_token.size();
}

std::optional<TokenId> Tokenizer::token_to_id(std::string_view token) const {
    if (auto id = impl_->added.by_content(token)) return id;
    return impl_->model->find(token);
}

std::string Tokenizer::id_to_token(TokenId id) const {
    if (id < 0 || static_cast<std::size_t>(id) >= impl_->present.size() || !impl_->present[id])
        fail(impl_->source, ": no token has id ", id);
    return impl_->id_to_token[id];
}

bool Tokenizer::is_special(TokenId id) const {
    return id >= 0 && static_cast<std::size_t>(id) < impl_->special.size() && impl_->special[id];
}

bool Tokenizer::is_byte_token(TokenId id) const {
    return id >= 0 && static_cast<std::size_t>(id) < impl_->byte_token.size() && impl_->byte_token[id];
}

std::optional<TokenId> Tokenizer::bos_id() const {
    return impl_->bos;
}
std::optional<TokenId> Tokenizer::eos_id() const {
    return impl_->eos;
}

void Tokenizer::set_bos_eos(std::optional<TokenId> bos, std::optional<TokenId> eos) {
    for (auto id : {bos, eos})
        if (id && (*id < 0 || static_cast<std::size_t>(*id) >= impl_->present.size() || !impl_->present[*id]))
            fail(impl_->source, ": BOS/EOS id ", *id, " is not a token");
    impl_->bos = bos;
    impl_->eos = eos;
}

std::string Tokenizer::describe() const {
    return cat(impl_->scheme, ", ", vocab_size(), " tokens");
}

}  // namespace lw
