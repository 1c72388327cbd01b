#include "messages/types.hpp"

#include "messages/pipeline.hpp"

namespace mailpipe {

std::string to_string(provider x) {
  switch (x) {
    case provider::imap: return "imap";
    case provider::gmail: return "gmail";
    case provider::outlook: return "outlook";
  }
  return "imap";
}

std::string to_string(pass_status x) {
  switch (x) {
    case pass_status::success: return "success";
    case pass_status::failure: return "failure";
    case pass_status::timeout: return "timeout";
    case pass_status::skipped: return "skipped";
  }
  return "failure";
}

bool from_string(std::string_view str, provider& out) {
  if (str == "imap")
    out = provider::imap;
  else if (str == "gmail")
    out = provider::gmail;
  else if (str == "outlook" || str == "microsoft" || str == "graph")
    out = provider::outlook;
  else
    return false;
  return true;
}

} // namespace mailpipe
