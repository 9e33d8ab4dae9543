#include "support/forward_fixture.h"

#include "support/test_support.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>

namespace lw::test {

std::vector<ForwardRequest> read_forward_fixture(const std::string& model) {
    const auto j = nlohmann::json::parse(read_file(data_path("forward/" + model + ".json")));
    std::vector<ForwardRequest> out;
    for (const auto& r : j.at("requests")) {
        ForwardRequest req;
        if (!r.at("adapter").is_null()) req.adapter = r.at("adapter").get<std::string>();
        req.prompt = r.at("prompt").get<std::vector<TokenId>>();
        req.tokens = r.at("tokens").get<std::vector<TokenId>>();
        req.logprobs = r.at("logprobs").get<std::vector<double>>();
        req.prompt_last_logprobs = r.at("prompt_last_logprobs").get<std::vector<double>>();
        out.push_back(std::move(req));
    }
    return out;
}

std::vector<double> log_softmax(std::span<const float> logits) {
    const double peak = *std::max_element(logits.begin(), logits.end());
    double sum = 0;
    for (float v : logits) sum += std::exp(v - peak);
    std::vector<double> out;
    for (float v : logits) out.push_back(v - peak - std::log(sum));
    return out;
}

}  // namespace lw::test
