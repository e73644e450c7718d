// Label selectors with apimachinery's semantics (k8s.io/apimachinery/pkg/labels and
// metav1.LabelSelectorAsSelector), written from the documented grammar:
//
//   selector    ::= "" | requirement { "," requirement }
//   requirement ::= [ "!" ] KEY [ ( "=" | "==" | "!=" ) [VALUE] | ( "in" | "notin" ) "(" list ")" ]
//   list        ::= [VALUE] { "," [VALUE] }          (a missing VALUE is the empty value)
//
// Whitespace (space, tab, CR, LF) separates tokens; `in`/`notin` are keywords only where an
// operator is expected, so `in in (notin)` is a valid requirement on the key `in`. The only
// known difference: labels.Parse rejects the odd list `(a,,)`, read here as {"", a}.
#include "avw/core/selector.hpp"

#include <algorithm>
#include <cstddef>
#include <string>
#include <tuple>

namespace avw::core {

namespace {

constexpr std::size_t kMaxNameLength = 63;     // name part of a key, and a value
constexpr std::size_t kMaxPrefixLength = 253;  // DNS-1123 subdomain
constexpr std::size_t kMaxQuotedLength = 64;   // of untrusted text echoed in an error

bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }
bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9], the shape of a key's name part and of a value.
bool is_qualified_token(std::string_view s) {
  if (s.empty() || !is_alnum(s.front()) || !is_alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return is_alnum(c) || c == '-' || c == '_' || c == '.'; });
}

