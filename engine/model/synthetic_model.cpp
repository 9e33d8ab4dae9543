#include "model/synthetic_model.h"

#include "core/error.h"
#include "core/half.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <memory>
#include <thread>

namespace lw {

namespace {

ModelConfig llama_shape(int hidden, int intermediate, int layers, int heads, int kv_heads, int vocab) {
    ModelConfig c;
    c.architecture = "LlamaForCausalLM";
    c.vocab_size = vocab;
    c.hidden_size = hidden;
    c.intermediate_size = intermediate;
    c.num_layers = layers;
    c.num_heads = heads;
    c.num_kv_heads = kv_heads;
    c.head_dim = hidden / heads;
    c.max_position_embeddings = 4096;
    c.rms_norm_eps = 1e-5f;
    c.bos_token_id = 1;
    c.eos_token_ids = {2};
    return c;
}

ModelConfig shape_config(const std::string& shape) {
    if (shape == "llama-7b") return llama_shape(4096, 11008, 32, 32, 32, 32000);
    if (shape == "llama-13b") return llama_shape(5120, 13824, 40, 40, 40, 32000);
    if (shape == "mistral-7b") {  // Mistral-7B-v0.1
        ModelConfig c = llama_shape(4096, 14336, 32, 32, 8, 32000);
        c.architecture = "MistralForCausalLM";
        c.max_position_embeddings = 32768;
        c.sliding_window = 4096;
        return c;
    }
    if (shape == "smollm2-135m") {
        ModelConfig c = llama_shape(576, 1536, 30, 9, 3, 49152);
        c.max_position_embeddings = 8192;
        c.rope_theta = 100000.0f;
        c.tie_word_embeddings = true;
        c.bos_token_id = 0;
        c.eos_token_ids = {0};
        return c;
    }
    if (shape == "tiny") {
        ModelConfig c = llama_shape(64, 128, 2, 4, 2, 256);
        c.max_position_embeddings = 2048;
        return c;
    }
    std::string known;
    for (const std::string& s : synthetic_model_shapes()) known += (known.empty() ? "" : ", ") + s;
    fail("unknown model shape '", shape, "' (known shapes: ", known, ")");
}

std::uint64_t splitmix64(std::uint64_t& state) {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// FNV-1a: a seed per tensor name that is the same with every standard library.
std::uint64_t name_hash(const std::string& s) {
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned char ch : s) h = (h ^ ch) * 0x100000001b3ull;
    return h;
}

// 65536 quantiles of N(0, 1): one 16-bit random number picks one, so four values come
// from one 64-bit draw. The distribution is exact up to its 1/65536 granularity.
constexpr std::size_t kQuantiles = 65536;

const std::vector<float>& unit_normal_quantiles() {
    static const std::vector<float> table = [] {
        std::vector<float> q(kQuantiles);
        for (std::size_t i = 0; i < kQuantiles; ++i) {
            const double p = (static_cast<double>(i) + 0.5) / kQuantiles;
            double lo = -10.0, hi = 10.0;
            for (int it = 0; it < 60; ++it) {  // bisection on the CDF 0.5 * erfc(-x / sqrt 2)
                const double mid = 0.5 * (lo + hi);
                (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p ? lo : hi) = mid;
            }
            q[i] = static_cast<float>(0.5 * (lo + hi));
        }
        return q;
    }();
    return table;
}

template <class T>
std::vector<T> scaled_quantiles(float std, T (*convert)(float)) {
    const std::vector<float>& unit = unit_normal_quantiles();
    std::vector<T> out(kQuantiles);
    for (std::size_t i = 0; i < kQuantiles; ++i) out[i] = convert(unit[i] * std);
    return out;
}

float identity(float f) {
    return f;
}

// Fills elements [begin, end) of `out` from `table`, four per 64-bit draw of `state`.
template <class T>
void fill_from(T* out, std::size_t begin, std::size_t end, const std::vector<T>& table, std::uint64_t state) {
    for (std::size_t i = begin; i < end;) {
        std::uint64_t r = splitmix64(state);
        for (int k = 0; k < 4 && i < end; ++k, ++i, r >>= 16) out[i] = table[r & 0xffffu];
    }
}

template <class T>
void fill_parallel(T* out, std::size_t elems, const std::vector<T>& table, std::uint64_t seed, int threads) {
    // Chunks have fixed sizes and seeds, so the result does not depend on the thread count.
    constexpr std::size_t kChunk = std::size_t{1} << 20;
    const std::size_t chunks = (elems + kChunk - 1) / kChunk;
    const auto hw = static_cast<std::size_t>(std::max(1u, std::thread::hardware_concurrency()));
    const std::size_t workers = std::min(chunks, threads > 0 ? static_cast<std::size_t>(threads) : hw);
    std::atomic<std::size_t> next{0};
    auto work = [&] {
        for (std::size_t c; (c = next.fetch_add(1)) < chunks;) {
            std::uint64_t state = seed ^ (c * 0xd1b54a32d192ed03ull);
            fill_from(out, c * kChunk, std::min(elems, (c + 1) * kChunk), table, splitmix64(state));
        }
    };
    std::vector<std::jthread> pool;
    for (std::size_t t = 1; t < workers; ++t) pool.emplace_back(work);
    work();
}

template <class T>
void fill_constant(std::span<std::byte> out, T value) {
    for (std::size_t i = 0; i < out.size() / sizeof(T); ++i) std::memcpy(out.data() + i * sizeof(T), &value, sizeof(T));
}

void fill_ones(std::span<std::byte> out, DType dtype) {
    switch (dtype) {
        case DType::F32:
            return fill_constant(out, 1.0f);
        case DType::F16:
            return fill_constant(out, f32_to_f16(1.0f));
        case DType::BF16:
            return fill_constant(out, f32_to_bf16(1.0f));
        default:
            fail("synthetic weights: unsupported dtype ", dtype_name(dtype), " (F16, BF16 or F32)");
    }
}

}  // namespace

const std::vector<std::string>& synthetic_model_shapes() {
    static const std::vector<std::string> shapes{"llama-7b", "llama-13b", "mistral-7b", "smollm2-135m", "tiny"};
    return shapes;
}

ModelConfig synthetic_model_config(const std::string& shape) {
    ModelConfig c = shape_config(shape);
    validate_model_config(c, "synthetic shape " + shape);
    return c;
}

void fill_normal(std::span<std::byte> out, DType dtype, std::uint64_t seed, float std, int threads) {
    const std::size_t elem = dtype_info(dtype).block_bytes;
    if (out.size() % elem != 0)
        fail("fill_normal: ", out.size(), " bytes are not whole ", dtype_name(dtype), " values");
    const std::size_t n = out.size() / elem;
    switch (dtype) {
        case DType::F32:
            return fill_parallel(reinterpret_cast<float*>(out.data()), n, scaled_quantiles<float>(std, identity), seed,
                                 threads);
        case DType::F16:
            return fill_parallel(reinterpret_cast<std::uint16_t*>(out.data()), n,
                                 scaled_quantiles<std::uint16_t>(std, f32_to_f16), seed, threads);
        case DType::BF16:
            return fill_parallel(reinterpret_cast<std::uint16_t*>(out.data()), n,
                                 scaled_quantiles<std::uint16_t>(std, f32_to_bf16), seed, threads);
        default:
            fail("fill_normal: unsupported dtype ", dtype_name(dtype), " (F16, BF16 or F32)");
    }
}

LoadedModel make_synthetic_model(const ModelConfig& config, const std::string& name,
                                 const SyntheticModelOptions& options) {
    if (options.dtype != DType::F16 && options.dtype != DType::BF16 && options.dtype != DType::F32)
        fail("synthetic model ", name, ": unsupported dtype ", dtype_name(options.dtype), " (F16, BF16 or F32)");
    if (!(options.init_std > 0.0f) || !std::isfinite(options.init_std))
        fail("synthetic model ", name, ": init_std must be positive, got ", options.init_std);
    validate_model_config(config, "synthetic model " + name);

    LoadedModel m;
    m.name = name;
    m.path = "synthetic:" + name;
    m.format = "synthetic";
    m.config = config;
    m.config.torch_dtype = options.dtype == DType::F32   ? "float32"
                           : options.dtype == DType::F16 ? "float16"
                                                         : "bfloat16";
    for (const auto& [tensor, shape] : expected_tensor_shapes(config)) {
        TensorView t{tensor, options.dtype, shape, {}};
        const std::size_t bytes = dtype_bytes(options.dtype, t.numel());
        std::shared_ptr<std::byte[]> storage = std::make_shared_for_overwrite<std::byte[]>(bytes);
        const std::span<std::byte> data(storage.get(), bytes);
        if (tensor.find("norm.weight") != std::string::npos)
            fill_ones(data, options.dtype);
        else if (tensor.ends_with(".bias"))
            std::memset(data.data(), 0, bytes);
        else
            fill_normal(data, options.dtype, options.seed ^ name_hash(tensor), options.init_std, options.threads);
        t.data = data;
        m.weights.add(std::move(t));
        m.weights.keep_alive(std::move(storage));
    }
    return m;
}

}  // namespace lw
