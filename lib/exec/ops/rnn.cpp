// Recurrent layers: LSTM, GRU and RNN (opsets 7 and 14: forward, reverse, bidirectional; the
// optional bias, sequence lengths, initial states and peepholes; layout 0 and 1; the activations
// attribute with its alphas and betas; clip; input_forget; linear_before_reset).
//
// Per direction, the input projection of every time step is one product, W * X^T, computed before
// the recurrence (C_x[gate_row, column], a column per (t, b) in X's memory order); each step then
// adds R * H^T (C_h[gate_row, b]) and runs the gate arithmetic. W and R are packed with the float
// kernel table's pack_a: once at plan time when they are constants, at run time otherwise (in
// silero_vad they come out of Unsqueeze nodes). Where ONNX leaves details open this follows ONNX
// Runtime: clip bounds the gates' pre-activations (not Ct before h), a batch entry with sequence
// length 0 gets zero Y_h and Y_c, input_forget makes f = 1 - i.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>

#include "exec/ops/common.h"
#include "exec/ops/ops.h"
#include "kernels/gemm.h"

namespace mq::exec::ops {
namespace {

enum class cell { rnn, gru, lstm };

enum class act_kind { sigmoid, tanh, relu, affine, leaky_relu, thresholded_relu, scaled_tanh, hard_sigmoid, elu, softsign, softplus };

struct act_fn {
  act_kind kind = act_kind::sigmoid;
  float alpha = 0;
  float beta = 0;
};

// x[i] = f(x[i]) for i < n; one switch per call, plain loops inside.
void apply_act(const kernels::float_kernel_table& k, const act_fn& f, float* x, std::int64_t n) {
  const float a = f.alpha;
  const float b = f.beta;
  switch (f.kind) {
    case act_kind::sigmoid: k.sigmoid(x, x, n); return;
    case act_kind::tanh: k.tanh(x, x, n); return;
    case act_kind::relu:
      for (std::int64_t i = 0; i < n; ++i) x[i] = x[i] > 0 ? x[i] : 0.0f;
      return;
    case act_kind::affine:
      for (std::int64_t i = 0; i < n; ++i) x[i] = a * x[i] + b;
      return;
    case act_kind::leaky_relu:
      for (std::int64_t i = 0; i < n; ++i) x[i] = x[i] >= 0 ? x[i] : a * x[i];
      return;
    case act_kind::thresholded_relu:
      for (std::int64_t i = 0; i < n; ++i) x[i] = x[i] > a ? x[i] : 0.0f;
      return;
    case act_kind::scaled_tanh:
      for (std::int64_t i = 0; i < n; ++i) x[i] = a * std::tanh(b * x[i]);
      return;
    case act_kind::hard_sigmoid:
      for (std::int64_t i = 0; i < n; ++i) x[i] = std::min(std::max(a * x[i] + b, 0.0f), 1.0f);
      return;
    case act_kind::elu:
      for (std::int64_t i = 0; i < n; ++i) x[i] = x[i] >= 0 ? x[i] : a * (std::exp(x[i]) - 1.0f);
      return;
    case act_kind::softsign:
      for (std::int64_t i = 0; i < n; ++i) x[i] = x[i] / (1.0f + std::fabs(x[i]));
      return;
    case act_kind::softplus:
      for (std::int64_t i = 0; i < n; ++i) x[i] = std::log1p(std::exp(x[i]));
      return;
  }
}

// The activations attribute: names (case-insensitive, as ONNX Runtime reads them) with their
// alphas and betas consumed in list order by the functions that take them; a missing value takes
// the default of the ONNX operator of the same name (LeakyRelu 0.01, HardSigmoid 0.2/0.5, Elu 1,
// ThresholdedRelu 1, Affine 1/0). ScaledTanh has no ONNX default: it needs both values given.
// ThresholdedRelu keeps x > alpha, as the ONNX operator of that name and ONNX Runtime (the RNN
// page of the spec writes >=).
result<std::vector<act_fn>> read_activations(const node_info& node, std::vector<std::string> defaults,
                                             std::size_t per_direction, std::size_t directions) {
  std::vector<std::string> names = node.attr_strings("activations");
  if (names.empty()) {
    for (std::size_t d = 0; d < directions; ++d) names.insert(names.end(), defaults.begin(), defaults.end());
  } else if (names.size() == per_direction && directions == 2) {
    // One list for both directions (ONNX Runtime accepts it too).
    const std::vector<std::string> once = names;
    names.insert(names.end(), once.begin(), once.end());
  }
  if (names.size() != per_direction * directions) {
    return node.invalid("activations lists " + std::to_string(names.size()) + " functions, expected " +
                        std::to_string(per_direction * directions));
  }
  const std::vector<float> alphas = node.attr_floats("activation_alpha");
  const std::vector<float> betas = node.attr_floats("activation_beta");
  std::size_t next_alpha = 0;
  std::size_t next_beta = 0;
  std::vector<act_fn> out;
  for (const std::string& raw : names) {
    std::string name = raw;
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    act_fn f;
    bool needs_alpha = false;
    bool needs_beta = false;
    float default_alpha = 0;
    float default_beta = 0;
    bool has_defaults = true;
    if (name == "sigmoid") f.kind = act_kind::sigmoid;
    else if (name == "tanh") f.kind = act_kind::tanh;
    else if (name == "relu") f.kind = act_kind::relu;
    else if (name == "affine") {
      f.kind = act_kind::affine;
      needs_alpha = needs_beta = true;
      default_alpha = 1.0f;
    } else if (name == "leakyrelu") {
      f.kind = act_kind::leaky_relu;
      needs_alpha = true;
      default_alpha = 0.01f;
    } else if (name == "thresholdedrelu") {
      f.kind = act_kind::thresholded_relu;
      needs_alpha = true;
      default_alpha = 1.0f;
    } else if (name == "scaledtanh") {
      f.kind = act_kind::scaled_tanh;
      needs_alpha = needs_beta = true;
      has_defaults = false;
    } else if (name == "hardsigmoid") {
      f.kind = act_kind::hard_sigmoid;
      needs_alpha = needs_beta = true;
      default_alpha = 0.2f;
      default_beta = 0.5f;
    } else if (name == "elu") {
      f.kind = act_kind::elu;
      needs_alpha = true;
      default_alpha = 1.0f;
    } else if (name == "softsign") f.kind = act_kind::softsign;
    else if (name == "softplus") f.kind = act_kind::softplus;
    else return node.unsupported("activation '" + raw + "'");
    if (needs_alpha) {
      if (next_alpha < alphas.size()) f.alpha = alphas[next_alpha++];
      else if (has_defaults) f.alpha = default_alpha;
      else return node.invalid("activation " + raw + " needs a value in activation_alpha");
    }
    if (needs_beta) {
      if (next_beta < betas.size()) f.beta = betas[next_beta++];
      else if (has_defaults) f.beta = default_beta;
      else return node.invalid("activation " + raw + " needs a value in activation_beta");
    }
    out.push_back(f);
  }
  return out;
}

// A packed A operand (the table's own layout) in 64-byte aligned storage.
struct packed_matrix {
  tensor storage;
  const float* data() const { return storage.data<float>(); }
};

packed_matrix pack(const kernels::float_kernel_table& k, const float* a, std::int64_t rows, std::int64_t cols,
                   const std::shared_ptr<buffer_pool>& pool) {
  const std::size_t bytes = k.packed_a_bytes(rows, cols);
  packed_matrix p{tensor::empty(mq::dtype::uint8, {static_cast<std::int64_t>(bytes)}, pool)};
  if (p.storage.valid() && bytes != 0) k.pack_a(rows, cols, kernels::a_dense{a, cols, false}, p.storage.mutable_data<float>());
  return p;
}

struct rnn_config {
  cell kind = cell::lstm;
  std::int64_t hidden = 0;  // 0: taken from R
  std::int64_t directions = 1;
  bool reverse_only = false;
  bool layout_batch_first = false;
  bool has_clip = false;
  float clip = 0;
  bool input_forget = false;
  bool linear_before_reset = false;
  std::vector<act_fn> acts;  // per direction: LSTM f, g, h; GRU f, g; RNN f
  std::size_t acts_per_direction = 1;
  std::int64_t gates = 4;
};

// The weights of one direction, packed: the input weights W (gates*H x I) and the recurrent ones R
// (gates*H x H), or for GRU without linear_before_reset R split into its z/r rows and its h rows.
struct direction_weights {
  packed_matrix w;
  packed_matrix r;     // every gate row (GRU: only when linear_before_reset)
  packed_matrix r_zr;  // GRU without linear_before_reset: rows [0, 2H)
  packed_matrix r_h;   // GRU without linear_before_reset: rows [2H, 3H)
};

bool pack_direction(const kernels::float_kernel_table& k, const rnn_config& cfg, const float* w, const float* r,
                    std::int64_t hidden, std::int64_t input, const std::shared_ptr<buffer_pool>& pool,
                    direction_weights& out) {
  const std::int64_t rows = cfg.gates * hidden;
  out.w = pack(k, w, rows, input, pool);
  if (!out.w.storage.valid()) return false;
  if (cfg.kind == cell::gru && !cfg.linear_before_reset) {
    out.r_zr = pack(k, r, 2 * hidden, hidden, pool);
    out.r_h = pack(k, r + 2 * hidden * hidden, hidden, hidden, pool);
    return out.r_zr.storage.valid() && out.r_h.storage.valid();
  }
  out.r = pack(k, r, rows, hidden, pool);
  return out.r.storage.valid();
}

// C[rows x n_cols] (row stride ldc) = packed A (rows x depth) * B^T where B is n_cols x depth
// row-major, plus bias[row] when given; columns split among the threads when worth it.
void product(const kernels::float_kernel_table& k, thread_pool& pool, const float* packed, std::int64_t rows,
             std::int64_t depth, const float* b, std::int64_t n_cols, float* c, std::int64_t ldc, const float* bias) {
  kernels::gemm_args args;
  args.m = rows;
  args.n = n_cols;
  args.k = depth;
  args.c = c;
  args.ldc = ldc;
  args.bias = bias;
  const kernels::b_dense bd{b, depth, true};
  const std::int64_t work = rows * depth;
  const std::int64_t grain = std::max<std::int64_t>(1, (std::int64_t{1} << 16) / std::max<std::int64_t>(work, 1));
  pool.parallel_for(n_cols, grain, [&](std::int64_t begin, std::int64_t end) {
    kernels::gemm_args part = args;
    part.n_begin = begin;
    part.n_end = end;
    k.gemm_packed_dense(packed, bd, part);
  });
}

class rnn_kernel final : public kernel {
 public:
  rnn_kernel(rnn_config cfg, std::vector<direction_weights> constant_weights, std::int64_t constant_input_size,
             const kernels::float_kernel_table& table)
      : cfg_(std::move(cfg)),
        constant_(std::move(constant_weights)),
        constant_input_size_(constant_input_size),
        k_(table) {}

