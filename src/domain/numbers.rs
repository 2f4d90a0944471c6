//! Numbers as the legacy bot shows them: JavaScript's `toFixed(2)` (legacy §10.5).

use super::js_number_to_string;

/// `x.toFixed(2)` exactly as JavaScript writes it: the exact binary value rounded to two
/// decimals, exact ties away from zero, `-0` as `0.00`, `Infinity`, and `Number::toString`
/// from 1e21 up.
pub fn fmt2(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let sign = if x < 0.0 { "-" } else { "" };
    let a = x.abs();
    if a >= 1e21 {
        return format!("{sign}{}", js_number_to_string(a));
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
