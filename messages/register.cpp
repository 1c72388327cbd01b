#include "messages/fwd.hpp"

namespace mailpipe {

void register_message_types(caf::actor_system_config& cfg) {
#if CAF_VERSION < 1800
  cfg.add_message_types<caf::id_block::mailpipe>();
  cfg.add_error_category(
      caf::atom("mailpipe"),
      [](uint8_t code, caf::atom_value category, const caf::message& ctx) {
        return render(caf::error{code, category, ctx});
      });
#else
#error "port register_message_types to CAF 0.18 (init_global_meta_objects)"
#endif
}

} // namespace mailpipe
