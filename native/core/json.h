// A small, strict JSON parser for the checkpoint index. The index comes from
// a file that may be corrupt or hostile, so the parser bounds nesting depth,
// never reads past its input, and reports the byte offset of the first
// problem. Writing JSON needs only string escaping (json_escape).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "format_limits.h"

namespace tk {

class JsonValue {
 public:
  enum class Kind { Null, Bool, Number, String, Array, Object };

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::Null; }
  bool is_bool() const { return kind_ == Kind::Bool; }
  bool is_number() const { return kind_ == Kind::Number; }
  bool is_string() const { return kind_ == Kind::String; }
  bool is_array() const { return kind_ == Kind::Array; }
  bool is_object() const { return kind_ == Kind::Object; }

  bool as_bool() const { return bool_; }
  double as_number() const { return number_; }
  // True when the number was written as an integer literal (no '.', 'e')
  // that fits in uint64; the value is then in *out.
  bool as_uint64(uint64_t* out) const;
  const std::string& as_string() const { return string_; }
  const std::vector<JsonValue>& items() const { return items_; }
  const std::vector<std::pair<std::string, JsonValue>>& members() const { return members_; }
  // First member with this key, or nullptr (objects only).
  const JsonValue* find(std::string_view key) const;

  static const char* kind_name(Kind kind);  // "null", "boolean", "number", ...

 private:
  friend class JsonParser;
  Kind kind_ = Kind::Null;
  bool bool_ = false;
  double number_ = 0;
  bool is_integer_literal_ = false;
  uint64_t uint_ = 0;
  std::string string_;
  std::vector<JsonValue> items_;
  std::vector<std::pair<std::string, JsonValue>> members_;
};

// Parses one JSON document (RFC 8259; no comments, no trailing commas, no
// duplicate keys in an object; surrounding whitespace allowed). Throws tk::Error(ErrorCode::Corrupt) whose
// message names the byte offset and what was expected, e.g.
// "index JSON: expected ',' or '}' at byte 1042".
JsonValue parse_json(std::string_view text, int max_depth = kMaxJsonDepth);

// Appends `s` as a quoted JSON string to `out` (escapes ", \, control chars).
void json_escape(std::string_view s, std::string* out);

}  // namespace tk
