// Runs whole train-gpt steps (and prefill/decode steps, backends/tests/cuda_infer_step.rs) on the
// CPU: the real kernels of gpt.cu, mlp.cu, decode_attention.cu and attention.cu under the host
// emulation (check/emulate.h), launched exactly as the CUDA binding launches them, and the
// plan's GEMMs with cuBLASLt's semantics. The program comes from
// backends/tests/cuda_gpt_step/emulated.rs, already resolved to fake device addresses: this
// file only maps the addresses to host memory, dispatches by kernel name with typed arguments,
// and prints what the program asks for (each step's loss, gradients).
//
// Program (text, one command a line, addresses 0x-prefixed hex, '#' lines are context for
// error messages):
//   alloc ADDR BYTES                       a zeroed allocation at fake address ADDR
//   init ADDR HEX                          initial bytes at ADDR
//   memset ADDR BYTES                      zero BYTES at ADDR
//   gemm M N K TA TB COUNT SA SB SC A B C CIN BIAS EPI IN_DT OUT_DT
//       row-major C = op(A)·op(B) [+ CIN (OUT_DT)] [+ bias per column (OUT_DT)] [then ReLU]
//       per matrix of a strided batch (strides in elements), products summed in double,
//       rounded once to OUT_DT (0 f32, 1 bf16, 2 f16) as store_from_f32 does; CIN 0 when
//       unused; EPI 0 none (BIAS ignored, as cuBLASLt's default epilogue ignores it), 1 bias,
//       2 bias then ReLU
//   launch NAME GX GY GZ BLOCK NARGS KIND:VALUE...
//       KIND p (pointer, fake address or 0), i (int), l (long), f (float, its bits in hex)
//   print LABEL ADDR COUNT DT              prints "LABEL v0 v1 ..." (values as f32)
// Every allocation has NaN-filled guard bytes on both sides: an out-of-bounds read poisons
// the result, an out-of-bounds write is reported after the command that made it. Errors go
// to stderr with the last context line, exit status 2.
// Build: c++ -std=c++20 -O2 -pthread -DBENCH_EMULATE -I kernels/cuda check/gpt_step.cpp
#include <pthread.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "mlp.cu"
#include "gpt.cu"
#include "decode_attention.cu"  // prefill and decode (backends/tests/cuda_infer_step.rs)
#include "attention.cu"

