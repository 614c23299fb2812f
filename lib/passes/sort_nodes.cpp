// Topological sort of every graph's node list. ONNX requires nodes in topological order, but
// ONNX Runtime accepts any order, and some exporters and graph tools write nodes out of order.
// The walk of the quantize pass, the version converter and our verification all read a graph in
// list order, so the list is sorted first. The sort is stable: among the nodes whose inputs are
// ready, the one listed first goes first, so a list that is already in order is left exactly
// as it is, and an unsorted one moves as few nodes as the order allows.
#include <map>
#include <queue>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "passes/rewrites.h"
#include "util/try.h"

namespace mq::passes {
namespace {

// Every value a subgraph reads (its nodes' inputs and its outputs, at any depth): those produced
// in an enclosing graph are implicit inputs of the node that holds the subgraph.
void names_read(const onnx::GraphProto& g, std::set<std::string>& out) {
  for (const auto& n : g.node()) {
    out.insert(n.input().begin(), n.input().end());
    for (const auto& a : n.attribute()) {
      if (a.has_g()) names_read(a.g(), out);
      for (const auto& sub : a.graphs()) names_read(sub, out);
    }
  }
  for (const auto& o : g.output()) out.insert(o.name());
}

// Sorts one graph (not its subgraphs); returns how many nodes changed place.
result<std::size_t> sort_graph(onnx::GraphProto& g, const std::string& label) {
  const int count = g.node_size();
  std::unordered_map<std::string, int> producer;
  for (int i = 0; i < count; ++i) {
    for (const auto& o : g.node(i).output()) {
      if (!o.empty()) producer.emplace(o, i);
    }
  }
  std::vector<std::vector<int>> readers(static_cast<std::size_t>(count));
  std::vector<int> waiting(static_cast<std::size_t>(count), 0);
  bool sorted = true;
  for (int i = 0; i < count; ++i) {
    const auto& node = g.node(i);
    std::set<std::string> inputs(node.input().begin(), node.input().end());
    for (const auto& a : node.attribute()) {
      if (a.has_g()) names_read(a.g(), inputs);
      for (const auto& sub : a.graphs()) names_read(sub, inputs);
    }
    std::set<int> from;
    for (const auto& in : inputs) {
      auto p = producer.find(in);
      if (p != producer.end() && p->second != i) from.insert(p->second);
    }
    for (int j : from) {
      readers[static_cast<std::size_t>(j)].push_back(i);
      sorted = sorted && j < i;
    }
    waiting[static_cast<std::size_t>(i)] = static_cast<int>(from.size());
  }
  if (sorted) return std::size_t{0};

  std::priority_queue<int, std::vector<int>, std::greater<>> ready;  // lowest original index first
  for (int i = 0; i < count; ++i) {
    if (waiting[static_cast<std::size_t>(i)] == 0) ready.push(i);
  }
  std::vector<int> order;
  order.reserve(static_cast<std::size_t>(count));
  while (!ready.empty()) {
    const int i = ready.top();
    ready.pop();
    order.push_back(i);
    for (int r : readers[static_cast<std::size_t>(i)]) {
      if (--waiting[static_cast<std::size_t>(r)] == 0) ready.push(r);
    }
  }
  if (static_cast<int>(order.size()) != count) {
    for (int i = 0; i < count; ++i) {
      if (waiting[static_cast<std::size_t>(i)] > 0) {
        return fail(errc::invalid_model, "graph '" + label + "': the nodes cannot be ordered: node '" + display_name(g.node(i), i) + "' (" +
                                             g.node(i).op_type() + ") is in a cycle, or reads the output of one");
      }
    }
  }
  std::size_t moved = 0;
  google::protobuf::RepeatedPtrField<onnx::NodeProto> rebuilt;
  rebuilt.Reserve(count);
  for (std::size_t k = 0; k < order.size(); ++k) {
    moved += order[k] != static_cast<int>(k);
    rebuilt.Add()->Swap(g.mutable_node(order[k]));
  }
  g.mutable_node()->Swap(&rebuilt);
  return moved;
}

result<void> sort_all(onnx::GraphProto& g, const std::string& label, std::vector<std::string>& notes) {
  const auto moved = MQ_TRY(sort_graph(g, label));
  if (moved > 0) {
    notes.push_back("graph '" + label + "' listed nodes before the values they read; sorted it topologically (" +
                    std::to_string(moved) + " of " + std::to_string(g.node_size()) + " nodes moved)");
  }
  for (int i = 0; i < g.node_size(); ++i) {
    auto& node = *g.mutable_node(i);
    const std::string name = display_name(node, i);
    for (auto& a : *node.mutable_attribute()) {
      if (a.has_g()) MQ_TRY_VOID(sort_all(*a.mutable_g(), label + "/" + name + ":" + a.name(), notes));
      for (auto& sub : *a.mutable_graphs()) MQ_TRY_VOID(sort_all(sub, label + "/" + name + ":" + a.name(), notes));
    }
  }
  return {};
}

}  // namespace

result<void> sort_nodes(onnx::ModelProto& model, std::vector<std::string>& notes) {
  return sort_all(*model.mutable_graph(), "main", notes);
}

}  // namespace mq::passes
