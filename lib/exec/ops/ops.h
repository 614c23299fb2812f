// The operator families of the executor; each registers its operators in the table.
#pragma once

#include "exec/kernel.h"

namespace mq::exec::ops {

void register_elementwise(op_registry& r);  // unary math, binary arithmetic, logic, comparison, Where, Clip
void register_activation(op_registry& r);   // Relu, Sigmoid, Softmax & co.
void register_reduce(op_registry& r);       // Reduce*, ArgMax/ArgMin, CumSum
void register_shape(op_registry& r);        // Reshape, Transpose, Concat, Split, Slice, Squeeze, Pad, Cast ...
void register_gather(op_registry& r);       // Gather*, Scatter*, TopK, OneHot, NonZero, ...
void register_conv(op_registry& r);         // Conv, ConvTranspose
void register_matmul(op_registry& r);       // MatMul, Gemm
void register_pool(op_registry& r);         // MaxPool, AveragePool, Global*Pool, LpPool
void register_norm(op_registry& r);         // BatchNormalization, InstanceNormalization, LayerNormalization, LRN
void register_resize(op_registry& r);       // Resize, Upsample, GridSample
void register_rnn(op_registry& r);          // LSTM, GRU, RNN
void register_control(op_registry& r);      // If, Loop, Scan, Identity
void register_quantized(op_registry& r);    // QuantizeLinear, DequantizeLinear, *Integer, QLinear*
void register_misc(op_registry& r);         // NonMaxSuppression, RoiAlign, Einsum, Unique, Det, TfIdfVectorizer, losses, ...
void register_signal(op_registry& r);       // DFT, STFT, window generators, MelWeightMatrix

/// Every family above.
inline void register_all(op_registry& r) {
  register_elementwise(r);
  register_activation(r);
  register_reduce(r);
  register_shape(r);
  register_gather(r);
  register_conv(r);
  register_matmul(r);
  register_pool(r);
  register_norm(r);
  register_resize(r);
  register_rnn(r);
  register_control(r);
  register_quantized(r);
  register_misc(r);
  register_signal(r);
}

}  // namespace mq::exec::ops
