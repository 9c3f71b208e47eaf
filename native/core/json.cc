// Strict RFC 8259 parser for the checkpoint index (see json.h). All reads go
// through peek()/pos_ < size checks so hostile input can never walk past the
// end of the buffer; recursion is bounded by max_depth.
#include "json.h"

#include <unordered_set>

#include <charconv>
#include <system_error>

#include "errors.h"

namespace tk {

bool JsonValue::as_uint64(uint64_t* out) const {
  if (kind_ != Kind::Number || !is_integer_literal_) return false;
  *out = uint_;
  return true;
}

const JsonValue* JsonValue::find(std::string_view key) const {
  if (kind_ != Kind::Object) return nullptr;
  for (const auto& m : members_) {
    if (m.first == key) return &m.second;
  }
  return nullptr;
}

const char* JsonValue::kind_name(Kind kind) {
  switch (kind) {
    case Kind::Null: return "null";
    case Kind::Bool: return "boolean";
    case Kind::Number: return "number";
    case Kind::String: return "string";
    case Kind::Array: return "array";
    case Kind::Object: return "object";
  }
  return "unknown";
}

class JsonParser {
 public:
  JsonParser(std::string_view text, int max_depth) : s_(text), max_depth_(max_depth) {}

  JsonValue parse_document() {
    JsonValue root;
    skip_ws();
    parse_value(&root, 0);
    skip_ws();
    if (pos_ < s_.size()) fail("trailing characters", pos_);
    return root;
  }

 private:
  [[noreturn]] void fail(const std::string& what, size_t at) const {
    throw Error(ErrorCode::Corrupt, "index JSON: " + what + " at byte " + std::to_string(at));
  }
  [[noreturn]] void fail_end() const { fail("unexpected end of input", s_.size()); }

  bool at_end() const { return pos_ >= s_.size(); }
  // Current byte; callers check at_end() first (or accept '\0' as "no match").
  unsigned char peek() const { return at_end() ? 0 : static_cast<unsigned char>(s_[pos_]); }

  void skip_ws() {
    while (!at_end()) {
      char c = s_[pos_];
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
      ++pos_;
    }
  }

  // Consumes `c` after optional whitespace, else reports what was expected.
  void expect(char c, const char* expected) {
    skip_ws();
    if (at_end()) fail_end();
    if (s_[pos_] != c) fail(std::string("expected ") + expected, pos_);
    ++pos_;
  }

  void parse_literal(std::string_view word) {
    size_t start = pos_;
    for (char c : word) {
      if (at_end()) fail_end();
      if (s_[pos_] != c) fail("invalid literal", start);
      ++pos_;
    }
  }

  void parse_value(JsonValue* out, int depth) {
    if (at_end()) fail_end();
    switch (s_[pos_]) {
      case '{': parse_object(out, depth); return;
      case '[': parse_array(out, depth); return;
      case '"': out->kind_ = JsonValue::Kind::String; parse_string(&out->string_); return;
      case 't': parse_literal("true"); out->kind_ = JsonValue::Kind::Bool; out->bool_ = true; return;
      case 'f': parse_literal("false"); out->kind_ = JsonValue::Kind::Bool; return;
      case 'n': parse_literal("null"); out->kind_ = JsonValue::Kind::Null; return;
      default:
        if (s_[pos_] == '-' || (s_[pos_] >= '0' && s_[pos_] <= '9')) {
          parse_number(out);
          return;
        }
        fail("expected value", pos_);
    }
  }

  void enter(int depth) const {
    if (depth >= max_depth_) fail("nesting deeper than " + std::to_string(max_depth_), pos_);
  }

  void parse_array(JsonValue* out, int depth) {
    enter(depth);
    out->kind_ = JsonValue::Kind::Array;
    ++pos_;  // '['
    skip_ws();
    if (peek() == ']') { ++pos_; return; }
    for (;;) {
      skip_ws();
      out->items_.emplace_back();
      parse_value(&out->items_.back(), depth + 1);
      skip_ws();
      if (at_end()) fail_end();
      char c = s_[pos_++];
      if (c == ']') return;
      if (c != ',') fail("expected ',' or ']'", pos_ - 1);
    }
  }

