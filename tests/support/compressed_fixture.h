// Reads a fixture stored compressed (.xz, .gz, or plain) into memory, so large
// reference files such as tokenizer.json can live in the repository small.
#pragma once

#include <filesystem>
#include <string>

namespace lw::test {

// The decompressed bytes; fails the test if the file cannot be read.
std::string read_compressed(const std::filesystem::path& p);

}  // namespace lw::test
