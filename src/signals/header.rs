//! The Fear & Greed header (legacy §6.5) and its QuickChart gauge link (§5.5).

use crate::domain::js_upper_case;
use crate::domain::{fmt2, FearGreed};

/// The chart URL up to the score: the form-encoded gauge config, a fixed string (§10.7).
const CHART_PREFIX: &str =
    "https://quickchart.io/chart?c=%7Btype%3A%27gauge%27%2Cdata%3A%7Bdatasets%3A%5B%7Bvalue%3A%27";

/// The chart URL after the score. `fmt2` writes only characters that need no encoding.
const CHART_SUFFIX: &str = "%27%2Cdata%3A%5B25%2C45%2C55%2C75%2C100%5D%2CbackgroundColor%3A%5B%27%23f06c00ff%27%2C%27%23ffb9a180%27%2C%27%23e6e6e6%27%2C%27%23b9ede9%27%2C%27%238cd6c3%27%5D%2CborderWidth%3A0%7D%5D%7D%2Coptions%3A%7BvalueLabel%3A%7BfontSize%3A22%2CbackgroundColor%3A%27transparent%27%2Ccolor%3A%27%23000%27%2Cformatter%3Afunction+%28value%29+%7B%0A++return+value+%2B+%22%25%22%3B%0A%7D%2CbottomMarginPercentage%3A10%7D%7D%7D&w=400&h=250&ref=qc-js&bkg=%23ffffff&f=png&v=2.9.4";

/// JavaScript's `Math.round`: halves go towards +∞ (Rust's `round` goes away from zero).
fn js_round(x: f64) -> f64 {
    let floor = x.floor();
    // `x - floor` is exact for every finite double, so the half test is exact too.
    if x - floor >= 0.5 {
        floor + 1.0
    } else {
        floor
    }
}

/// The header's score, `fmt2(Math.round(score·100)/100)`: rounded first, then formatted, so
/// 41.285 shows `41.29` here and `41.28` in the message body.
pub(crate) fn header_score(score: f64) -> String {
    fmt2(js_round(score * 100.0) / 100.0)
}

/// The QuickChart gauge URL for a raw Fear & Greed score.
///
/// The score is shown as `header_score`; an already-rounded score gives the same URL.
pub(crate) fn chart_url(score: f64) -> String {
    format!("{CHART_PREFIX}{}{CHART_SUFFIX}", header_score(score))
}

/// `⚠️ The current [Fear and Greed Index](<chart>) rating is <score>% (*<RATING>*).`
pub(crate) fn header(fear_greed: &FearGreed) -> String {
    format!(
        "⚠️ The current [Fear and Greed Index]({}) rating is {}% (*{}*).",
        chart_url(fear_greed.score),
        header_score(fear_greed.score),
        js_upper_case(&fear_greed.rating)
    )
}

/// A message "with header", as `/now` and the fear broadcasts send it.
pub(crate) fn with_header(header: &str, body: &str) -> String {
    format!("{header}\n\n{body}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signals::fixtures::fear_greed;

    /// §5.5's complete example, verbatim.
    const SPEC_URL_25: &str = "https://quickchart.io/chart?c=%7Btype%3A%27gauge%27%2Cdata%3A%7Bdatasets%3A%5B%7Bvalue%3A%2725.00%27%2Cdata%3A%5B25%2C45%2C55%2C75%2C100%5D%2CbackgroundColor%3A%5B%27%23f06c00ff%27%2C%27%23ffb9a180%27%2C%27%23e6e6e6%27%2C%27%23b9ede9%27%2C%27%238cd6c3%27%5D%2CborderWidth%3A0%7D%5D%7D%2Coptions%3A%7BvalueLabel%3A%7BfontSize%3A22%2CbackgroundColor%3A%27transparent%27%2Ccolor%3A%27%23000%27%2Cformatter%3Afunction+%28value%29+%7B%0A++return+value+%2B+%22%25%22%3B%0A%7D%2CbottomMarginPercentage%3A10%7D%7D%7D&w=400&h=250&ref=qc-js&bkg=%23ffffff&f=png&v=2.9.4";

    /// `URLSearchParams` serialisation: space → `+`, alphanumerics and `*-._` kept.
    fn form_encode(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b' ' => "+".to_string(),
                b if b.is_ascii_alphanumeric() || b"*-._".contains(&b) => (b as char).to_string(),
                b => format!("%{b:02X}"),
            })
            .collect()
    }

    #[test]
    fn the_chart_url_for_25_is_the_spec_example() {
        assert_eq!(chart_url(25.0), SPEC_URL_25);
    }

    #[test]
    fn the_fixed_url_is_the_form_encoded_gauge_config() {
        let config = "{type:'gauge',data:{datasets:[{value:'41.29',data:[25,45,55,75,100],backgroundColor:['#f06c00ff','#ffb9a180','#e6e6e6','#b9ede9','#8cd6c3'],borderWidth:0}]},options:{valueLabel:{fontSize:22,backgroundColor:'transparent',color:'#000',formatter:function (value) {\n  return value + \"%\";\n},bottomMarginPercentage:10}}}";
        let want = format!(
            "https://quickchart.io/chart?c={}&w=400&h=250&ref=qc-js&bkg=%23ffffff&f=png&v=2.9.4",
            form_encode(config)
        );
        assert_eq!(chart_url(41.285), want);
    }

    #[test]
    fn header_scores_round_before_formatting_unlike_the_body() {
        let cases = [
            (25.123, "25.12", "25.12"),
            (41.285, "41.29", "41.28"),
            (10.235, "10.24", "10.23"),
            (50.0, "50.00", "50.00"),
        ];
        for (score, header, body) in cases {
            assert_eq!(header_score(score), header, "{score}");
            assert_eq!(fmt2(score), body, "{score}");
        }
    }

    #[test]
    fn rounding_the_header_score_again_changes_nothing() {
        for score in [25.123, 41.285, 10.235, 0.005, 99.995, 14.68] {
            let once: f64 = header_score(score).parse().unwrap();
            assert_eq!(chart_url(once), chart_url(score), "{score}");
        }
    }

    #[test]
    fn math_round_takes_halves_towards_positive_infinity() {
        assert_eq!(js_round(2.5), 3.0);
        assert_eq!(js_round(-2.5), -2.0);
        assert_eq!(js_round(0.49999999999999994), 0.0);
        assert_eq!(js_round(-0.6), -1.0);
        assert!(js_round(f64::NAN).is_nan());
        assert_eq!(js_round(f64::INFINITY), f64::INFINITY);
    }

    #[test]
    fn the_header_upper_cases_the_rating_and_links_the_gauge() {
        assert_eq!(
            header(&fear_greed("extreme fear", 14.68)),
            format!(
                "⚠️ The current [Fear and Greed Index]({}) rating is 14.68% (*EXTREME FEAR*).",
                SPEC_URL_25.replace("%2725.00%27", "%2714.68%27")
            )
        );
    }

    #[test]
    fn with_header_joins_with_one_blank_line() {
        assert_eq!(with_header("H", "B"), "H\n\nB");
    }
}
