#include "memory/pooled_adapter.h"

#include "backend/backend.h"
#include "core/dequantize.h"
#include "core/error.h"
#include "core/half.h"

#include <algorithm>
#include <cstring>

namespace lw {
namespace {

// Rows start on 16-byte boundaries, so that the kernels' vector loads (AVX on the CPU,
// 16-byte loads on a GPU) are aligned.
constexpr std::size_t kRowAlign = 16;

std::size_t align_up(std::size_t n, std::size_t a) {
    return (n + a - 1) / a * a;
}

int module_index(const LoraModule& m, const std::string& who) {
    const auto& names = linear_module_names();
    const auto it = std::find(names.begin(), names.end(), m.module);
    if (it == names.end()) fail(who, ": layer ", m.layer, " has unknown module '", m.module, "'");
    return static_cast<int>(it - names.begin());
}

std::string describe_adapter(const LoraAdapter& adapter) {
    return cat("adapter '", adapter.name, "'");
}

// Walks the rows of an adapter in pool order (per module: rank rows of A, then rank
// rows of B^T) and places each at (page index, offset), starting a new page whenever a
// row does not fit the rest of the current one.
class RowPlacer {
public:
    RowPlacer(std::size_t page_bytes, DType dtype, std::string who)
        : page_bytes_(page_bytes), dtype_(dtype), who_(std::move(who)) {}

