// The REST API under /api/v1 (docs/http.md): the same rows and reports as the
// commands, as the same JSON (adapters/db/json_output.hpp).

#include <algorithm>
#include <optional>
#include <variant>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <simdjson.h>

#include "adapters/db/account_store.hpp"
#include "adapters/db/jobs.hpp"
#include "adapters/db/json_output.hpp"
#include "adapters/db/test_store.hpp"
#include "adapters/http/routes.hpp"

namespace mailpipe::http {

namespace {

// A rejected field of a request body: 400 naming it.
struct bad_field {
  std::string field;
  std::string why;
};

// The body as a JSON object.
caf::expected<simdjson::dom::object> body_object(simdjson::dom::parser& parser,
                                                 const std::string& body) {
  simdjson::dom::object obj;
  if (parser.parse(body).get(obj))
    return caf::make_error(ec::invalid_argument,
                           "the body is not a JSON object");
  return obj;
}

// The optional string member `name` into `out`; false when it has another type.
bool optional_string(simdjson::dom::object obj, std::string_view name,
                     std::string& out) {
  auto member = obj[name];
  if (member.error() == simdjson::NO_SUCH_FIELD)
    return true;
  std::string_view s;
  if (member.get(s))
    return false;
  out = std::string{s};
  return true;
}

// The optional duration member `name` ("30s", "24h"); nullopt when absent.
caf::expected<std::optional<duration>>
optional_duration(simdjson::dom::object obj, std::string_view name) {
  std::string text;
  if (!optional_string(obj, name, text))
    return caf::make_error(ec::invalid_argument, "");
  if (text.empty())
    return std::optional<duration>{};
  auto d = parse_duration(text);
  if (!d || d->count() < 0)
    return caf::make_error(ec::invalid_argument, "");
  return std::optional<duration>{*d};
}

// What is_key_text asks of a token or an id.
constexpr auto key_rule =
    "must be a string of 1 to 512 bytes without control characters";

// True when a string or a key anywhere in `e` holds a NUL character.
bool holds_nul(simdjson::dom::element e) {
  auto has_nul = [](std::string_view s) {
    return s.find('\0') != std::string_view::npos;
  };
  std::string_view text;
  simdjson::dom::array items;
  simdjson::dom::object fields;
  if (!e.get(text))
    return has_nul(text);
  if (!e.get(items))
    return std::any_of(items.begin(), items.end(), holds_nul);
  if (!e.get(fields))
    return std::any_of(fields.begin(), fields.end(), [&](auto field) {
      return has_nul(field.key) || holds_nul(field.value);
    });
  return false;
}

reply field_error(const bad_field& bad) {
  return error_reply(400, bad.field + " " + bad.why, bad.field);
}

// The test `test add` would make from the body, or the field at fault.
std::variant<db::test_spec, bad_field>
read_test_spec(simdjson::dom::object obj) {
  db::test_spec spec;
  if (!optional_string(obj, "token", spec.token) || !is_key_text(spec.token))
    return bad_field{"token", key_rule};
  if (!optional_string(obj, "name", spec.name))
    return bad_field{"name", "must be a string"};
  auto accounts = obj["accounts"];
  if (accounts.error() != simdjson::NO_SUCH_FIELD) {
    simdjson::dom::array ids;
    if (accounts.get(ids))
      return bad_field{"accounts", "must be an array of account ids"};
    for (auto id : ids) {
      int64_t n = 0;
      if (id.get(n) || n <= 0)
        return bad_field{"accounts", "must be an array of account ids"};
      spec.accounts.push_back(n);
    }
  }
  auto expires = optional_duration(obj, "expires_in");
  if (!expires)
    return bad_field{"expires_in", "must be a duration like 30m, 24h or 7d"};
  spec.expires_in = expires->value_or(std::chrono::hours{24});
  if (spec.expires_in->count() == 0)
    spec.expires_in.reset();
  return spec;
}

// The job of the body, or the field at fault.
std::variant<db::job_spec, bad_field> read_job_spec(simdjson::dom::object obj) {
  db::job_spec spec;
  if (!optional_string(obj, "queue", spec.queue)
      || !db::is_job_queue(spec.queue))
    return bad_field{"queue", fmt::format("must be one of {}",
                                          fmt::join(db::job_queues, ", "))};
  if (!optional_string(obj, "id", spec.id) || !is_key_text(spec.id))
    return bad_field{"id", key_rule};
  auto payload = obj["payload"];
  if (payload.error() != simdjson::NO_SUCH_FIELD) {
    simdjson::dom::object p;
    if (payload.get(p))
      return bad_field{"payload", "must be an object"};
    if (holds_nul(payload.value_unsafe()))
      return bad_field{"payload", "must not hold \\u0000 (PostgreSQL's "
                                  "jsonb cannot store it)"};
    spec.payload_json = simdjson::minify(p);
  }
  std::string priority;
  if (!optional_string(obj, "priority", priority))
    return bad_field{"priority", "must be \"high\" or \"medium\""};
  if (!priority.empty()) {
    spec.priority = db::parse_job_priority(priority);
    if (!spec.priority)
      return bad_field{"priority", "must be \"high\" or \"medium\""};
  }
  auto delay = optional_duration(obj, "delay");
  if (!delay)
    return bad_field{"delay", "must be a duration like 30s or 10m"};
  spec.delay = delay->value_or(duration{0});
  return spec;
}

} // namespace

reply api_list_accounts(route_env& env, const httplib::Request&) {
  auto all = env.pool.with_connection(
      [](pqxx::connection& conn) { return db::list_accounts(conn); });
  if (!all)
    return error_reply(all.error());
  std::string body = "{\"accounts\":[";
  for (size_t i = 0; i < all->size(); ++i)
    body += (i ? "," : "") + db::to_json((*all)[i]);
  return json_reply(200, body + "]}");
}

reply api_create_test(route_env& env, const httplib::Request& req) {
  simdjson::dom::parser parser;
  auto obj = body_object(parser, req.body);
  if (!obj)
    return error_reply(400, render(obj.error()));
  auto read = read_test_spec(*obj);
  if (auto bad = std::get_if<bad_field>(&read))
    return field_error(*bad);
  auto& spec = std::get<db::test_spec>(read);
  auto n = env.pool.with_connection(
      [&](pqxx::connection& conn) { return db::add_test(conn, spec); });
  if (!n && is(n.error(), ec::already_exists))
    return error_reply(409, render(n.error()), "token");
  if (!n
      && (is(n.error(), ec::not_found) || is(n.error(), ec::invalid_argument)))
    return error_reply(400, render(n.error()), "accounts");
  if (!n)
    return error_reply(n.error());
  return json_reply(201, fmt::format("{{\"token\":{},\"accounts\":{}}}",
                                     db::json_str(spec.token), *n));
}

reply api_show_test(route_env& env, const httplib::Request& req) {
  auto token = req.matches[1].str();
  auto rep = env.pool.with_connection(
      [&](pqxx::connection& conn) { return db::show_test(conn, token); });
  if (!rep)
    return error_reply(rep.error());
  return json_reply(200, db::to_json(*rep));
}

reply api_enqueue_job(route_env& env, const httplib::Request& req) {
  simdjson::dom::parser parser;
  auto obj = body_object(parser, req.body);
  if (!obj)
    return error_reply(400, render(obj.error()));
  auto read = read_job_spec(*obj);
  if (auto bad = std::get_if<bad_field>(&read))
    return field_error(*bad);
  auto& spec = std::get<db::job_spec>(read);
  spec.max_attempts = static_cast<int32_t>(env.cfg.jobs.max_attempts);
  auto res = env.pool.with_connection(
      [&](pqxx::connection& conn) { return db::enqueue_job(conn, spec); });
  if (!res)
    return error_reply(res.error());
  return json_reply(res->added ? 201 : 200,
                    fmt::format("{{\"id\":{},\"added\":{},\"state\":{}}}",
                                db::json_str(spec.id), res->added,
                                db::json_str(res->state)));
}

reply api_dead_jobs(route_env& env, const httplib::Request& req) {
  db::job_filter filter;
  filter.state = "dead";
  filter.queue = req.get_param_value("queue");
  if (!filter.queue.empty() && !db::is_job_queue(filter.queue))
    return error_reply(400, "queue: no such queue", "queue");
  auto jobs = env.pool.with_connection(
      [&](pqxx::connection& conn) { return db::list_jobs(conn, filter); });
  if (!jobs)
    return error_reply(jobs.error());
  std::string body = "{\"jobs\":[";
  for (size_t i = 0; i < jobs->size(); ++i)
    body += (i ? "," : "") + db::to_json((*jobs)[i]);
  return json_reply(200, body + "]}");
}

reply api_redrive_job(route_env& env, const httplib::Request& req) {
  auto id = req.matches[1].str();
  auto done = env.pool.with_connection(
      [&](pqxx::connection& conn) -> caf::expected<caf::unit_t> {
        if (auto err = db::redrive_job(conn, id))
          return err;
        return caf::unit;
      });
  if (!done && is(done.error(), ec::invalid_argument))
    return error_reply(409, render(done.error()), "id");
  if (!done)
    return error_reply(done.error());
  return json_reply(
      200, fmt::format("{{\"id\":{},\"state\":\"queued\"}}", db::json_str(id)));
}

} // namespace mailpipe::http