namespace {

std::string context = "(start of program)";
int line_no = 0;

[[noreturn]] void die(const std::string& msg) {
    std::fprintf(stderr, "gpt_step: line %d: %s\n  while running: %s\n", line_no, msg.c_str(),
                 context.c_str());
    std::exit(2);
}

constexpr size_t GUARD = 256;
constexpr unsigned char GUARD_BYTE = 0xff;  // NaN in f32, bf16 and f16

struct Alloc {
    size_t bytes;
    std::vector<unsigned char> mem;  // GUARD + bytes + GUARD
    unsigned char* data() { return mem.data() + GUARD; }
};
std::map<unsigned long long, Alloc> allocs;  // by fake base address

// Host address of fake address `addr`, with `extent` bytes from it inside one allocation.
unsigned char* resolve(unsigned long long addr, size_t extent, const char* what) {
    auto it = allocs.upper_bound(addr);
    if (it == allocs.begin()) die(std::string(what) + ": address below every allocation");
    --it;
    const unsigned long long off = addr - it->first;
    if (off >= it->second.bytes || off + extent > it->second.bytes) {
        char b[160];
        std::snprintf(b, sizeof b, "%s: %zu bytes at 0x%llx overrun the allocation at 0x%llx (%zu bytes)",
                      what, extent, addr, it->first, it->second.bytes);
        die(b);
    }
    return it->second.data() + off;
}

void check_guards() {
    for (auto& [base, a] : allocs) {
        for (size_t i = 0; i < GUARD; ++i) {
            if (a.mem[i] != GUARD_BYTE || a.mem[GUARD + a.bytes + i] != GUARD_BYTE) {
                char b[128];
                std::snprintf(b, sizeof b, "a write outside the allocation at 0x%llx (%zu bytes)", base,
                              a.bytes);
                die(b);
            }
        }
    }
}

unsigned long long parse_u64(const std::string& s) {
    char* end = nullptr;
    const unsigned long long v = std::strtoull(s.c_str(), &end, 0);
    if (s.empty() || *end != 0) die("not a number: '" + s + "'");
    return v;
}

long long parse_i64(const std::string& s) {
    char* end = nullptr;
    const long long v = std::strtoll(s.c_str(), &end, 0);
    if (s.empty() || *end != 0) die("not a number: '" + s + "'");
    return v;
}

size_t dt_size(int dt) {
    if (dt == 0) return 4;
    if (dt == 1 || dt == 2) return 2;
    die("dtype code " + std::to_string(dt) + " is not 0, 1 or 2");
}

// ---------------------------------------------------------------------------------------------
// Kernel launches, typed by each kernel's own C signature.

struct Arg {
    char kind;
    unsigned long long bits;
};

struct Launch {
    std::string name;
    emu_dim3 grid;
    unsigned block;
    std::vector<Arg> args;
};

template <class T>
T arg_as(const Arg& a, size_t i) {
    auto want = [&](char k) {
        if (a.kind != k)
            die("argument " + std::to_string(i) + " is '" + a.kind + "', the kernel takes '" + k + "'");
    };
    if constexpr (std::is_pointer_v<T>) {
        want('p');
        return a.bits == 0 ? nullptr : (T)resolve(a.bits, 0, "kernel pointer argument");
    } else if constexpr (std::is_same_v<T, int>) {
        want('i');
        return (int)(long long)a.bits;
    } else if constexpr (std::is_same_v<T, long>) {
        want('l');
        return (long)a.bits;
    } else if constexpr (std::is_same_v<T, float>) {
        want('f');
        return bits_to_f32((u32)a.bits);
    } else {
        static_assert(std::is_pointer_v<T>, "unsupported kernel parameter type");
    }
}

template <class... P, size_t... I>
void launch_with(void (*kernel)(P...), const Launch& l, std::index_sequence<I...>) {
    emu_launch(kernel, l.grid, l.block, arg_as<P>(l.args[I], I)...);
}

using Runner = std::function<void(const Launch&)>;

template <class... P>
Runner runner(void (*kernel)(P...)) {
    return [kernel](const Launch& l) {
        if (l.args.size() != sizeof...(P))
            die(std::to_string(l.args.size()) + " arguments, the kernel takes " +
                std::to_string(sizeof...(P)));
        launch_with(kernel, l, std::index_sequence_for<P...>{});
    };
}

const std::map<std::string, Runner>& kernels() {
    static const std::map<std::string, Runner> k = {
        {"embed_fwd", runner(embed_fwd)},
        {"embed_bwd_wte", runner(embed_bwd_wte)},
        {"embed_bwd_wpe", runner(embed_bwd_wpe)},
        {"layernorm_fwd", runner(layernorm_fwd)},
        {"layernorm_bwd_dx", runner(layernorm_bwd_dx)},
        {"layernorm_bwd_params", runner(layernorm_bwd_params)},
        {"gelu_fwd", runner(gelu_fwd)},
        {"gelu_bwd", runner(gelu_bwd)},
        {"split_heads", runner(split_heads)},
        {"causal_softmax", runner(causal_softmax)},
        {"softmax_bwd", runner(softmax_bwd)},
        {"adamw", runner(adamw)},
        {"xent_fwd_bwd", runner(xent_fwd_bwd)},
        {"relu_bwd_colsum", runner(relu_bwd_colsum)},
        {"sgd_momentum", runner(sgd_momentum)},
        {"kv_fill", runner(kv_fill)},
        {"kv_append", runner(kv_append)},
        {"decode_attn_partial", runner(decode_attn_partial)},
        {"decode_attn_combine", runner(decode_attn_combine)},
        {"gather_rows", runner(gather_rows)},
        {"flash_fwd_bf16_d64", runner(flash_fwd_bf16_d64)},
        {"flash_fwd_bf16_d128", runner(flash_fwd_bf16_d128)},
        {"flash_fwd_f16_d64", runner(flash_fwd_f16_d64)},
        {"flash_fwd_f16_d128", runner(flash_fwd_f16_d128)},
    };
    return k;
}

// ---------------------------------------------------------------------------------------------
// GEMMs with cuBLASLt's semantics (row-major view, packed operands, see layout.rs / lt.rs).

void gemm(const std::vector<std::string>& t) {
    if (t.size() != 18) die("gemm takes 17 fields");
    const long m = parse_i64(t[1]), n = parse_i64(t[2]), k = parse_i64(t[3]);
    const bool ta = parse_i64(t[4]) != 0, tb = parse_i64(t[5]) != 0;
    const long count = parse_i64(t[6]), sa = parse_i64(t[7]), sb = parse_i64(t[8]),
               sc = parse_i64(t[9]);
    const unsigned long long a = parse_u64(t[10]), b = parse_u64(t[11]), c = parse_u64(t[12]),
                             cin = parse_u64(t[13]), bias = parse_u64(t[14]);
    const int epi = (int)parse_i64(t[15]);
    const int in_dt = (int)parse_i64(t[16]), out_dt = (int)parse_i64(t[17]);
    if (epi < 0 || epi > 2) die("epilogue code " + std::to_string(epi) + " is not 0, 1 or 2");
    if (epi != 0 && bias == 0) die("a bias epilogue without a bias pointer");
    if (m < 1 || n < 1 || k < 1 || count < 1) die("gemm with an empty dimension");
    const size_t is = dt_size(in_dt), os = dt_size(out_dt);
    const void* A = resolve(a, ((count - 1) * sa + m * k) * is, "gemm A");
    const void* B = resolve(b, ((count - 1) * sb + k * n) * is, "gemm B");
    void* C = resolve(c, ((count - 1) * sc + m * n) * os, "gemm C");
    const void* Cin = cin ? resolve(cin, ((count - 1) * sc + m * n) * os, "gemm C_in") : nullptr;
    const void* Bias = epi != 0 ? resolve(bias, n * os, "gemm bias") : nullptr;
    std::vector<float> out((size_t)(m * n));
    for (long bi = 0; bi < count; ++bi) {
        const long a0 = bi * sa, b0 = bi * sb, c0 = bi * sc;
        for (long i = 0; i < m; ++i) {
            for (long j = 0; j < n; ++j) {
                double acc = 0;
                for (long l = 0; l < k; ++l) {
                    const float x = load_as_f32(A, a0 + (ta ? l * m + i : i * k + l), in_dt);
                    const float y = load_as_f32(B, b0 + (tb ? j * k + l : l * n + j), in_dt);
                    acc += (double)x * y;
                }
                if (Cin) acc += load_as_f32(Cin, c0 + i * n + j, out_dt);
                if (Bias) acc += load_as_f32(Bias, j, out_dt);
                if (epi == 2 && acc < 0) acc = 0;
                out[(size_t)(i * n + j)] = (float)acc;
            }
        }
        // C may alias C_in: read all of this matrix before writing it.
        for (long e = 0; e < m * n; ++e) store_from_f32(C, c0 + e, out_dt, out[(size_t)e]);
    }
}

void launch(const std::vector<std::string>& t) {
    if (t.size() < 7) die("launch takes at least 6 fields");
    Launch l;
    l.name = t[1];
    l.grid = emu_dim3{(unsigned)parse_u64(t[2]), (unsigned)parse_u64(t[3]), (unsigned)parse_u64(t[4])};
    l.block = (unsigned)parse_u64(t[5]);
    const size_t nargs = parse_u64(t[6]);
    if (t.size() != 7 + nargs) die("launch: NARGS does not match the arguments given");
    if (l.grid.x < 1 || l.grid.y < 1 || l.grid.z != 1) die("grid must be (≥1, ≥1, 1)");
    if (l.block < 1 || l.block > 1024) die("block size out of range");
    for (size_t i = 0; i < nargs; ++i) {
        const std::string& s = t[7 + i];
        if (s.size() < 3 || s[1] != ':') die("argument '" + s + "' is not KIND:VALUE");
        const std::string v = s.substr(2);
        l.args.push_back({s[0], s[0] == 'i' || s[0] == 'l' ? (unsigned long long)parse_i64(v)
                                                            : parse_u64(v)});
    }
    const auto it = kernels().find(l.name);
    if (it == kernels().end()) die("no kernel named " + l.name);
    it->second(l);
}

void print(const std::vector<std::string>& t) {
    if (t.size() != 5) die("print takes 4 fields");
    const size_t count = parse_u64(t[3]);
    const int dt = (int)parse_i64(t[4]);
    const void* p = resolve(parse_u64(t[2]), count * dt_size(dt), "print");
    std::printf("%s", t[1].c_str());
    for (size_t i = 0; i < count; ++i) std::printf(" %.9e", (double)load_as_f32(p, (long)i, dt));
    std::printf("\n");
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    die(std::string("not a hex digit: '") + c + "'");
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: gpt_step PROGRAM\n");
        return 2;
    }
    // Every emulated CUDA thread is a host thread: small stacks make creating them cheaper.
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 << 10);
    pthread_setattr_default_np(&attr);
    std::ifstream in(argv[1]);
    if (!in) {
        std::fprintf(stderr, "gpt_step: cannot read %s\n", argv[1]);
        return 2;
    }
    std::string line;
    while (std::getline(in, line)) {
        ++line_no;
        if (line.empty()) continue;
        if (line[0] == '#') {
            context = line.substr(1);
            continue;
        }
        std::istringstream ss(line);
        std::vector<std::string> t;
        for (std::string w; ss >> w;) t.push_back(w);
        const std::string& cmd = t[0];
        if (cmd == "alloc") {
            if (t.size() != 3) die("alloc takes 2 fields");
            const unsigned long long base = parse_u64(t[1]);
            const size_t bytes = parse_u64(t[2]);
            if (base == 0 || bytes == 0) die("alloc at 0 or of 0 bytes");
            Alloc a{bytes, std::vector<unsigned char>(bytes + 2 * GUARD, GUARD_BYTE)};
            std::memset(a.data(), 0, bytes);
            if (!allocs.emplace(base, std::move(a)).second) die("allocated twice");
            auto it = allocs.find(base);
            if (std::next(it) != allocs.end() && base + bytes > std::next(it)->first)
                die("allocations overlap");
            if (it != allocs.begin() && std::prev(it)->first + std::prev(it)->second.bytes > base)
                die("allocations overlap");
        } else if (cmd == "init") {
            if (t.size() != 3 || t[2].size() % 2 != 0) die("init takes ADDR and an even hex string");
            const size_t bytes = t[2].size() / 2;
            unsigned char* p = resolve(parse_u64(t[1]), bytes, "init");
            for (size_t i = 0; i < bytes; ++i)
                p[i] = (unsigned char)(hex_digit(t[2][2 * i]) * 16 + hex_digit(t[2][2 * i + 1]));
        } else if (cmd == "memset") {
            if (t.size() != 3) die("memset takes 2 fields");
            const size_t bytes = parse_u64(t[2]);
            std::memset(resolve(parse_u64(t[1]), bytes, "memset"), 0, bytes);
        } else if (cmd == "gemm") {
            gemm(t);
        } else if (cmd == "launch") {
            launch(t);
        } else if (cmd == "print") {
            print(t);
        } else {
            die("unknown command '" + cmd + "'");
        }
        check_guards();
    }
    std::fflush(stdout);
    return 0;
}
