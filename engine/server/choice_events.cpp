#include "server/choice_events.h"

namespace lw {

EventCallback ChoiceEvents::callback_for(int index) {
    return [self = shared_from_this(), index](const GenerationEvent& event) {
        {
            const std::lock_guard lock(self->mutex_);
            self->queue_.emplace_back(index, event);
        }
        self->arrived_.notify_all();
    };
}

std::vector<std::pair<int, GenerationEvent>> ChoiceEvents::take(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    arrived_.wait_for(lock, timeout, [&] { return !queue_.empty(); });
    std::vector<std::pair<int, GenerationEvent>> events(std::make_move_iterator(queue_.begin()),
                                                        std::make_move_iterator(queue_.end()));
    queue_.clear();
    for (const auto& [index, event] : events)
        if (event.kind == GenerationEvent::Kind::Finished) ++finished_taken_;
    return events;
}

bool ChoiceEvents::done() const {
    const std::lock_guard lock(mutex_);
    return finished_taken_ == choices_;
}

}  // namespace lw