  void parse_object(JsonValue* out, int depth) {
    enter(depth);
    std::unordered_set<std::string> keys;
    out->kind_ = JsonValue::Kind::Object;
    ++pos_;  // '{'
    skip_ws();
    if (peek() == '}') { ++pos_; return; }
    for (;;) {
      skip_ws();
      if (at_end()) fail_end();
      if (s_[pos_] != '"') fail("expected string key", pos_);
      size_t key_pos = pos_;
      out->members_.emplace_back();
      parse_string(&out->members_.back().first);
      // JSON.parse keeps the last of two equal keys and this parser would see
      // the first: a file could then mean one thing to the native reader and
      // another to the TypeScript side. Equal keys are refused.
      if (!keys.insert(out->members_.back().first).second)
        fail("duplicate key \"" + out->members_.back().first.substr(0, 64) + "\"", key_pos);
      expect(':', "':'");
      skip_ws();
      parse_value(&out->members_.back().second, depth + 1);
      skip_ws();
      if (at_end()) fail_end();
      char c = s_[pos_++];
      if (c == '}') return;
      if (c != ',') fail("expected ',' or '}'", pos_ - 1);
    }
  }

  static void append_utf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  // Reads the 4 hex digits after "\u" (pos_ points at the first digit).
  uint32_t parse_hex4(size_t esc_start) {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      if (at_end()) fail_end();
      char c = s_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') v |= static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= static_cast<uint32_t>(c - 'A' + 10);
      else fail("invalid \\u escape", esc_start);
    }
    return v;
  }

