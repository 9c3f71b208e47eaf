// Standalone checks for core/json.cc: every value kind, escapes, number edge
// cases, each error class, depth limit and json_escape round trips.
#include <cmath>
#include <cstdint>
#include <string>

#include "json.h"
#include "test_util.h"

using tk::JsonValue;
using tk::parse_json;

// Parses `text`, expecting a Corrupt error that starts with "index JSON: ",
// contains `needle` and names a byte offset.
static void expect_error(std::string_view text, const std::string& needle, int max_depth = 64) {
  std::string msg = CHECK_THROWS_CODE(parse_json(text, max_depth), tk::ErrorCode::Corrupt, needle);
  if (!msg.empty() && (msg.find("at byte") == std::string::npos || msg.rfind("index JSON: ", 0) != 0))
    tkt::fail(__FILE__, __LINE__, "input " + std::string(text.substr(0, 40)) + ": unexpected message '" + msg + "'");
}

static void test_kinds() {
  CHECK(parse_json("null").is_null());
  CHECK(parse_json(" true ").as_bool() == true);
  CHECK(parse_json("false").is_bool() && !parse_json("false").as_bool());
  CHECK(parse_json("\t\r\n 42 \n").as_number() == 42);
  CHECK(parse_json("\"hi\"").as_string() == "hi");
  CHECK(parse_json("[]").is_array() && parse_json("[]").items().empty());
  CHECK(parse_json("{}").is_object() && parse_json("{}").members().empty());
  CHECK(std::string(JsonValue::kind_name(JsonValue::Kind::Null)) == "null");
  CHECK(std::string(JsonValue::kind_name(JsonValue::Kind::Bool)) == "boolean");
  CHECK(std::string(JsonValue::kind_name(JsonValue::Kind::Number)) == "number");
  CHECK(std::string(JsonValue::kind_name(JsonValue::Kind::String)) == "string");
  CHECK(std::string(JsonValue::kind_name(JsonValue::Kind::Array)) == "array");
  CHECK(std::string(JsonValue::kind_name(JsonValue::Kind::Object)) == "object");
  uint64_t u = 0;
  CHECK(!parse_json("\"7\"").as_uint64(&u));
  CHECK(parse_json("7").find("x") == nullptr);
}

static void test_nested() {
  JsonValue v = parse_json(
      R"({"name": "w", "shape": [2, 3], "meta": {"ok": true, "n": null},
          "list": [[], {}, [1, [2]]]})");
  CHECK(v.is_object() && v.members().size() == 4);
  CHECK(v.find("name")->as_string() == "w");
  const JsonValue* shape = v.find("shape");
  CHECK(shape && shape->items().size() == 2 && shape->items()[1].as_number() == 3);
  CHECK(v.find("meta")->find("ok")->as_bool());
  CHECK(v.find("meta")->find("n")->is_null());
  CHECK(v.find("missing") == nullptr);
  const JsonValue* list = v.find("list");
  CHECK(list->items()[0].is_array() && list->items()[1].is_object());
  CHECK(list->items()[2].items()[1].items()[0].as_number() == 2);
  CHECK(v.members()[0].first == "name");
  // Keys repeat freely across different objects.
  CHECK(parse_json(R"({"a": {"a": 1}, "b": [{"a": 2}, {"a": 3}]})").find("a")->find("a")->as_number() == 1);
  // Exactly max_depth levels is fine.
  CHECK(parse_json("[[[1]]]", 3).items()[0].items()[0].items()[0].as_number() == 1);
}

