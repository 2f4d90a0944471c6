//! Numbers as the legacy bot reads and shows them: JavaScript's `parseFloat` (legacy §3.2) and
//! `toFixed(2)` (legacy §10.5).

use super::is_js_whitespace;

/// JavaScript's `parseFloat(s)`, with `None` where JavaScript gives NaN.
///
/// Leading JavaScript whitespace is skipped, then the longest prefix matching
/// `[+-]?(Infinity|([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?)` is converted to the nearest
/// double; the rest of the string is ignored. So `"400.50abc"` is 400.5, `"1e"` is 1, `"0x10"` is 0,
/// `"-0"` is -0.0 and `"1e400"` is +Infinity, while `"inf"`, `"NaN"` and `"abc"` are `None`.
pub fn parse_float(s: &str) -> Option<f64> {
    let s = s.trim_start_matches(is_js_whitespace);
    let b = s.as_bytes();
    let sign_len = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    if s[sign_len..].starts_with("Infinity") {
        let negative = b[0] == b'-';
        return Some(if negative {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    let digits_from = |i: usize| {
        b.get(i..)
            .map_or(0, |t| t.iter().take_while(|c| c.is_ascii_digit()).count())
    };

    let int_digits = digits_from(sign_len);
    let mut end = sign_len + int_digits;
    if b.get(end) == Some(&b'.') {
        let frac_digits = digits_from(end + 1);
        // A lone "." is not a number, but "5." and ".5" are.
        if int_digits + frac_digits > 0 {
            end += 1 + frac_digits;
        }
    }
    if end == sign_len {
        return None;
    }
    if matches!(b.get(end), Some(b'e' | b'E')) {
        let exp_sign_len = usize::from(matches!(b.get(end + 1), Some(b'+' | b'-')));
        let exp_digits = digits_from(end + 1 + exp_sign_len);
        // Without digits the exponent is not part of the number: "1e" and "1e+" are 1.
        if exp_digits > 0 {
            end += 1 + exp_sign_len + exp_digits;
        }
    }
    // The prefix is in Rust's float grammar too (which additionally accepts "inf" and "nan",
    // excluded above), and Rust rounds correctly like JavaScript, saturating to ±Infinity or
    // ±0 on overflow and underflow; so this is never `Err`.
    s[..end].parse().ok()
}

/// The `/execute` PRICE rule (legacy §3.2, §3.8): `parseFloat`, accepted iff the value is > 0.
///
/// NaN, 0, -0 and negative values are rejected; `+Infinity` is accepted (it is shown as
/// `$Infinity` and stored as `null`, see [`super::stored_price`]).
pub fn valid_price(s: &str) -> Option<f64> {
    parse_float(s).filter(|&price| price > 0.0)
}

/// `x.toFixed(2)` exactly as JavaScript writes it: the exact binary value rounded to two
/// decimals, exact ties away from zero, `-0` as `0.00`, `Infinity`, and `Number::toString`
/// from 1e21 up. In the worker it is JavaScript's own `toFixed`, which keeps Rust's exact
/// float formatting out of the upload; natively it is [`to_fixed_2`], tested against it.
pub fn fmt2(x: f64) -> String {
    #[cfg(target_arch = "wasm32")]
    return js_sys::Number::from(x)
        .to_fixed(2)
        .map(String::from)
        .expect("2 is a precision toFixed accepts");
    #[cfg(not(target_arch = "wasm32"))]
    to_fixed_2(x)
}

/// [`fmt2`] written out in Rust.
#[cfg(not(target_arch = "wasm32"))]
fn to_fixed_2(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let sign = if x < 0.0 { "-" } else { "" };
    let a = x.abs();
    if a >= 1e21 {
        return format!("{sign}{}", super::js_number_to_string(a));
    }
    // An exact tie at the third decimal needs |x| = odd/8 (…125, …375, …625, …875); x·8 is
    // exact, so this finds every tie. Rust's formatter would round those to even.
    let eighths = a * 8.0;
    if eighths.fract() == 0.0 && eighths % 2.0 == 1.0 {
        // |x|·100 = k·25/2 with k odd: half-way between two integers; take the upper one.
        let k = eighths as u128;
        let n = (k * 25).div_ceil(2);
        return format!("{sign}{}.{:02}", n / 100, n % 100);
    }
    format!("{sign}{a:.2}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `parseFloat` results, checked against Node 20 (`None` is NaN).
    #[test]
    fn parse_float_matches_javascript() {
        let inf = f64::INFINITY;
        let cases: &[(&str, Option<f64>)] = &[
            ("400.50abc", Some(400.5)),
            (" 12", Some(12.0)),
            ("1e3", Some(1000.0)),
            (".5", Some(0.5)),
            ("-1", Some(-1.0)),
            ("Infinity", Some(inf)),
            ("+Infinity", Some(inf)),
            ("-Infinity", Some(-inf)),
            ("Infinityx", Some(inf)),
            ("-Infinity9", Some(-inf)),
            (" Infinity", Some(inf)),
            ("+5", Some(5.0)),
            ("5.", Some(5.0)),
            ("1.e2", Some(100.0)),
            ("1E2", Some(100.0)),
            ("1e", Some(1.0)),
            ("1e+", Some(1.0)),
            ("1e-5x", Some(0.00001)),
            ("1_000", Some(1.0)),
            ("400,50", Some(400.0)),
            ("+.5e-1x", Some(0.05)),
            ("0.0000001", Some(1e-7)),
            ("1e400", Some(inf)),
            ("1e-400", Some(0.0)),
            ("0x10", Some(0.0)),
            ("1.2.3", Some(1.2)),
            ("00012", Some(12.0)),
            ("4.9e-324", Some(5e-324)),
            ("2.4703282292062328e-324", Some(5e-324)),
            ("1.7976931348623158e308", Some(f64::MAX)),
            ("1.7976931348623159e308", Some(inf)),
            ("9007199254740993", Some(9007199254740992.0)),
            ("0.1e99999999999999999999", Some(inf)),
            ("1e-99999999999999999999", Some(0.0)),
            (
                "123456789012345678901234567890",
                Some(1.2345678901234568e29),
            ),
            ("\u{FEFF}7", Some(7.0)),
            ("\u{3000}3.5", Some(3.5)),
            ("\u{A0}\t\n-2.5e-3", Some(-0.0025)),
            ("abc", None),
            ("", None),
            ("   ", None),
            ("infinity", None),
            ("inf", None),
            ("NaN", None),
            ("nan", None),
            ("\u{661}\u{662}", None), // Arabic-Indic digits
            (".", None),
            ("+", None),
            ("-", None),
            (".e1", None),
            ("e1", None),
            ("--1", None),
            ("+-1", None),
            ("\u{85}7", None), // U+0085 is not JavaScript whitespace
        ];
        for &(s, want) in cases {
            assert_eq!(parse_float(s), want, "parseFloat({s:?})");
        }
    }

    #[test]
    fn parse_float_keeps_the_sign_of_zero() {
        assert!(parse_float("-0").unwrap().is_sign_negative());
        assert!(parse_float("-0.0e5").unwrap().is_sign_negative());
        assert!(parse_float("0").unwrap().is_sign_positive());
    }

    /// The price table of legacy §3.2 and §9.5: accepted iff `parseFloat` gives a value > 0.
    #[test]
    fn valid_price_follows_the_execute_rule() {
        let accepted: &[(&str, f64)] = &[
            ("400.50", 400.5),
            ("400.5", 400.5),
            ("410", 410.0),
            ("400.50abc", 400.5),
            ("1e3", 1000.0),
            (".5", 0.5),
            ("+5", 5.0),
            ("5.", 5.0),
            ("1e", 1.0),
            ("1_000", 1.0),
            ("400,50", 400.0),
            ("+.5e-1x", 0.05),
            ("0.0000001", 1e-7),
            ("Infinity", f64::INFINITY),
            ("1e400", f64::INFINITY),
        ];
        for &(s, want) in accepted {
            assert_eq!(valid_price(s), Some(want), "{s:?} is a valid price");
        }
        let rejected = [
            "abc",
            "0",
            "-5",
            "-0",
            "0x10",
            "1e-400",
            "-Infinity",
            "infinity",
            "NaN",
            "\u{661}\u{662}",
            "",
        ];
        for s in rejected {
            assert_eq!(valid_price(s), None, "{s:?} is not a valid price");
        }
    }

    #[test]
    fn to_fixed_2_matches_javascript_on_the_spec_table() {
        let cases = [
            (0.125, "0.13"),
            (0.375, "0.38"),
            (-0.125, "-0.13"),
            (1.005, "1.00"),
            (8.345, "8.35"),
            (1.255, "1.25"),
            (2.675, "2.67"),
            (10.235, "10.23"),
            (41.285, "41.28"),
            (999.995, "1000.00"),
            (-0.0, "0.00"),
            (-0.001, "-0.00"),
            (-0.005, "-0.01"),
            (1e-7, "0.00"),
            (123456789012345680000.0, "123456789012345683968.00"),
            (1e21, "1e+21"),
            (1.5e21, "1.5e+21"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
            (f64::NAN, "NaN"),
            ((400.5 - 400.0) / 400.0 * 100.0, "0.13"),
            (0.625, "0.63"),
            (2.875, "2.88"),
            (400.5, "400.50"),
            (0.0, "0.00"),
        ];
        for (x, want) in cases {
            assert_eq!(fmt2(x), want, "{x:?}");
        }
    }
}
