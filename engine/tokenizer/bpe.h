// The BPE model: a piece of text -> token ids by repeatedly applying the
// lowest-ranked merge (a heap over a linked list of symbols, so long pieces stay
// O(n log n)), with HF's options: unk token (fused), byte fallback (<0xNN>),
// ignore_merges. Results for short pieces are cached.
#pragma once

#include "core/token_id.h"

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace lw {

// Token text -> id, searchable by string_view without building a string.
struct TextHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using Vocab = std::unordered_map<std::string, TokenId, TextHash, std::equal_to<>>;

class BpeModel {
public:
    struct Options {
        std::optional<TokenId> unk_id;
        bool fuse_unk = false;
        bool byte_fallback = false;
        bool ignore_merges = false;
    };

    // vocab: token text -> id.
    BpeModel(Vocab vocab, Options options);
    BpeModel(BpeModel&& other) noexcept;

    // Adds the next-ranked merge. A pair given twice keeps its later rank, as HF does.
    void add_merge(TokenId left, TokenId right, TokenId merged);

    void tokenize(std::string_view piece, std::vector<TokenId>& out) const;

    const Vocab& vocab() const { return vocab_; }
    const Options& options() const { return options_; }
    // The <0xNN> token of each byte, where the vocabulary has one.
    std::optional<TokenId> byte_id(unsigned char b) const { return byte_ids_[b]; }
    std::optional<TokenId> find(std::string_view token) const;

private:
    struct Merge {
        std::uint32_t rank;
        TokenId merged;
    };
    static std::uint64_t key(TokenId a, TokenId b) {
        return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) | static_cast<std::uint32_t>(b);
    }
    void merge_word(std::string_view piece, std::vector<TokenId>& out) const;

    Vocab vocab_;
    std::unordered_map<std::uint64_t, Merge> merges_;
    std::uint32_t next_rank_ = 0;
    Options options_;
    std::optional<TokenId> byte_ids_[256];

    mutable std::mutex cache_mutex_;
    mutable std::unordered_map<std::string, std::vector<TokenId>, TextHash, std::equal_to<>> cache_;
};

}  // namespace lw