  result<void> run(run_context& ctx) override;

 private:
  rnn_config cfg_;
  std::vector<direction_weights> constant_;  // empty unless W and R were constants
  std::int64_t constant_input_size_;
  const kernels::float_kernel_table& k_;
};

result<void> check_float(const run_context& ctx, std::size_t i, const char* what) {
  if (ctx.in(i).type() != mq::dtype::float32) {
    if (is_float_type(ctx.in(i).type())) return ctx.unsupported(std::string(what) + " of type " + type_name(ctx.in(i).type()));
    return ctx.fail(std::string(what) + " has type " + type_name(ctx.in(i).type()) + ", expected float");
  }
  return {};
}

result<void> expect_shape(const run_context& ctx, std::size_t i, const char* what, const shape_t& want) {
  MQ_TRY_VOID(check_float(ctx, i, what));
  if (ctx.in(i).shape() != want) {
    return ctx.fail(std::string(what) + " has shape " + shape_string(ctx.in(i).shape()) + ", expected " + shape_string(want));
  }
  return {};
}

result<void> rnn_kernel::run(run_context& ctx) {
  const cell kind = cfg_.kind;
  const tensor& x = ctx.in(0);
  MQ_TRY_VOID(check_float(ctx, 0, "X"));
  MQ_TRY_VOID(check_float(ctx, 1, "W"));
  MQ_TRY_VOID(check_float(ctx, 2, "R"));
  if (x.rank() != 3) return ctx.fail("X has shape " + shape_string(x.shape()) + ", expected rank 3");
  const bool bf = cfg_.layout_batch_first;
  const std::int64_t steps = bf ? x.dim(1) : x.dim(0);
  const std::int64_t batch = bf ? x.dim(0) : x.dim(1);
  const std::int64_t input = x.dim(2);
  const std::int64_t nd = cfg_.directions;
  const std::int64_t gates = cfg_.gates;
  const tensor& rt = ctx.in(2);
  std::int64_t hidden = cfg_.hidden;
  if (hidden == 0) {
    if (rt.rank() != 3) return ctx.fail("R has shape " + shape_string(rt.shape()) + ", expected rank 3");
    hidden = rt.dim(2);
  }
  const std::int64_t rows = gates * hidden;
  MQ_TRY_VOID(expect_shape(ctx, 1, "W", {nd, rows, input}));
  MQ_TRY_VOID(expect_shape(ctx, 2, "R", {nd, rows, hidden}));
  const float* bias = nullptr;
  if (ctx.has_input(3)) {
    MQ_TRY_VOID(expect_shape(ctx, 3, "B", {nd, 2 * rows}));
    bias = ctx.in(3).data<float>();
  }
  std::vector<std::int64_t> lens(static_cast<std::size_t>(batch), steps);
  if (ctx.has_input(4)) {
    const tensor& sl = ctx.in(4);
    if (sl.shape() != shape_t{batch}) {
      return ctx.fail("sequence_lens has shape " + shape_string(sl.shape()) + ", expected " + shape_string(shape_t{batch}));
    }
    lens = MQ_TRY(read_ints(ctx, 4, "sequence_lens"));
    for (std::int64_t v : lens) {
      if (v < 0 || v > steps) {
        return ctx.fail("sequence_lens holds " + std::to_string(v) + ", outside [0, " + std::to_string(steps) + "]");
      }
    }
  }
  const shape_t state_shape = bf ? shape_t{batch, nd, hidden} : shape_t{nd, batch, hidden};
  const float* init_h = nullptr;
  const float* init_c = nullptr;
  const float* peep = nullptr;
  if (ctx.has_input(5)) {
    MQ_TRY_VOID(expect_shape(ctx, 5, "initial_h", state_shape));
    init_h = ctx.in(5).data<float>();
  }
  if (kind == cell::lstm && ctx.has_input(6)) {
    MQ_TRY_VOID(expect_shape(ctx, 6, "initial_c", state_shape));
    init_c = ctx.in(6).data<float>();
  }
  if (kind == cell::lstm && ctx.has_input(7)) {
    MQ_TRY_VOID(expect_shape(ctx, 7, "P", {nd, 3 * hidden}));
    peep = ctx.in(7).data<float>();
  }

  const shape_t y_shape = bf ? shape_t{batch, steps, nd, hidden} : shape_t{steps, nd, batch, hidden};
  tensor y = MQ_TRY(ctx.allocate_zeros(mq::dtype::float32, y_shape));
  tensor yh = MQ_TRY(ctx.allocate_zeros(mq::dtype::float32, state_shape));
  tensor yc;
  if (kind == cell::lstm) yc = MQ_TRY(ctx.allocate_zeros(mq::dtype::float32, state_shape));

  // Packed weights: the plan's when W and R were constants of the expected size, else packed now.
  std::vector<direction_weights> packed_now;
  const std::vector<direction_weights>* weights = &constant_;
  if (constant_.empty() || constant_input_size_ != input) {
    packed_now.resize(static_cast<std::size_t>(nd));
    for (std::int64_t d = 0; d < nd; ++d) {
      const float* w = ctx.in(1).data<float>() + d * rows * input;
      const float* r = ctx.in(2).data<float>() + d * rows * hidden;
      if (!pack_direction(k_, cfg_, w, r, hidden, input, ctx.buffers(), packed_now[static_cast<std::size_t>(d)])) {
        return ctx.fail("out of memory packing the weights");
      }
    }
    weights = &packed_now;
  }

  const std::int64_t cols = steps * batch;  // one column per (t, b), in X's memory order
  tensor cx_t = MQ_TRY(ctx.allocate(mq::dtype::float32, {rows, std::max<std::int64_t>(cols, 1)}));
  tensor ch_t = MQ_TRY(ctx.allocate(mq::dtype::float32, {rows, std::max<std::int64_t>(batch, 1)}));
  tensor scratch_t = MQ_TRY(ctx.allocate(mq::dtype::float32, {batch, rows + 2 * hidden}));
  float* cx = cx_t.mutable_data<float>();
  float* ch = ch_t.mutable_data<float>();
  float* scratch = scratch_t.mutable_data<float>();
  std::vector<float> h_state(static_cast<std::size_t>(batch * hidden));
  std::vector<float> c_state(static_cast<std::size_t>(batch * hidden));
  std::vector<float> gated_h(kind == cell::gru ? static_cast<std::size_t>(batch * hidden) : 0);  // GRU: rt (.) Ht-1
  std::vector<float> bias_x(static_cast<std::size_t>(rows));
  std::vector<float> bias_h(static_cast<std::size_t>(rows));
  float* out_y = y.mutable_data<float>();
  float* out_h = yh.mutable_data<float>();
  float* out_c = kind == cell::lstm ? yc.mutable_data<float>() : nullptr;
  const float* xd = x.data<float>();
  const std::int64_t max_len = batch == 0 ? 0 : *std::max_element(lens.begin(), lens.end());

  auto col_of = [&](std::int64_t t, std::int64_t b) { return bf ? b * steps + t : t * batch + b; };
  auto state_at = [&](std::int64_t d, std::int64_t b) { return bf ? (b * nd + d) * hidden : (d * batch + b) * hidden; };
  auto y_at = [&](std::int64_t t, std::int64_t d, std::int64_t b) {
    return bf ? ((b * steps + t) * nd + d) * hidden : ((t * nd + d) * batch + b) * hidden;
  };

  for (std::int64_t d = 0; d < nd; ++d) {
    const direction_weights& wd = (*weights)[static_cast<std::size_t>(d)];
    const bool reverse = cfg_.reverse_only || d == 1;
    const act_fn* acts = cfg_.acts.data() + static_cast<std::size_t>(d) * cfg_.acts_per_direction;
    // Wb and Rb are summed into the input projection, except the ones that multiply with a gate:
    // GRU's Rbh with linear_before_reset stays beside R*H.
    for (std::int64_t r = 0; r < rows; ++r) {
      const float wb = bias != nullptr ? bias[d * 2 * rows + r] : 0.0f;
      const float rb = bias != nullptr ? bias[d * 2 * rows + rows + r] : 0.0f;
      const bool separate = kind == cell::gru && cfg_.linear_before_reset && r >= 2 * hidden;
      bias_x[static_cast<std::size_t>(r)] = separate ? wb : wb + rb;
      bias_h[static_cast<std::size_t>(r)] = separate ? rb : 0.0f;
    }
    if (cols > 0) product(k_, ctx.pool(), wd.w.data(), rows, input, xd, cols, cx, cols, bias_x.data());
    for (std::int64_t b = 0; b < batch; ++b) {
      const auto o = static_cast<std::size_t>(b * hidden);
      const std::int64_t s = state_at(d, b);
      for (std::int64_t j = 0; j < hidden; ++j) {
        h_state[o + static_cast<std::size_t>(j)] = init_h != nullptr ? init_h[s + j] : 0.0f;
        c_state[o + static_cast<std::size_t>(j)] = init_c != nullptr ? init_c[s + j] : 0.0f;
      }
    }
    const float* pi = peep != nullptr ? peep + d * 3 * hidden : nullptr;
    const float* po = pi != nullptr ? pi + hidden : nullptr;
    const float* pf = pi != nullptr ? pi + 2 * hidden : nullptr;
    auto clip = [&](float* v, std::int64_t n) {
      if (!cfg_.has_clip) return;
      const float c = cfg_.clip;
      for (std::int64_t i = 0; i < n; ++i) v[i] = std::min(std::max(v[i], -c), c);
    };

    for (std::int64_t step = 0; step < max_len; ++step) {
      // R * H^T for every batch entry (entries already finished are computed and ignored).
      if (kind == cell::gru && !cfg_.linear_before_reset) {
        product(k_, ctx.pool(), wd.r_zr.data(), 2 * hidden, hidden, h_state.data(), batch, ch, batch, nullptr);
      } else {
        product(k_, ctx.pool(), wd.r.data(), rows, hidden, h_state.data(), batch, ch, batch,
                kind == cell::gru ? bias_h.data() : nullptr);
      }
      // Pre-activations per batch entry: g[r] = C_x[r, col] + C_h[r, b], gate after gate.
      for (std::int64_t b = 0; b < batch; ++b) {
        if (step >= lens[static_cast<std::size_t>(b)]) continue;
        const std::int64_t t = reverse ? lens[static_cast<std::size_t>(b)] - 1 - step : step;
        const std::int64_t col = col_of(t, b);
        float* g = scratch + b * (rows + 2 * hidden);
        const std::int64_t recurrent_rows = kind == cell::gru ? 2 * hidden : rows;
        for (std::int64_t r = 0; r < rows; ++r) g[r] = cx[r * cols + col];
        for (std::int64_t r = 0; r < recurrent_rows; ++r) g[r] += ch[r * batch + b];
        float* h = h_state.data() + b * hidden;
        float* c = c_state.data() + b * hidden;
        if (kind == cell::lstm) {
          float* gi = g;
          float* go = g + hidden;
          float* gf = g + 2 * hidden;
          float* gc = g + 3 * hidden;
          if (pi != nullptr) {
            for (std::int64_t j = 0; j < hidden; ++j) gi[j] += pi[j] * c[j];
          }
          clip(gi, hidden);
          apply_act(k_, acts[0], gi, hidden);
          if (cfg_.input_forget) {
            for (std::int64_t j = 0; j < hidden; ++j) gf[j] = 1.0f - gi[j];
          } else {
            if (pf != nullptr) {
              for (std::int64_t j = 0; j < hidden; ++j) gf[j] += pf[j] * c[j];
            }
            clip(gf, hidden);
            apply_act(k_, acts[0], gf, hidden);
          }
          clip(gc, hidden);
          apply_act(k_, acts[1], gc, hidden);
          for (std::int64_t j = 0; j < hidden; ++j) c[j] = gf[j] * c[j] + gi[j] * gc[j];
          if (po != nullptr) {
            for (std::int64_t j = 0; j < hidden; ++j) go[j] += po[j] * c[j];
          }
          clip(go, hidden);
          apply_act(k_, acts[0], go, hidden);
          float* hc = g + rows;  // h(Ct)
          std::memcpy(hc, c, static_cast<std::size_t>(hidden) * sizeof(float));
          apply_act(k_, acts[2], hc, hidden);
          for (std::int64_t j = 0; j < hidden; ++j) h[j] = go[j] * hc[j];
        } else if (kind == cell::gru) {
          float* gz = g;
          float* gr = g + hidden;
          clip(gz, 2 * hidden);
          apply_act(k_, acts[0], gz, 2 * hidden);  // z and r
          if (cfg_.linear_before_reset) {
            // Xt*Wh^T + Wbh + rt (.) (Ht-1*Rh^T + Rbh)
            float* gh = g + 2 * hidden;
            for (std::int64_t j = 0; j < hidden; ++j) gh[j] += gr[j] * ch[(2 * hidden + j) * batch + b];
          } else {
            // rt (.) Ht-1, multiplied by Rh after this loop
            float* rh = gated_h.data() + b * hidden;
            for (std::int64_t j = 0; j < hidden; ++j) rh[j] = gr[j] * h[j];
          }
        } else {
          clip(g, hidden);
          apply_act(k_, acts[0], g, hidden);
          std::memcpy(h, g, static_cast<std::size_t>(hidden) * sizeof(float));
        }
      }
      if (kind == cell::gru) {
        if (!cfg_.linear_before_reset) {
          // (rt (.) Ht-1) * Rh^T for every entry (finished entries give values nobody reads).
          product(k_, ctx.pool(), wd.r_h.data(), hidden, hidden, gated_h.data(), batch, ch, batch, nullptr);
        }
        for (std::int64_t b = 0; b < batch; ++b) {
          if (step >= lens[static_cast<std::size_t>(b)]) continue;
          float* g = scratch + b * (rows + 2 * hidden);
          float* gz = g;
          float* gh = g + 2 * hidden;
          if (!cfg_.linear_before_reset) {
            for (std::int64_t j = 0; j < hidden; ++j) gh[j] += ch[j * batch + b];
          }
          clip(gh, hidden);
          apply_act(k_, acts[1], gh, hidden);
          float* h = h_state.data() + b * hidden;
          for (std::int64_t j = 0; j < hidden; ++j) h[j] = (1.0f - gz[j]) * gh[j] + gz[j] * h[j];
        }
      }
      for (std::int64_t b = 0; b < batch; ++b) {
        if (step >= lens[static_cast<std::size_t>(b)]) continue;
        const std::int64_t t = reverse ? lens[static_cast<std::size_t>(b)] - 1 - step : step;
        std::memcpy(out_y + y_at(t, d, b), h_state.data() + b * hidden, static_cast<std::size_t>(hidden) * sizeof(float));
      }
    }
    for (std::int64_t b = 0; b < batch; ++b) {
      if (lens[static_cast<std::size_t>(b)] == 0) continue;  // stays zero, as in ONNX Runtime
      std::memcpy(out_h + state_at(d, b), h_state.data() + b * hidden, static_cast<std::size_t>(hidden) * sizeof(float));
      if (out_c != nullptr) {
        std::memcpy(out_c + state_at(d, b), c_state.data() + b * hidden, static_cast<std::size_t>(hidden) * sizeof(float));
      }
    }
  }
  ctx.set_output(0, std::move(y));
  ctx.set_output(1, std::move(yh));
  if (kind == cell::lstm) ctx.set_output(2, std::move(yc));
  return {};
}

result<std::unique_ptr<kernel>> make_rnn(node_info& node, cell kind) {
  if (kind == cell::lstm) {
    MQ_TRY_VOID(node.only_attributes({"activation_alpha", "activation_beta", "activations", "clip", "direction",
                                      "hidden_size", "input_forget", "layout"}));
  } else if (kind == cell::gru) {
    MQ_TRY_VOID(node.only_attributes({"activation_alpha", "activation_beta", "activations", "clip", "direction",
                                      "hidden_size", "linear_before_reset", "layout"}));
  } else {
    MQ_TRY_VOID(node.only_attributes({"activation_alpha", "activation_beta", "activations", "clip", "direction",
                                      "hidden_size", "layout"}));
  }
  rnn_config cfg;
  cfg.kind = kind;
  cfg.gates = kind == cell::lstm ? 4 : kind == cell::gru ? 3 : 1;
  const std::string direction = node.attr_string("direction", "forward");
  if (direction == "bidirectional") cfg.directions = 2;
  else if (direction == "reverse") cfg.reverse_only = true;
  else if (direction != "forward") return node.invalid("direction '" + direction + "' is not forward, reverse or bidirectional");
  cfg.hidden = node.attr_int("hidden_size", 0);
  if (node.has_attribute("hidden_size") && cfg.hidden <= 0) return node.invalid("hidden_size must be positive");
  const std::int64_t layout = node.attr_int("layout", 0);
  if (layout != 0 && layout != 1) return node.invalid("layout must be 0 or 1");
  cfg.layout_batch_first = layout == 1;
  if (node.has_attribute("clip")) {
    cfg.has_clip = true;
    cfg.clip = node.attr_float("clip", 0);
    if (!(cfg.clip > 0)) return node.invalid("clip must be positive");
  }
  cfg.input_forget = node.attr_int("input_forget", 0) != 0;
  cfg.linear_before_reset = node.attr_int("linear_before_reset", 0) != 0;
  std::vector<std::string> defaults;
  if (kind == cell::lstm) defaults = {"Sigmoid", "Tanh", "Tanh"};
  else if (kind == cell::gru) defaults = {"Sigmoid", "Tanh"};
  else defaults = {"Tanh"};
  cfg.acts_per_direction = defaults.size();
  cfg.acts = MQ_TRY(read_activations(node, defaults, defaults.size(), static_cast<std::size_t>(cfg.directions)));
  if (node.input_count() < 3 || !node.has_input(0) || !node.has_input(1) || !node.has_input(2)) {
    return node.invalid("needs the inputs X, W and R");
  }
  const kernels::float_kernel_table& table = kernels::active_float_kernels();
  // Constant W and R of a valid shape are packed once here.
  std::vector<direction_weights> packed;
  std::int64_t packed_input = -1;
  const tensor* w = node.constant_input(1);
  const tensor* r = node.constant_input(2);
  if (w != nullptr && r != nullptr && w->type() == mq::dtype::float32 && r->type() == mq::dtype::float32 &&
      w->rank() == 3 && r->rank() == 3) {
    const std::int64_t hidden = cfg.hidden != 0 ? cfg.hidden : r->dim(2);
    const std::int64_t rows = cfg.gates * hidden;
    if (w->dim(0) == cfg.directions && r->dim(0) == cfg.directions && w->dim(1) == rows && r->dim(1) == rows &&
        r->dim(2) == hidden) {
      packed.resize(static_cast<std::size_t>(cfg.directions));
      for (std::int64_t d = 0; d < cfg.directions; ++d) {
        if (!pack_direction(table, cfg, w->data<float>() + d * rows * w->dim(2), r->data<float>() + d * rows * hidden,
                            hidden, w->dim(2), nullptr, packed[static_cast<std::size_t>(d)])) {
          return node.invalid("out of memory packing the weights");
        }
      }
      packed_input = w->dim(2);
    }
  }
  return std::unique_ptr<kernel>(std::make_unique<rnn_kernel>(std::move(cfg), std::move(packed), packed_input, table));
}

}  // namespace

void register_rnn(op_registry& r) {
  r.add("LSTM", [](node_info& n) { return make_rnn(n, cell::lstm); }, 7);
  r.add("GRU", [](node_info& n) { return make_rnn(n, cell::gru); }, 7);
  r.add("RNN", [](node_info& n) { return make_rnn(n, cell::rnn); }, 7);
}

}  // namespace mq::exec::ops
