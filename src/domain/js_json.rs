//! `JSON.stringify` byte for byte: the legacy bot's KV values must be reproduced exactly
//! (legacy §4.2), and serde_json writes numbers differently (`400.0`, `1e21`).

use serde::de::DeserializeOwned;
use serde_json::Value;

/// `JSON.parse` into `T`. Every parse of the worker reads bytes, through this: serde_json then
/// holds one parser per target type rather than one for `&str` and one for bytes, and a fresh
/// isolate compiles one on its first request, not two (the update and Telegram's answer).
pub fn parse_json<T: DeserializeOwned>(text: &str) -> serde_json::Result<T> {
    serde_json::from_slice(text.as_bytes())
}

/// ECMAScript `Number::toString(x)` for a double: shortest round-trip digits, plain notation
/// for exponents in (-7, 21], otherwise `d.ddde±n`. In the worker it is JavaScript's own,
/// which keeps Rust's float formatting out of the upload; natively it is [`number_to_string`],
/// tested against JavaScript's outputs.
pub fn js_number_to_string(x: f64) -> String {
    #[cfg(target_arch = "wasm32")]
    return String::from(
        js_sys::Number::from(x)
            .to_string_with_radix(10)
            .expect("10 is a radix toString accepts"),
    );
    #[cfg(not(target_arch = "wasm32"))]
    number_to_string(x)
}

/// [`js_number_to_string`] written out in Rust.
#[cfg(not(target_arch = "wasm32"))]
fn number_to_string(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if x == 0.0 {
        return "0".into(); // -0 too
    }
    if x < 0.0 {
        return format!("-{}", number_to_string(-x));
    }
    // Rust's `{:e}` prints the shortest digits that round-trip, as `d.ddde<exp>`.
    let sci = format!("{x:e}");
    let (mantissa, exponent) = sci
        .split_once('e')
        .expect("`{:e}` always writes an exponent");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let exponent: i32 = exponent.parse().expect("`{:e}` writes a decimal exponent");
    let k = digits.len() as i32;
    let n = exponent + 1; // value = 0.<digits> × 10^n
    if k <= n && n <= 21 {
        format!("{digits}{}", "0".repeat((n - k) as usize))
    } else if 0 < n && n <= 21 {
        let (int, frac) = digits.split_at(n as usize);
        format!("{int}.{frac}")
    } else if -6 < n && n <= 0 {
        format!("0.{}{digits}", "0".repeat((-n) as usize))
    } else {
        let sign = if n > 0 { '+' } else { '-' };
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        format!("{first}{dot}{rest}e{sign}{}", (n - 1).abs())
    }
}

/// `JSON.stringify(value)`: compact, keys in insertion order, JavaScript number formatting.
pub fn js_stringify(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        // JavaScript holds every number as a double, so integers beyond 2^53 round as it would.
        Value::Number(n) => write_number(out, n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, key);
                out.push(':');
                write_value(out, item);
            }
            out.push('}');
        }
    }
}

/// A number as `JSON.stringify` writes it: `null` when it is not finite.
fn write_number(out: &mut String, x: f64) {
    if x.is_finite() {
        out.push_str(&js_number_to_string(x));
    } else {
        out.push_str("null");
    }
}

/// serde_json escapes strings exactly as `JSON.stringify` does (`\"`, `\\`, `\b\f\n\r\t`,
/// other controls as lower-case `\u00xx`, everything else raw).
fn write_string(out: &mut String, s: &str) {
    out.push_str(&serde_json::to_string(s).expect("a str always serialises"));
}

/// `JSON.stringify` of an object of string fields but a leading number: what the legacy bot
/// sent Telegram (`{"chat_id":1,"text":"…"}`), written without building a `Value`.
pub fn js_object_of(number: (&str, f64), strings: &[(&str, &str)]) -> String {
    let mut out = String::from("{");
    write_string(&mut out, number.0);
    out.push(':');
    write_number(&mut out, number.1);
    for (key, value) in strings {
        out.push(',');
        write_string(&mut out, key);
        out.push(':');
        write_string(&mut out, value);
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_object_of_fields_is_what_json_stringify_writes_of_it() {
        let text = "*Bold* \"quoted\" \\ line\nbreak\t\u{1}😀";
        assert_eq!(
            js_object_of(
                ("chat_id", -1_001_234_567_890.0),
                &[("text", text), ("parse_mode", "Markdown")]
            ),
            js_stringify(
                &json!({"chat_id": -1_001_234_567_890_i64, "text": text, "parse_mode": "Markdown"})
            )
        );
        assert_eq!(js_object_of(("chat_id", 7.0), &[]), r#"{"chat_id":7}"#);
    }

    #[test]
    fn numbers_follow_ecmascript_number_to_string() {
        let cases: &[(f64, &str)] = &[
            (400.0, "400"),
            (400.5, "400.5"),
            (1705276800000.0, "1705276800000"),
            (123456789012345680000.0, "123456789012345680000"),
            (0.1 + 0.2, "0.30000000000000004"),
            (0.000001, "0.000001"),
            (1e-7, "1e-7"),
            (1e21, "1e+21"),
            (1.5e21, "1.5e+21"),
            (f64::MAX, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (-2203891200000.0, "-2203891200000"),
            (-0.0, "0"),
            (0.05, "0.05"),
            (f64::INFINITY, "Infinity"),
        ];
        for (x, want) in cases {
            assert_eq!(js_number_to_string(*x), *want, "for {x:e}");
        }
    }

    #[test]
    fn stringify_matches_json_stringify() {
        let v = json!([{"signalType":"BUY","ticker":"SPY","executionPrice":400.0,"executionDate":1705276800000_i64}]);
        assert_eq!(
            js_stringify(&v),
            r#"[{"signalType":"BUY","ticker":"SPY","executionPrice":400,"executionDate":1705276800000}]"#
        );
        assert_eq!(
            js_stringify(&json!(["a\"\\\n\u{1}/é"])),
            "[\"a\\\"\\\\\\n\\u0001/é\"]"
        );
        assert_eq!(
            js_stringify(&json!({"x": null, "y": 1e21})),
            r#"{"x":null,"y":1e+21}"#
        );
    }
}
