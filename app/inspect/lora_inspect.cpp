#include <cstdio>

int main() {
    std::puts("lora-inspect: model loading is not wired up yet");
    return 1;
}
