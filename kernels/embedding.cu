#include "embedding.h"

#include "core/error.h"
#include "cuda_check.h"

#include <algorithm>
#include <cstdint>

namespace lw::cuda {
namespace {

// One block per output row; `Word` is the widest unit that divides the row's bytes.
template <class Word>
__global__ void gather_kernel(const Word* table, std::int64_t table_rows, std::int64_t row_words, const int* ids,
                              Word* out) {
    const int id = ids[blockIdx.x];
    Word* dst = out + static_cast<std::int64_t>(blockIdx.x) * row_words;
    const bool valid = id >= 0 && id < table_rows;
    const Word* src = table + (valid ? id : 0) * row_words;
    for (std::int64_t i = threadIdx.x; i < row_words; i += blockDim.x) dst[i] = valid ? src[i] : Word{};
}

template <class Word>
void launch(const void* table, std::int64_t table_rows, std::int64_t row_bytes, const int* ids, int count, void* out,
            cudaStream_t stream) {
    const std::int64_t words = row_bytes / static_cast<std::int64_t>(sizeof(Word));
    const int threads = static_cast<int>(std::clamp<std::int64_t>((words + 31) / 32 * 32, 32, 256));
    gather_kernel<Word><<<count, threads, 0, stream>>>(static_cast<const Word*>(table), table_rows, words, ids,
                                                       static_cast<Word*>(out));
}

}  // namespace

void gather_rows(DType dtype, const void* table, std::int64_t table_rows, std::int64_t row_elements, const int* ids,
                 int count, void* out, cudaStream_t stream) {
    const DTypeInfo& info = dtype_info(dtype);
    const std::size_t element = info.block_bytes;
    if (info.block_elems != 1 || (element != 2 && element != 4))
        fail("gather_rows: rows of ", dtype_name(dtype), ", expected a 2- or 4-byte type");
    if (table_rows <= 0 || row_elements <= 0 || count < 0)
        fail("gather_rows: ", count, " rows from a table of ", table_rows, " x ", row_elements);
    if (count == 0) return;
    const std::int64_t row_bytes = row_elements * static_cast<std::int64_t>(element);
    const auto aligned = [&](std::size_t a) {
        return row_bytes % static_cast<std::int64_t>(a) == 0 && reinterpret_cast<std::uintptr_t>(table) % a == 0 &&
               reinterpret_cast<std::uintptr_t>(out) % a == 0;
    };
    if (aligned(16))
        launch<uint4>(table, table_rows, row_bytes, ids, count, out, stream);
    else if (aligned(4))
        launch<unsigned>(table, table_rows, row_bytes, ids, count, out, stream);
    else
        launch<unsigned short>(table, table_rows, row_bytes, ids, count, out, stream);
    check(cudaGetLastError(), "gather_rows");
}

}  // namespace lw::cuda