// [a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*
bool is_dns_subdomain(std::string_view s) {
  if (s.empty() || s.size() > kMaxPrefixLength) return false;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = s.find('.', start);
    const std::string_view part =
        s.substr(start, dot == std::string_view::npos ? s.size() - start : dot - start);
    if (part.empty() || !is_lower_alnum(part.front()) || !is_lower_alnum(part.back())) return false;
    if (!std::all_of(part.begin(), part.end(), [](char c) { return is_lower_alnum(c) || c == '-'; })) {
      return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

// Why `key` is not a qualified name, or an empty string when it is one.
std::string key_problem(std::string_view key) {
  std::string_view name = key;
  if (const auto slash = key.find('/'); slash != std::string_view::npos) {
    const std::string_view prefix = key.substr(0, slash);
    name = key.substr(slash + 1);
    if (name.find('/') != std::string_view::npos) return "a key has at most one '/' (prefix/name)";
    if (prefix.empty()) return "prefix part must be non-empty";
    if (prefix.size() > kMaxPrefixLength) return "prefix part must be no more than 253 characters";
    if (!is_dns_subdomain(prefix)) return "prefix part must be a lowercase DNS-1123 subdomain";
  }
  if (name.empty()) return "name part must be non-empty";
  if (name.size() > kMaxNameLength) return "name part must be no more than 63 characters";
  if (!is_qualified_token(name)) {
    return "name part must consist of alphanumeric characters, '-', '_' or '.', "
           "and must start and end with an alphanumeric character";
  }
  return {};
}

std::string value_problem(std::string_view value) {
  if (value.empty()) return {};
  if (value.size() > kMaxNameLength) return "must be no more than 63 characters";
  if (!is_qualified_token(value)) {
    return "must be empty or consist of alphanumeric characters, '-', '_' or '.', "
           "and must start and end with an alphanumeric character";
  }
  return {};
}

// Untrusted text in a one-line error: control and non-ASCII bytes escaped, long text cut.
std::string quote(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (std::size_t i = 0; i < text.size() && i < kMaxQuotedLength; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (text.size() > kMaxQuotedLength) out += "...";
  out += '"';
  return out;
}

void set_error(std::string* error, std::string message) {
  if (error != nullptr) *error = std::move(message);
}

std::string invalid_key(std::string_view key, const std::string& problem) {
  return "invalid label key " + quote(key) + ": " + problem;
}
std::string invalid_value(std::string_view key, std::string_view value, const std::string& problem) {
  return "invalid value " + quote(value) + " for label key " + quote(key) + ": " + problem;
}

void normalize(Requirement& r) {
  std::sort(r.values.begin(), r.values.end());
  r.values.erase(std::unique(r.values.begin(), r.values.end()), r.values.end());
}

// labels.Parse sorts by key only (unstably); comparing everything makes the order, and so
// to_string() and operator==, deterministic.
bool requirement_less(const Requirement& a, const Requirement& b) {
  return std::tie(a.key, a.op, a.values) < std::tie(b.key, b.op, b.values);
}

// ---- lexer ---------------------------------------------------------------------------------

enum class Tok {
  End,
  Identifier,
  In,
  NotIn,
  Comma,
  Open,
  Close,
  Bang,
  Equals,
  DoubleEquals,
  NotEquals,
  Greater,
  Less
};

struct Token {
  Tok kind;
  std::string_view text;
  std::size_t offset;
};

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool is_symbol(char c) {
  return c == '=' || c == '!' || c == '(' || c == ')' || c == ',' || c == '>' || c == '<';
}

Tok symbol_kind(char c) {
  switch (c) {
    case '=': return Tok::Equals;
    case '!': return Tok::Bang;
    case '(': return Tok::Open;
    case ')': return Tok::Close;
    case ',': return Tok::Comma;
    case '>': return Tok::Greater;
    default: return Tok::Less;
  }
}

std::vector<Token> lex(std::string_view s) {
  std::vector<Token> tokens;
  std::size_t i = 0;
  while (true) {
    while (i < s.size() && is_space(s[i])) ++i;
    if (i == s.size()) break;
    const std::size_t start = i;
    if (is_symbol(s[i])) {
      // Longest match, as in the apimachinery lexer: `!=` and `==` before `!` and `=`.
      const std::string_view two = s.substr(i, 2);
      const Tok kind = two == "!=" ? Tok::NotEquals : two == "==" ? Tok::DoubleEquals : symbol_kind(s[i]);
      i += two == "!=" || two == "==" ? 2u : 1u;
      tokens.push_back({kind, s.substr(start, i - start), start});
      continue;
    }
    while (i < s.size() && !is_space(s[i]) && !is_symbol(s[i])) ++i;
    const std::string_view word = s.substr(start, i - start);
    const Tok kind = word == "in" ? Tok::In : word == "notin" ? Tok::NotIn : Tok::Identifier;
    tokens.push_back({kind, word, start});
  }
  tokens.push_back({Tok::End, {}, s.size()});
  return tokens;
}

// ---- parser --------------------------------------------------------------------------------

// Where a key or value is expected, `in` and `notin` are plain words.
enum class Context { Operator, Value };

class Parser {
 public:
  explicit Parser(std::string_view text) : tokens_(lex(text)) {}

  std::optional<std::vector<Requirement>> parse() {
    std::vector<Requirement> out;
    if (peek(Context::Value).kind == Tok::End) return out;
    while (true) {
      if (const Tok k = peek(Context::Value).kind; k != Tok::Identifier && k != Tok::Bang) {
        return fail(peek(Context::Value),
                    out.empty() ? "a key, '!key' or end of string" : "a key or '!key' after ','");
      }
      auto requirement = parse_requirement();
      if (!requirement) return std::nullopt;
      out.push_back(std::move(*requirement));
      const Token t = next(Context::Value);
      if (t.kind == Tok::End) return out;
      if (t.kind != Tok::Comma) return fail(t, "',' or end of string");
    }
  }

  std::string& error() { return error_; }

 private:
  Token peek(Context c) const { return as(tokens_[pos_], c); }
  Token next(Context c) {
    const Token t = as(tokens_[pos_], c);
    if (t.kind != Tok::End) ++pos_;  // End repeats: the parser may look past it safely
    return t;
  }
  static Token as(Token t, Context c) {
    if (c == Context::Value && (t.kind == Tok::In || t.kind == Tok::NotIn)) t.kind = Tok::Identifier;
    return t;
  }

  std::nullopt_t fail(const Token& t, std::string_view expected) {
    error_ = "found " + (t.kind == Tok::End ? std::string("end of string") : quote(t.text)) + " at offset " +
             std::to_string(t.offset) + ", expected " + std::string(expected);
    return std::nullopt;
  }

  std::optional<Requirement> parse_requirement() {
    Requirement r;
    Token t = next(Context::Value);
    const bool negated = t.kind == Tok::Bang;
    if (negated) t = next(Context::Value);
    if (t.kind != Tok::Identifier) return fail(t, "a label key");
    if (const std::string problem = key_problem(t.text); !problem.empty()) {
      error_ = invalid_key(t.text, problem);
      return std::nullopt;
    }
    r.key = std::string(t.text);

    const Tok after = peek(Context::Value).kind;
    if (after == Tok::End || after == Tok::Comma) {
      r.op = negated ? Requirement::Operator::DoesNotExist : Requirement::Operator::Exists;
      return r;
    }
    if (negated) return fail(peek(Context::Value), "',' or end of string ('!key' takes no operator)");

    const Token op = next(Context::Operator);
    switch (op.kind) {
      case Tok::Equals:
      case Tok::DoubleEquals: r.op = Requirement::Operator::Equals; break;
      case Tok::NotEquals: r.op = Requirement::Operator::NotEquals; break;
      case Tok::In: r.op = Requirement::Operator::In; break;
      case Tok::NotIn: r.op = Requirement::Operator::NotIn; break;
      case Tok::Greater:
      case Tok::Less:
        error_ = "the numeric operator " + quote(op.text) + " at offset " + std::to_string(op.offset) +
                 " is not supported in label selectors";
        return std::nullopt;
      default: return fail(op, "an operator (=, ==, !=, in, notin)");
    }

    const bool is_set = r.op == Requirement::Operator::In || r.op == Requirement::Operator::NotIn;
    auto values = is_set ? parse_list() : parse_exact_value();
    if (!values) return std::nullopt;
    r.values = std::move(*values);
    for (const auto& v : r.values) {
      if (const std::string problem = value_problem(v); !problem.empty()) {
        error_ = invalid_value(r.key, v, problem);
        return std::nullopt;
      }
    }
    normalize(r);
    return r;
  }

  // `k=` is the empty value, as in labels.Parse.
  std::optional<std::vector<std::string>> parse_exact_value() {
    const Tok k = peek(Context::Value).kind;
    if (k == Tok::End || k == Tok::Comma) return std::vector<std::string>{""};
    const Token t = next(Context::Value);
    if (t.kind != Tok::Identifier) return fail(t, "a value");
    return std::vector<std::string>{std::string(t.text)};
  }

  // `(a,b)`; an empty item is the empty value, so `()` and `(,)` are both {""} as in
  // labels.Parse (which prints an `In [""]` requirement as `k in ()`).
  std::optional<std::vector<std::string>> parse_list() {
    if (const Token t = next(Context::Value); t.kind != Tok::Open)
      return fail(t, "'(' after 'in' or 'notin'");
    std::vector<std::string> values;
    while (true) {
      Token t = next(Context::Value);
      const bool had_value = t.kind == Tok::Identifier;
      values.emplace_back(had_value ? t.text : std::string_view());
      if (had_value) t = next(Context::Value);
      if (t.kind == Tok::Close) return values;
      if (t.kind != Tok::Comma) return fail(t, had_value ? "',' or ')'" : "a value, ',' or ')'");
    }
  }

  std::vector<Token> tokens_;
  std::size_t pos_ = 0;
  std::string error_;
};

}  // namespace

// ---- LabelSet ------------------------------------------------------------------------------

void LabelSet::set(std::string_view key, std::string_view value) {
  for (auto& e : entries_) {
    if (e.key == key) {
      e.value = value;
      return;
    }
  }
  entries_.push_back({key, value});
}

std::optional<std::string_view> LabelSet::get(std::string_view key) const {
  for (const auto& e : entries_) {
    if (e.key == key) return e.value;
  }
  return std::nullopt;
}

// ---- Requirement ---------------------------------------------------------------------------

bool Requirement::matches(const LabelSet& labels) const {
  const auto value = labels.get(key);
  const auto has = [&] { return std::find(values.begin(), values.end(), *value) != values.end(); };
  switch (op) {
    case Operator::Equals:
    case Operator::In: return value && has();
    // Kubernetes: a missing label is "not equal" to anything.
    case Operator::NotEquals:
    case Operator::NotIn: return !value || !has();
    case Operator::Exists: return value.has_value();
    case Operator::DoesNotExist: return !value.has_value();
  }
  return false;
}

// ---- Selector ------------------------------------------------------------------------------

Selector::Selector(std::vector<Requirement> requirements) : requirements_(std::move(requirements)) {
  for (auto& r : requirements_) normalize(r);
  std::sort(requirements_.begin(), requirements_.end(), requirement_less);
}

std::optional<Selector> Selector::parse(std::string_view text, std::string* error) {
  Parser parser(text);
  auto requirements = parser.parse();
  if (!requirements) {
    set_error(error, "invalid label selector: " + std::move(parser.error()));
    return std::nullopt;
  }
  return Selector(std::move(*requirements));
}

std::optional<Selector> Selector::from_structured(
    const std::vector<std::pair<std::string, std::string>>& match_labels,
    const std::vector<MatchExpression>& match_expressions, std::string* error) {
  std::vector<Requirement> requirements;
  requirements.reserve(match_labels.size() + match_expressions.size());
  const auto check = [&](const std::string& key, const std::vector<std::string>& values) {
    if (std::string problem = key_problem(key); !problem.empty()) {
      set_error(error, invalid_key(key, problem));
      return false;
    }
    for (const auto& v : values) {
      if (std::string problem = value_problem(v); !problem.empty()) {
        set_error(error, invalid_value(key, v, problem));
        return false;
      }
    }
    return true;
  };

  for (const auto& [key, value] : match_labels) {
    Requirement r{key, Requirement::Operator::Equals, {value}};
    if (!check(r.key, r.values)) return std::nullopt;
    requirements.push_back(std::move(r));
  }
  for (const auto& e : match_expressions) {
    Requirement r{e.key, Requirement::Operator::Exists, e.values};
    bool needs_values = true;
    if (e.op == "In") {
      r.op = Requirement::Operator::In;
    } else if (e.op == "NotIn") {
      r.op = Requirement::Operator::NotIn;
    } else if (e.op == "Exists") {
      needs_values = false;
    } else if (e.op == "DoesNotExist") {
      r.op = Requirement::Operator::DoesNotExist;
      needs_values = false;
    } else {
      set_error(error, "unknown match expression operator " + quote(e.op) + " for label key " + quote(e.key) +
                           " (expected In, NotIn, Exists or DoesNotExist)");
      return std::nullopt;
    }
    if (needs_values && e.values.empty()) {
      set_error(error, "operator " + e.op + " for label key " + quote(e.key) + " needs at least one value");
      return std::nullopt;
    }
    if (!needs_values && !e.values.empty()) {
      set_error(error, "operator " + e.op + " for label key " + quote(e.key) + " takes no values");
      return std::nullopt;
    }
    if (!check(r.key, r.values)) return std::nullopt;
    requirements.push_back(std::move(r));
  }
  return Selector(std::move(requirements));
}

Selector Selector::nothing() {
  Selector s;
  s.nothing_ = true;
  return s;
}

bool Selector::matches(const LabelSet& labels) const {
  if (nothing_) return false;
  return std::all_of(requirements_.begin(), requirements_.end(),
                     [&](const Requirement& r) { return r.matches(labels); });
}

std::optional<std::string_view> Selector::equality_value(std::string_view key) const {
  if (nothing_) return std::nullopt;
  std::optional<std::string_view> found;
  for (const auto& r : requirements_) {
    if (r.key != key || r.values.size() != 1) continue;
    if (r.op != Requirement::Operator::Equals && r.op != Requirement::Operator::In) continue;
    // `k=a,k=b` can match nothing; no single value to index it under.
    if (found && *found != r.values.front()) return std::nullopt;
    found = r.values.front();
  }
  return found;
}

std::string Selector::to_string() const {
  // Selector::nothing() has no string form; like apimachinery's Nothing() it prints as "".
  std::string out;
  for (const auto& r : requirements_) {
    if (!out.empty()) out += ',';
    using Op = Requirement::Operator;
    Op op = r.op;
    // A hand-built Equals/NotEquals with several values means In/NotIn; print it that way so
    // the text still selects what the requirement does.
    if (r.values.size() != 1 && op == Op::Equals) op = Op::In;
    if (r.values.size() != 1 && op == Op::NotEquals) op = Op::NotIn;
    switch (op) {
      case Op::Exists: out += r.key; continue;
      case Op::DoesNotExist: out += '!' + r.key; continue;
      case Op::Equals: out += r.key + '=' + r.values.front(); continue;
      case Op::NotEquals: out += r.key + "!=" + r.values.front(); continue;
      case Op::In: out += r.key + " in ("; break;
      case Op::NotIn: out += r.key + " notin ("; break;
    }
    for (std::size_t i = 0; i < r.values.size(); ++i) {
      if (i != 0) out += ',';
      out += r.values[i];
    }
    out += ')';
  }
  return out;
}

bool is_valid_label_value(std::string_view value) { return value_problem(value).empty(); }
bool is_valid_label_key(std::string_view key) { return key_problem(key).empty(); }

}  // namespace avw::core