static void test_strings() {
  CHECK(parse_json(R"("a\"b\\c\/d\b\f\n\r\t")").as_string() == "a\"b\\c/d\b\f\n\r\t");
  CHECK(parse_json(R"("\u0041\u00e9\u20AC")").as_string() == "A\xC3\xA9\xE2\x82\xAC");
  CHECK(parse_json(R"("\u0000")").as_string() == std::string(1, '\0'));
  CHECK(parse_json(R"("\ud83d\ude00")").as_string() == "\xF0\x9F\x98\x80");  // U+1F600
  CHECK(parse_json(R"("\uDBFF\uDFFF")").as_string() == "\xF4\x8F\xBF\xBF");  // U+10FFFF
  CHECK(parse_json("\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"").as_string() ==
        "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
  CHECK(parse_json("\"\x7F\"").as_string() == "\x7F");
}

static void test_numbers() {
  uint64_t u = 0;
  CHECK(parse_json("0").as_uint64(&u) && u == 0);
  CHECK(parse_json("123").as_uint64(&u) && u == 123);
  CHECK(parse_json("18446744073709551615").as_uint64(&u) && u == UINT64_MAX);
  JsonValue big = parse_json("18446744073709551616");
  CHECK(big.is_number() && !big.as_uint64(&u) && big.as_number() == 18446744073709551616.0);
  CHECK(!parse_json("99999999999999999999999").as_uint64(&u));
  CHECK(!parse_json("-0").as_uint64(&u) && parse_json("-0").as_number() == 0);
  CHECK(std::signbit(parse_json("-0").as_number()));
  CHECK(!parse_json("-5").as_uint64(&u) && parse_json("-5").as_number() == -5);
  CHECK(!parse_json("1.0").as_uint64(&u) && parse_json("1.0").as_number() == 1.0);
  CHECK(!parse_json("1e2").as_uint64(&u) && parse_json("1e2").as_number() == 100);
  CHECK(parse_json("-1.5e-3").as_number() == -1.5e-3);
  CHECK(parse_json("2.5E+2").as_number() == 250);
  CHECK(parse_json("0.125").as_number() == 0.125);
  CHECK(parse_json("1E-2").as_number() == 0.01);
  CHECK(parse_json("1e-400").as_number() == 0);  // underflow -> 0
  CHECK(std::signbit(parse_json("-1e-400").as_number()));
  CHECK(parse_json("0.00000000001e-400").as_number() == 0);
  CHECK(parse_json("4.9e-324").as_number() > 0);  // smallest subnormal
  expect_error("1e400", "number out of range at byte 0");
  expect_error("[-1" + std::string(400, '0') + "]", "number out of range at byte 1");
  expect_error("0.000001e400", "number out of range");
}

static void test_errors() {
  // Structure.
  expect_error("", "unexpected end of input at byte 0");
  expect_error("   ", "unexpected end of input");
  expect_error("[1, 2", "unexpected end of input at byte 5");
  expect_error("{\"a\": 1", "unexpected end of input");
  expect_error("{\"a\"", "unexpected end of input");
  expect_error("\"abc", "unexpected end of input");
  expect_error("tru", "unexpected end of input");
  expect_error("-", "unexpected end of input");
  expect_error("1.", "unexpected end of input");
  expect_error("1e+", "unexpected end of input");
  expect_error("\"\\u12", "unexpected end of input");
  expect_error("{\"a\": 1 \"b\": 2}", "expected ',' or '}' at byte 8");
  expect_error("[1 2]", "expected ',' or ']' at byte 3");
  expect_error("{\"a\" 1}", "expected ':' at byte 5");
  expect_error("{a: 1}", "expected string key at byte 1");
  expect_error("{\"a\": 1,}", "expected string key at byte 8");
  expect_error("[1,]", "expected value at byte 3");
  expect_error("[,1]", "expected value at byte 1");
  expect_error("nul", "unexpected end of input");
  expect_error("nulx", "invalid literal at byte 0");
  expect_error("True", "expected value at byte 0");
  expect_error("1 2", "trailing characters at byte 2");
  expect_error("{} x", "trailing characters at byte 3");
  expect_error("[1]]", "trailing characters at byte 3");
  expect_error("/* c */ 1", "expected value at byte 0");
  // Equal keys would read differently here (first) and in JSON.parse (last).
  expect_error("{\"a\": 1, \"a\": 2}", "duplicate key \"a\" at byte 9");
  expect_error("{\"k\": {\"x\": 1, \"\\u0078\": 2}}", "duplicate key \"x\" at byte 15");  // equal once unescaped
  // Numbers outside the RFC grammar.
  expect_error("01", "leading zero in number at byte 0");
  expect_error("-01", "leading zero in number");
  expect_error("+1", "expected value at byte 0");
  expect_error(".5", "expected value");
  expect_error("1.e5", "invalid number at byte 0");
  expect_error("-a", "invalid number");
  expect_error("1ex", "invalid number");
  expect_error("NaN", "expected value");
  expect_error("Infinity", "expected value");
  expect_error("-Infinity", "invalid number");
  expect_error("0x10", "trailing characters at byte 1");
  // Strings.
  expect_error("\"a\nb\"", "control character in string at byte 2");
  expect_error(std::string("\"a\0b\"", 5), "control character in string at byte 2");
  expect_error("\"\\x\"", "invalid escape in string at byte 1");
  expect_error("\"\\u12G4\"", "invalid \\u escape at byte 1");
  expect_error("\"\\ud800\"", "unpaired surrogate");
  expect_error("\"\\ud800\\n\"", "unpaired surrogate");
  expect_error("\"\\ud800\\u0041\"", "unpaired surrogate");
  expect_error("\"\\udc00\"", "unpaired surrogate");
  expect_error("\"\\ud800", "unpaired surrogate");
  expect_error("\"'single'\" '", "trailing characters");
  // Invalid UTF-8: stray continuation, overlong, surrogate, > U+10FFFF,
  // truncated sequences (in the middle and at the very end of the input).
  expect_error("\"ab\x80\"", "invalid UTF-8 in string at byte 3");
  expect_error("\"\xC0\xAF\"", "invalid UTF-8 in string at byte 1");
  expect_error("\"\xC1\xBF\"", "invalid UTF-8");
  expect_error("\"\xE0\x80\xAF\"", "invalid UTF-8");
  expect_error("\"\xF0\x80\x80\xAF\"", "invalid UTF-8");
  expect_error("\"\xED\xA0\x80\"", "invalid UTF-8");
  expect_error("\"\xF4\x90\x80\x80\"", "invalid UTF-8");
  expect_error("\"\xF5\x80\x80\x80\"", "invalid UTF-8");
  expect_error("\"\xFF\"", "invalid UTF-8");
  expect_error("\"\xE2\x82\"", "invalid UTF-8 in string at byte 1");
  expect_error("\"\xE2\x82", "invalid UTF-8");
  expect_error("\"\xF0\x9F\x98", "invalid UTF-8");
  expect_error("\xEF\xBB\xBF{}", "expected value at byte 0");  // BOM is not JSON
}

static void test_depth() {
  expect_error("[[[1]]]", "nesting deeper than 2 at byte 2", 2);
  expect_error("{\"a\":{\"b\":{}}}", "nesting deeper than 2 at byte 10", 2);
  expect_error("[]", "nesting deeper than 0 at byte 0", 0);
  CHECK(parse_json("1", 0).as_number() == 1);  // scalars need no nesting
}

static void test_deep_input() {
  std::string deep(100000, '[');
  expect_error(deep, "nesting deeper than 64 at byte 64");
  std::string deep_obj;
  for (int i = 0; i < 100000; ++i) deep_obj += "{\"a\":";
  expect_error(deep_obj, "nesting deeper than 64");
  // 64 levels are accepted and cleaned up.
  std::string ok = std::string(64, '[') + std::string(64, ']');
  JsonValue v = parse_json(ok);
  CHECK(v.is_array());
}

static void test_escape_round_trip() {
  std::string all;
  for (int c = 1; c < 0x80; ++c) all.push_back(static_cast<char>(c));
  all.push_back('\0');
  all += "caf\xC3\xA9 \xF0\x9F\x98\x80 \"quoted\" back\\slash";
  std::string out;
  tk::json_escape(all, &out);
  CHECK(out.front() == '"' && out.back() == '"');
  for (size_t i = 1; i + 1 < out.size(); ++i) CHECK(static_cast<unsigned char>(out[i]) >= 0x20);
  CHECK(parse_json(out).as_string() == all);

  std::string s;
  tk::json_escape("a\"b\\c\n\x01", &s);
  CHECK(s == "\"a\\\"b\\\\c\\n\\u0001\"");
  s.clear();
  tk::json_escape("", &s);
  CHECK(s == "\"\"");
  // json_escape appends; used to build a document that parses back.
  std::string doc = "{";
  tk::json_escape("key\twith tab", &doc);
  doc += ":";
  tk::json_escape("v\x1F", &doc);
  doc += "}";
  CHECK(parse_json(doc).find("key\twith tab")->as_string() == "v\x1F");
}

int main() {
  return tkt::run("json_test", {test_kinds, test_nested, test_strings, test_numbers, test_errors, test_depth,
                                test_deep_input, test_escape_round_trip});
}