  // Length of the well-formed UTF-8 sequence at pos_ (Unicode Table 3-7:
  // rejects overlongs, surrogates and code points above U+10FFFF), or 0.
  size_t utf8_sequence_length() const {
    auto byte = [&](size_t i) -> unsigned char {
      return pos_ + i < s_.size() ? static_cast<unsigned char>(s_[pos_ + i]) : 0;
    };
    auto cont = [&](size_t i, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
      unsigned char b = byte(i);
      return b >= lo && b <= hi;
    };
    unsigned char b0 = byte(0);
    if (b0 >= 0xC2 && b0 <= 0xDF) return cont(1) ? 2 : 0;
    if (b0 == 0xE0) return cont(1, 0xA0) && cont(2) ? 3 : 0;
    if (b0 == 0xED) return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;
    if (b0 >= 0xE1 && b0 <= 0xEF) return cont(1) && cont(2) ? 3 : 0;
    if (b0 == 0xF0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
    if (b0 >= 0xF1 && b0 <= 0xF3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
    if (b0 == 0xF4) return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
    return 0;
  }

  void parse_string(std::string* out) {
    ++pos_;  // opening quote
    for (;;) {
      // Copy the run of plain bytes in one go.
      size_t run = pos_;
      while (run < s_.size()) {
        unsigned char c = static_cast<unsigned char>(s_[run]);
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) break;
        ++run;
      }
      out->append(s_.data() + pos_, run - pos_);
      pos_ = run;
      if (at_end()) fail_end();
      unsigned char c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') { ++pos_; return; }
      if (c < 0x20) fail("control character in string", pos_);
      if (c >= 0x80) {
        size_t n = utf8_sequence_length();
        if (n == 0) fail("invalid UTF-8 in string", pos_);
        out->append(s_.data() + pos_, n);
        pos_ += n;
        continue;
      }
      parse_escape(out);
    }
  }

  void parse_escape(std::string* out) {
    size_t start = pos_++;  // backslash
    if (at_end()) fail_end();
    char e = s_[pos_++];
    switch (e) {
      case '"': out->push_back('"'); return;
      case '\\': out->push_back('\\'); return;
      case '/': out->push_back('/'); return;
      case 'b': out->push_back('\b'); return;
      case 'f': out->push_back('\f'); return;
      case 'n': out->push_back('\n'); return;
      case 'r': out->push_back('\r'); return;
      case 't': out->push_back('\t'); return;
      case 'u': break;
      default: fail("invalid escape in string", start);
    }
    uint32_t cp = parse_hex4(start);
    // Lone surrogates are rejected: they would decode to bytes that are not
    // valid UTF-8, so the name could not round-trip through json_escape.
    if (cp >= 0xDC00 && cp <= 0xDFFF) fail("unpaired surrogate in \\u escape", start);
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      size_t low_start = pos_;
      if (pos_ + 1 >= s_.size() || s_[pos_] != '\\' || s_[pos_ + 1] != 'u') {
        fail("unpaired surrogate in \\u escape", start);
      }
      pos_ += 2;
      uint32_t lo = parse_hex4(low_start);
      if (lo < 0xDC00 || lo > 0xDFFF) fail("unpaired surrogate in \\u escape", start);
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    append_utf8(cp, out);
  }

  static bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

  void parse_number(JsonValue* out) {
    size_t start = pos_;
    bool negative = peek() == '-';
    if (negative) ++pos_;
    if (at_end()) fail_end();
    if (!is_digit(peek())) fail("invalid number", start);

    // Integer part; also tracks uint64 value and the decimal magnitude of the
    // first significant digit (to tell overflow from underflow below).
    bool int_nonzero = peek() != '0';
    uint64_t u = 0;
    bool fits = true;
    size_t int_digits = 0;
    if (!int_nonzero) {
      ++pos_;
      int_digits = 1;
      if (is_digit(peek())) fail("leading zero in number", start);
    } else {
      while (is_digit(peek())) {
        unsigned d = peek() - '0';
        if (u > (UINT64_MAX - d) / 10) fits = false;
        else u = u * 10 + d;
        ++int_digits;
        ++pos_;
      }
    }
    bool integer = true;
    long frac_leading_zeros = 0;
    bool frac_nonzero = false;
    if (peek() == '.') {
      integer = false;
      ++pos_;
      if (at_end()) fail_end();
      if (!is_digit(peek())) fail("invalid number", start);
      while (is_digit(peek())) {
        if (peek() != '0') frac_nonzero = true;
        else if (!frac_nonzero && frac_leading_zeros < 100000) ++frac_leading_zeros;
        ++pos_;
      }
    }
    long exp = 0;
    if (peek() == 'e' || peek() == 'E') {
      integer = false;
      ++pos_;
      bool exp_negative = peek() == '-';
      if (peek() == '+' || peek() == '-') ++pos_;
      if (at_end()) fail_end();
      if (!is_digit(peek())) fail("invalid number", start);
      while (is_digit(peek())) {
        if (exp < 100000) exp = exp * 10 + (peek() - '0');  // clamp: only the sign of magnitude matters
        ++pos_;
      }
      if (exp_negative) exp = -exp;
    }

    out->kind_ = JsonValue::Kind::Number;
    const char* first = s_.data() + start;
    const char* last = s_.data() + pos_;
    double v = 0;
    auto res = std::from_chars(first, last, v);  // locale-independent, bounded
    if (res.ec == std::errc::result_out_of_range) {
      long mag = 0;
      if (int_nonzero) mag = static_cast<long>(int_digits > 100000 ? 100000 : int_digits) - 1 + exp;
      else if (frac_nonzero) mag = exp - (frac_leading_zeros + 1);
      if (mag >= 0) fail("number out of range", start);
      v = negative ? -0.0 : 0.0;  // underflow rounds to zero
    } else if (res.ec != std::errc() || res.ptr != last) {
      fail("invalid number", start);
    }
    out->number_ = v;
    if (integer && !negative && fits) {
      out->is_integer_literal_ = true;
      out->uint_ = u;
    }
  }

  std::string_view s_;
  size_t pos_ = 0;
  int max_depth_;
};

JsonValue parse_json(std::string_view text, int max_depth) {
  return JsonParser(text, max_depth).parse_document();
}

void json_escape(std::string_view s, std::string* out) {
  static const char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (c < 0x20) {
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 0xF]);
        } else {
          out->push_back(ch);
        }
    }
  }
  out->push_back('"');
}

}  // namespace tk
