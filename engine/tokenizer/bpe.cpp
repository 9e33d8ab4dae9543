#include "tokenizer/bpe.h"

#include "tokenizer/utf8.h"

#include <algorithm>
#include <cstdio>
#include <queue>

namespace lw {

namespace {

constexpr std::size_t kCacheMaxPieceBytes = 64;
constexpr std::size_t kCacheMaxEntries = 100000;

struct Symbol {
    TokenId id;
    int prev, next;  // -1 at the ends
    bool alive;
};

struct Candidate {
    std::uint32_t rank;
    int pos;  // left symbol
    TokenId merged;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
};

}  // namespace

BpeModel::BpeModel(Vocab vocab, Options options) : vocab_(std::move(vocab)), options_(options) {
    for (int b = 0; b < 256; ++b) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", b);
        byte_ids_[b] = find(name);
    }
}

BpeModel::BpeModel(BpeModel&& other) noexcept
    : vocab_(std::move(other.vocab_)),
      merges_(std::move(other.merges_)),
      next_rank_(other.next_rank_),
      options_(other.options_) {
    std::copy(std::begin(other.byte_ids_), std::end(other.byte_ids_), std::begin(byte_ids_));
}

void BpeModel::add_merge(TokenId left, TokenId right, TokenId merged) {
    merges_.insert_or_assign(key(left, right), Merge{next_rank_++, merged});
}

std::optional<TokenId> BpeModel::find(std::string_view token) const {
    const auto it = vocab_.find(token);
    if (it == vocab_.end()) return std::nullopt;
    return it->second;
}

void BpeModel::tokenize(std::string_view piece, std::vector<TokenId>& out) const {
    if (piece.empty()) return;
    if (options_.ignore_merges) {
        if (auto id = find(piece)) {
            out.push_back(*id);
            return;
        }
    }
    const bool cacheable = piece.size() <= kCacheMaxPieceBytes;
    if (cacheable) {
        std::lock_guard lock(cache_mutex_);
        const auto it = cache_.find(piece);
        if (it != cache_.end()) {
            out.insert(out.end(), it->second.begin(), it->second.end());
            return;
        }
    }
    std::vector<TokenId> ids;
    merge_word(piece, ids);
    out.insert(out.end(), ids.begin(), ids.end());
    if (cacheable) {
        std::lock_guard lock(cache_mutex_);
        if (cache_.size() >= kCacheMaxEntries) cache_.clear();
        cache_.emplace(std::string(piece), std::move(ids));
    }
}

void BpeModel::merge_word(std::string_view piece, std::vector<TokenId>& out) const {
    // Initial symbols: one per character, or its <0xNN> bytes, or unk (consecutive unks fused).
    std::vector<Symbol> symbols;
    bool last_unk = false;
    for (std::size_t pos = 0; pos < piece.size();) {
        const std::size_t start = pos;
        pos += std::min(utf8::sequence_length(static_cast<unsigned char>(piece[pos])), piece.size() - pos);
        const std::string_view ch = piece.substr(start, pos - start);
        if (auto id = find(ch)) {
            symbols.push_back({*id, 0, 0, true});
            last_unk = false;
            continue;
        }
        if (options_.byte_fallback) {
            bool all = true;
            for (char c : ch) all = all && byte_ids_[static_cast<unsigned char>(c)].has_value();
            if (all) {
                for (char c : ch) symbols.push_back({*byte_ids_[static_cast<unsigned char>(c)], 0, 0, true});
                last_unk = false;
                continue;
            }
        }
        if (!options_.unk_id) continue;  // HF drops characters it cannot represent
        if (!(options_.fuse_unk && last_unk)) symbols.push_back({*options_.unk_id, 0, 0, true});
        last_unk = true;
    }
    const int n = static_cast<int>(symbols.size());
    for (int i = 0; i < n; ++i) {
        symbols[i].prev = i - 1;
        symbols[i].next = i + 1 < n ? i + 1 : -1;
    }

    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
    auto consider = [&](int left) {
        const int right = symbols[left].next;
        if (right < 0) return;
        const auto it = merges_.find(key(symbols[left].id, symbols[right].id));
        if (it != merges_.end()) heap.push({it->second.rank, left, it->second.merged});
    };
    for (int i = 0; i + 1 < n; ++i) consider(i);

    while (!heap.empty()) {
        const Candidate c = heap.top();
        heap.pop();
        Symbol& left = symbols[c.pos];
        if (!left.alive || left.next < 0) continue;
        // Stale entry: the pair at this position changed since it was pushed.
        const auto it = merges_.find(key(left.id, symbols[left.next].id));
        if (it == merges_.end() || it->second.merged != c.merged || it->second.rank != c.rank) continue;
        Symbol& right = symbols[left.next];
        left.id = c.merged;
        right.alive = false;
        left.next = right.next;
        if (right.next >= 0) symbols[right.next].prev = c.pos;
        if (left.prev >= 0) consider(left.prev);
        consider(c.pos);
    }
    for (int i = 0; i < n && n > 0; i = symbols[i].next) {
        out.push_back(symbols[i].id);
        if (symbols[i].next < 0) break;
    }
}

}  // namespace lw
