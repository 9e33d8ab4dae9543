// The transformers + PEFT forward-pass fixtures (tests/data/forward/<model>.json, made by
// tools/fixtures/make_forward_fixtures.py): each request's adapter, prompt, greedy
// tokens and their logprobs, and the log-softmax after the last prompt token.
#pragma once

#include "core/token_id.h"

#include <optional>
#include <span>
#include <string>
#include <vector>

namespace lw::test {

struct ForwardRequest {
    std::optional<std::string> adapter;  // none: the bare base
    std::vector<TokenId> prompt;
    std::vector<TokenId> tokens;
    std::vector<double> logprobs;
    std::vector<double> prompt_last_logprobs;
};

std::vector<ForwardRequest> read_forward_fixture(const std::string& model);

// log(softmax(logits)) in double precision, to compare with the fixtures.
std::vector<double> log_softmax(std::span<const float> logits);

}  // namespace lw::test
