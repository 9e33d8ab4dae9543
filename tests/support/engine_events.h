// Collects an lw::Engine's generation events per request, from the step thread, for
// tests to wait on and compare.
#pragma once

#include "runtime/request.h"

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace lw::test {

// Generous: a wait that runs out means the engine hung, not that it was slow.
constexpr auto kPatience = std::chrono::seconds(300);

struct Outcome {
    std::vector<TokenId> tokens;
    std::vector<float> logprobs;
    std::vector<std::vector<TokenLogprob>> top;
    std::string text;  // streamed text and the final tail
    bool finished = false;
    FinishReason reason = FinishReason::Error;
    std::string error;
    int prompt_tokens = 0;
    int completion_tokens = 0;
    int events_after_finish = 0;
};

// Collects every request's events from the step thread.
class Collector {
public:
    EventCallback callback() {
        return [this](const GenerationEvent& e) {
            std::lock_guard lock(mutex_);
            Outcome& o = outcomes_[e.request];
            if (o.finished) ++o.events_after_finish;
            if (e.kind == GenerationEvent::Kind::Token) {
                o.tokens.push_back(e.token);
                o.logprobs.push_back(e.logprob);
                o.top.push_back(e.top_logprobs);
                o.text += e.text;
            } else {
                o.finished = true;
                o.reason = e.reason;
                o.error = e.error;
                o.text += e.text_tail;
                o.prompt_tokens = e.prompt_tokens;
                o.completion_tokens = e.completion_tokens;
                ++finished_;
            }
            changed_.notify_all();
        };
    }
    // Waits until `n` requests have finished; false if the engine never got there.
    bool wait_finished(std::size_t n) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, kPatience, [&] { return finished_ >= n; });
    }
    // Waits until request `id` has streamed at least `tokens` tokens.
    bool wait_tokens(RequestId id, std::size_t tokens) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, kPatience, [&] { return outcomes_[id].tokens.size() >= tokens; });
    }
    Outcome get(RequestId id) {
        std::lock_guard lock(mutex_);
        return outcomes_[id];
    }

private:
    std::mutex mutex_;
    std::condition_variable changed_;
    std::map<RequestId, Outcome> outcomes_;
    std::size_t finished_ = 0;
};

}  // namespace lw::test