    // Where the next row of `elems` values goes: {page index, byte offset}.
    std::pair<std::size_t, std::size_t> place(std::int64_t elems, const LoraModule& m) {
        const std::size_t bytes = dtype_bytes(dtype_, elems);
        if (bytes > page_bytes_)
            fail(who_, ": a row of layer ", m.layer, " ", m.module, " takes ", bytes, " bytes in ", dtype_name(dtype_),
                 ", more than a page of ", page_bytes_, " bytes");
        std::size_t offset = align_up(used_, kRowAlign);
        if (pages_ == 0 || offset + bytes > page_bytes_) {
            ++pages_;
            offset = 0;
        }
        used_ = offset + bytes;
        return {pages_ - 1, offset};
    }
    std::size_t pages() const { return pages_; }

private:
    std::size_t page_bytes_;
    DType dtype_;
    std::string who_;
    std::size_t pages_ = 0;
    std::size_t used_ = 0;
};

void check_row_dtype(DType dtype, const std::string& who) {
    if (dtype != DType::F32 && dtype != DType::F16 && dtype != DType::BF16)
        fail(who, ": adapter rows cannot be stored as ", dtype_name(dtype), " (expected F32, F16 or BF16)");
}

// Writes `values` into `out` converted to `dtype` (F32, F16 or BF16).
void store_values(std::span<const float> values, DType dtype, std::byte* out) {
    if (dtype == DType::F32) {
        std::memcpy(out, values.data(), values.size() * sizeof(float));
        return;
    }
    for (std::size_t i = 0; i < values.size(); ++i) {
        const std::uint16_t h = dtype == DType::F16 ? f32_to_f16(values[i]) : f32_to_bf16(values[i]);
        std::memcpy(out + i * 2, &h, 2);
    }
}

// A module's matrix as elements of the pool's dtype, in its stored layout: the stored
// bytes themselves when they already are (an fp16 adapter on an fp16 pool, the usual
// case), else converted once (dequantized to fp32, rounded to `dtype`) into `scratch`.
std::span<const std::byte> in_dtype(const TensorView& t, DType dtype, std::vector<float>& values,
                                    std::vector<std::byte>& scratch) {
    if (t.dtype == dtype && t.data.size() == dtype_bytes(dtype, t.numel())) return t.data;
    values.resize(static_cast<std::size_t>(t.numel()));
    dequantize(t, values);
    scratch.resize(dtype_bytes(dtype, t.numel()));
    store_values(values, dtype, scratch.data());
    return scratch;
}

// Column c of a [rows][cols] matrix of E-sized elements, written contiguously (B's
// columns are B^T's rows). Elements are copied as bytes: stored tensors may be unaligned.
template <class E>
void copy_column_of(const std::byte* matrix, std::size_t rows, std::size_t cols, std::size_t c, std::byte* out) {
    for (std::size_t r = 0; r < rows; ++r) {
        E e;
        std::memcpy(&e, matrix + (r * cols + c) * sizeof(E), sizeof(E));
        std::memcpy(out + r * sizeof(E), &e, sizeof(E));
    }
}

void copy_column(const std::byte* matrix, std::size_t rows, std::size_t cols, std::size_t c, std::size_t elem_bytes,
                 std::byte* out) {
    if (elem_bytes == 2)
        copy_column_of<std::uint16_t>(matrix, rows, cols, c, out);
    else
        copy_column_of<std::uint32_t>(matrix, rows, cols, c, out);
}

}  // namespace

const PooledModule* PooledAdapter::find(int layer, int module) const {
    if (layer < 0 || static_cast<std::size_t>(layer) >= lookup.size() || module < 0 || module >= 7) return nullptr;
    const int index = lookup[static_cast<std::size_t>(layer)][static_cast<std::size_t>(module)];
    return index < 0 ? nullptr : &modules[static_cast<std::size_t>(index)];
}

std::size_t adapter_pages_needed(const LoraAdapter& adapter, std::size_t page_bytes, DType dtype) {
    const std::string who = describe_adapter(adapter);
    check_row_dtype(dtype, who);
    RowPlacer placer(page_bytes, dtype, who);
    for (const auto& m : adapter.modules) {
        for (int r = 0; r < m.rank; ++r) placer.place(m.a.row_elems(), m);
        for (int r = 0; r < m.rank; ++r) placer.place(m.b.shape.at(0), m);
    }
    return placer.pages();
}

AdapterImage build_adapter_image(const LoraAdapter& adapter, int num_layers, std::size_t page_bytes, DType dtype,
                                 const HostAllocator& allocate) {
    const std::string who = describe_adapter(adapter);
    check_row_dtype(dtype, who);
    AdapterImage image;
    image.dtype = dtype;
    image.page_bytes = page_bytes;
    const std::size_t bytes = adapter_pages_needed(adapter, page_bytes, dtype) * page_bytes;
    image.bytes = allocate ? allocate(bytes) : HostBuffer::ordinary(bytes);
    if (image.bytes.size() != bytes)
        fail(who, ": asked for ", bytes, " bytes of host memory for its image, got ", image.bytes.size());
    PooledAdapter& layout = image.layout;
    layout.dtype = dtype;
    layout.lookup.assign(static_cast<std::size_t>(std::max(num_layers, 0)), {-1, -1, -1, -1, -1, -1, -1});

    RowPlacer placer(page_bytes, dtype, who);
    // Places the next row of `elems` values and returns where its bytes go.
    auto place_row = [&](std::size_t elems, const LoraModule& m) {
        const auto [page, offset] = placer.place(static_cast<std::int64_t>(elems), m);
        layout.rows.push_back({static_cast<PageId>(page), static_cast<std::uint32_t>(offset)});
        return image.bytes.data() + page * page_bytes + offset;
    };

    const std::size_t elem_bytes = dtype_bytes(dtype, 1);
    std::vector<float> values;
    std::vector<std::byte> a_scratch, b_scratch;
    for (const auto& m : adapter.modules) {
        const int module = module_index(m, who);
        if (m.layer < 0 || m.layer >= num_layers)
            fail(who, ": layer ", m.layer, " ", m.module, " is beyond the model's ", num_layers, " layers");
        if (layout.lookup[static_cast<std::size_t>(m.layer)][static_cast<std::size_t>(module)] >= 0)
            fail(who, ": layer ", m.layer, " ", m.module, " appears twice");
        if (m.a.shape.size() != 2 || m.b.shape.size() != 2 || m.a.shape[0] != m.rank || m.b.shape[1] != m.rank)
            fail(who, ": layer ", m.layer, " ", m.module, " has A ", shape_string(m.a.shape), " and B ",
                 shape_string(m.b.shape), ", which do not agree with rank ", m.rank);
        const auto in = static_cast<std::size_t>(m.a.shape[1]);
        const auto out = static_cast<std::size_t>(m.b.shape[0]);
        const auto rank = static_cast<std::size_t>(m.rank);

        PooledModule pm;
        pm.layer = m.layer;
        pm.module = module;
        pm.rank = m.rank;
        pm.scale = m.scale;
        pm.in_features = static_cast<int>(in);
        pm.out_features = static_cast<int>(out);
        pm.first_row = static_cast<std::uint32_t>(layout.rows.size());
        layout.lookup[static_cast<std::size_t>(m.layer)][static_cast<std::size_t>(module)] =
            static_cast<int>(layout.modules.size());
        layout.modules.push_back(pm);

        const std::span<const std::byte> a = in_dtype(m.a, dtype, values, a_scratch);
        const std::span<const std::byte> b = in_dtype(m.b, dtype, values, b_scratch);
        for (std::size_t r = 0; r < rank; ++r)
            std::memcpy(place_row(in, m), a.data() + r * in * elem_bytes, in * elem_bytes);
        for (std::size_t r = 0; r < rank; ++r) copy_column(b.data(), out, rank, r, elem_bytes, place_row(out, m));
    }
    return image;
}

PooledAdapter upload_adapter_image(std::shared_ptr<const AdapterImage> image, std::uint64_t id,
                                   std::span<const PageId> pages, Backend& backend) {
    if (!image) fail("adapter ", id, ": no image to upload");
    if (image->page_bytes != backend.page_bytes())
        fail("adapter image of ", image->page_bytes, "-byte pages cannot go to a pool of ", backend.page_bytes(),
             "-byte pages");
    if (pages.size() != image->page_count())
        fail("adapter image needs ", image->page_count(), " pages, was given ", pages.size());
    PooledAdapter pooled = image->layout;
    pooled.id = id;
    pooled.pages.assign(pages.begin(), pages.end());
    pooled.upload = backend.write_pages(pages, image->bytes, image);
    for (RowRef& r : pooled.rows) r.page = pages[r.page];
    return pooled;
}

PooledAdapter upload_adapter(const LoraAdapter& adapter, std::uint64_t id, std::span<const PageId> pages,
                             int num_layers, DType dtype, Backend& backend) {
    const std::size_t needed = adapter_pages_needed(adapter, backend.page_bytes(), dtype);
    if (pages.size() != needed)
        fail(describe_adapter(adapter), ": needs ", needed, " pages of ", backend.page_bytes(), " bytes, was given ",
             pages.size());
    for (PageId p : pages)
        if (p >= backend.page_count())
            fail(describe_adapter(adapter), ": page ", p, " is beyond the pool's ", backend.page_count());
    return upload_adapter_image(std::make_shared<const AdapterImage>(build_adapter_image(
                                    adapter, num_layers, backend.page_bytes(), dtype, backend.host_allocator())),
                                id, pages, backend);
}

}  // namespace lw
