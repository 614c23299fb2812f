// Node fusions applied at plan time (session_options::fuse).
#include "exec/plan.h"

namespace mq::exec {

void fuse_nodes(graph_plan& plan, const std::set<std::string>& keep) {
  (void)plan;
  (void)keep;
}

}  // namespace mq::exec
