//! UTC calendar dates as the legacy bot computes them with JavaScript's `Date`: the `/execute`
//! DATE argument (legacy §3.2), the monthly limit (§3.9) and the `/executions` dates (§3.10).
//!
//! Timestamps are milliseconds since the epoch and may be negative. The civil-date arithmetic is
//! Howard Hinnant's `days_from_civil` / `civil_from_days` on the proleptic Gregorian calendar,
//! which is the calendar JavaScript uses for every year.

use std::fmt;

/// Milliseconds in a UTC day (JavaScript has no leap seconds).
pub(crate) const MS_PER_DAY: i64 = 86_400_000;

/// The largest `|ms|` a JavaScript `Date` can hold; beyond it the date is invalid.
const JS_MAX_MS: i64 = 8_640_000_000_000_000;

/// A day of the proleptic Gregorian calendar, in UTC.
///
/// The fields are public for reading; a `Date` built by hand must name a real day
/// (`month` 1–12, `day` within the month), which [`Date::new`] checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: i32,
    /// 1 = January … 12 = December.
    pub month: u32,
    pub day: u32,
}

impl Date {
    /// The date if it exists: month 1–12 and a day within that month (leap years included).
    pub(crate) fn new(year: i32, month: u32, day: u32) -> Option<Date> {
        let real = (1..=12).contains(&month) && (1..=days_in_month(year, month)).contains(&day);
        real.then_some(Date { year, month, day })
    }

    /// The UTC date of a timestamp, as `getUTCFullYear/Month/Date` give it. Every `i64` works:
    /// its ±1.07·10¹¹ days stay within ±3·10⁸ years, so the year fits an `i32`.
    pub fn from_ms(ms: i64) -> Date {
        Self::from_days(ms.div_euclid(MS_PER_DAY))
    }

    /// Midnight UTC of this date, in milliseconds since the epoch. Saturates at the `i64` limits
    /// for years beyond about ±2.9·10⁸, which no timestamp reaches.
    pub fn to_ms(self) -> i64 {
        self.days().saturating_mul(MS_PER_DAY)
    }

    /// 0 = Sunday … 6 = Saturday, like JavaScript's `getUTCDay`.
    pub fn weekday(self) -> u32 {
        // 1970-01-01 was a Thursday (4).
        (self.days() + 4).rem_euclid(7) as u32
    }

    /// The date `n` days later (earlier for negative `n`).
    pub(crate) fn add_days(self, n: i64) -> Date {
        Self::from_days(self.days() + n)
    }

    /// Days since 1970-01-01 (Hinnant's `days_from_civil`).
    fn days(self) -> i64 {
        // Count years from March so that the leap day ends the (shifted) year.
        let (m, y) = (i64::from(self.month), i64::from(self.year));
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y.rem_euclid(400); // [0, 399]
        let doy = (153 * ((m + 9) % 12) + 2) / 5 + i64::from(self.day) - 1; // [0, 365]
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
        era * 146_097 + doe - 719_468
    }

    /// The inverse of [`Date::days`] (Hinnant's `civil_from_days`).
    fn from_days(days: i64) -> Date {
        let z = days + 719_468; // days since 0000-03-01; no overflow for days = i64::MIN / MS_PER_DAY
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097); // [0, 146096]
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
        let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Date {
            year: year as i32,
            month,
            day,
        }
    }
}

/// `YYYY-MM-DD`, the date part of JavaScript's `toISOString`: four digits for years 0–9999,
/// otherwise a sign and six digits (`-000001-12-31`, `+275760-09-13`).
impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (year, month, day) = (self.year, self.month, self.day);
        match year {
            0..=9999 => write!(f, "{year:04}-{month:02}-{day:02}"),
            _ => {
                let sign = if year < 0 { '-' } else { '+' };
                write!(f, "{sign}{:06}-{month:02}-{day:02}", year.unsigned_abs())
            }
        }
    }
}

fn is_leap_year(year: i32) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

pub(crate) fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The outcome of checking the optional `/execute` DATE token (legacy §3.2, §3.8 step 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateArg {
    /// Not `^[0-9]{4}-[0-9]{2}-[0-9]{2}$` (ASCII digits only): the "Invalid date format" reply.
    BadFormat,
    /// The right shape but no such day, or a year before 0100: the "Invalid date" reply.
    Invalid,
    /// Midnight UTC of the date, in milliseconds since the epoch (negative before 1970).
    Valid(i64),
}

/// The `/execute` DATE rule: the exact `YYYY-MM-DD` shape, then a real proleptic-Gregorian day
/// with year ≥ 0100. Nothing rolls over (`2024-02-30` is invalid) and there is no range check.
/// Years 0000–0099 are invalid because the legacy round trip through JavaScript's `Date` maps
/// them to 19xx.
pub fn parse_date_arg(s: &str) -> DateArg {
    let b = s.as_bytes();
    let shaped = b.len() == 10
        && b.iter().enumerate().all(|(i, &c)| {
            if i == 4 || i == 7 {
                c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    if !shaped {
        return DateArg::BadFormat;
    }
    let number = |range: std::ops::Range<usize>| {
        b[range]
            .iter()
            .fold(0u32, |n, &c| n * 10 + u32::from(c - b'0'))
    };
    // At most 9999, so the cast is lossless.
    let year = number(0..4) as i32;
    match Date::new(year, number(5..7), number(8..10)) {
        Some(date) if year >= 100 => DateArg::Valid(date.to_ms()),
        _ => DateArg::Invalid,
    }
}

const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// The English name of a month (1 = `January` … 12 = `December`), as the monthly-limit reply
/// shows it (legacy §3.9). The month is taken cyclically (0 is `December`, 13 is `January`), so
/// this never panics.
pub fn month_name(month: u32) -> &'static str {
    MONTH_NAMES[((month % 12 + 11) % 12) as usize]
}

/// The name of the month after `month`; `December` is followed by `January` (legacy §3.9).
pub fn next_month_name(month: u32) -> &'static str {
    month_name(month % 12 + 1)
}

/// Whether two timestamps fall in the same UTC year and month (the monthly limit, legacy §3.9).
pub fn same_utc_month(a_ms: i64, b_ms: i64) -> bool {
    let (a, b) = (Date::from_ms(a_ms), Date::from_ms(b_ms));
    (a.year, a.month) == (b.year, b.month)
}

/// An `/executions` date (legacy §3.10): `MMM D, YYYY, hh:mm AM|PM` in UTC, e.g.
/// `Feb 3, 2024, 02:05 PM`, with an ASCII space before `AM`/`PM`.
///
/// This is JavaScript's `toLocaleString("en-US", { year: "numeric", month: "short",
/// day: "numeric", hour: "2-digit", minute: "2-digit", timeZone: "UTC" })`, written out so that
/// no locale data can change it. Like that call it shows years up to 0 as era years without the
/// era (year 0 is `1`, year -1 is `2`) and gives `Invalid Date` beyond JavaScript's range.
pub fn format_execution_date(ms: i64) -> String {
    if !(-JS_MAX_MS..=JS_MAX_MS).contains(&ms) {
        return "Invalid Date".into();
    }
    const SHORT: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let date = Date::from_ms(ms);
    let minutes_of_day = ms.rem_euclid(MS_PER_DAY) / 60_000;
    let (hour, minute) = (minutes_of_day / 60, minutes_of_day % 60);
    let hour12 = if hour % 12 == 0 { 12 } else { hour % 12 };
    let meridiem = if hour < 12 { "AM" } else { "PM" };
    let year = if date.year <= 0 {
        1 - i64::from(date.year)
    } else {
        i64::from(date.year)
    };
    let month = SHORT[date.month as usize - 1]; // from_ms always gives a month in 1..=12
    format!(
        "{month} {}, {year}, {hour12:02}:{minute:02} {meridiem}",
        date.day
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn date(year: i32, month: u32, day: u32) -> Date {
        Date::new(year, month, day).unwrap()
    }

    /// Timestamps against Node 20's `getUTCFullYear/Month/Date/Day` and `toISOString`.
    #[test]
    fn from_ms_matches_javascript_including_negative_timestamps() {
        let cases = [
            (0, "1970-01-01", 4),
            (-1, "1969-12-31", 3),
            (-86_400_000, "1969-12-31", 3),
            (-86_400_001, "1969-12-30", 2),
            (1_705_276_800_000, "2024-01-15", 1),
            (1_706_969_100_000, "2024-02-03", 6),
            (-2_203_891_200_000, "1900-03-01", 4),
            (-11_670_998_400_000, "1600-02-29", 2),
            (-59_011_459_200_000, "0100-01-01", 5),
            (-62_135_596_800_000, "0001-01-01", 1),
            (-62_167_305_600_000, "-000001-12-31", 5),
            (-8_640_000_000_000_000, "-271821-04-20", 2),
            (8_640_000_000_000_000, "+275760-09-13", 6),
        ];
        for (ms, want, weekday) in cases {
            let d = Date::from_ms(ms);
            assert_eq!(d.to_string(), want, "{ms}");
            assert_eq!(d.weekday(), weekday, "weekday of {want}");
            assert!(
                d.to_ms() <= ms && ms - d.to_ms() < MS_PER_DAY,
                "{want} is the day of {ms}"
            );
        }
    }

    #[test]
    fn from_ms_never_panics_at_the_i64_limits() {
        for ms in [i64::MIN, i64::MAX] {
            let d = Date::from_ms(ms);
            assert_eq!(Date::new(d.year, d.month, d.day), Some(d));
        }
    }

    proptest! {
        #[test]
        fn every_day_round_trips_and_weekdays_cycle(days in -4_000_000_000i64..4_000_000_000) {
            let d = Date::from_ms(days * MS_PER_DAY);
            prop_assert_eq!(Date::new(d.year, d.month, d.day), Some(d));
            prop_assert_eq!(d.to_ms(), days * MS_PER_DAY);
            let next = Date::from_ms((days + 1) * MS_PER_DAY);
            prop_assert!(next > d);
            prop_assert_eq!(next, d.add_days(1));
            prop_assert_eq!(next.weekday(), (d.weekday() + 1) % 7);
        }
    }

    #[test]
    fn new_knows_month_lengths_and_leap_years() {
        assert!(Date::new(2000, 2, 29).is_some());
        assert!(Date::new(2024, 2, 29).is_some());
        assert!(Date::new(1900, 2, 29).is_none());
        assert!(Date::new(2023, 2, 29).is_none());
        assert!(Date::new(2024, 4, 31).is_none());
        assert!(Date::new(2024, 12, 31).is_some());
        assert!(Date::new(2024, 0, 1).is_none());
        assert!(Date::new(2024, 13, 1).is_none());
        assert!(Date::new(2024, 1, 0).is_none());
    }

    /// The DATE table of legacy §3.2 and §9.5; timestamps from Node 20's `Date.parse`.
    #[test]
    fn parse_date_arg_follows_the_execute_rule() {
        use DateArg::*;
        let cases = [
            ("2024-01-15", Valid(1_705_276_800_000)),
            ("0100-01-01", Valid(-59_011_459_200_000)),
            ("2000-02-29", Valid(951_782_400_000)),
            ("2024-02-29", Valid(1_709_164_800_000)),
            ("1969-12-31", Valid(-86_400_000)), // before 1970: negative
            ("9999-12-31", Valid(253_402_214_400_000)), // no range check
            ("2024-02-30", Invalid),            // no rollover
            ("2024-04-31", Invalid),
            ("2023-02-29", Invalid),
            ("1900-02-29", Invalid),
            ("2024-13-01", Invalid),
            ("2024-00-10", Invalid),
            ("2024-01-00", Invalid),
            ("2024-01-32", Invalid),
            ("0099-01-01", Invalid), // two-digit years fail the JavaScript round trip
            ("0000-01-01", Invalid),
            ("2024/01/15", BadFormat),
            ("2024-1-15", BadFormat),
            ("24-01-15", BadFormat),
            ("2024-01-15T00:00", BadFormat),
            ("+2024-01-15", BadFormat),
            ("2024-01-1a", BadFormat),
            ("2024_01-15", BadFormat),
            ("", BadFormat),
            ("\u{FF12}024-01-15", BadFormat), // full-width digit
            ("\u{661}\u{662}\u{663}\u{664}-01-15", BadFormat), // Arabic-Indic digits
        ];
        for (s, want) in cases {
            assert_eq!(parse_date_arg(s), want, "{s:?}");
        }
    }

    #[test]
    fn month_names_are_long_english_names_and_december_wraps() {
        let names: Vec<_> = (1..=12).map(month_name).collect();
        assert_eq!(names, MONTH_NAMES);
        assert_eq!(month_name(11), "November");
        assert_eq!(next_month_name(11), "December");
        assert_eq!(next_month_name(12), "January");
        assert_eq!(next_month_name(1), "February");
        assert_eq!(month_name(0), "December");
        assert_eq!(month_name(13), "January");
        assert_eq!(next_month_name(u32::MAX), month_name(u32::MAX % 12 + 1));
    }

    #[test]
    fn same_utc_month_compares_year_and_month_in_utc() {
        let nov_1 = 1_730_419_200_000; // 2024-11-01T00:00Z
        let nov_30_end = 1_733_011_199_999; // 2024-11-30T23:59:59.999Z
        assert!(same_utc_month(nov_1, nov_30_end));
        assert!(
            !same_utc_month(nov_30_end, nov_30_end + 1),
            "December starts"
        );
        assert!(!same_utc_month(nov_1, nov_1 - 1), "October ends");
        assert!(
            !same_utc_month(nov_1, date(2023, 11, 15).to_ms()),
            "another year"
        );
        assert!(same_utc_month(-1, -2_678_400_000), "December 1969");
    }

    /// The examples of legacy §3.10 and A.9, and Node 20's output beyond them.
    #[test]
    fn execution_dates_match_javascript_to_locale_string() {
        let cases = [
            (1_705_276_800_000, "Jan 15, 2024, 12:00 AM"),
            (1_706_969_100_000, "Feb 3, 2024, 02:05 PM"),
            (1_725_883_259_999, "Sep 9, 2024, 12:00 PM"), // seconds dropped, not rounded
            (1_732_492_740_000, "Nov 24, 2024, 11:59 PM"),
            (1_795_478_640_000, "Nov 24, 2026, 12:04 AM"),
            (-2_203_891_200_000, "Mar 1, 1900, 12:00 AM"),
            (-46_388_678_400_000, "Jan 1, 500, 12:00 AM"),
            (-1, "Dec 31, 1969, 11:59 PM"),
            (-62_135_596_800_000, "Jan 1, 1, 12:00 AM"),
            (-62_135_683_200_000, "Dec 31, 1, 12:00 AM"), // year 0 is 1 BC
            (-62_198_755_200_000, "Jan 1, 2, 12:00 AM"),  // year -1 is 2 BC
            (253_402_300_800_000, "Jan 1, 10000, 12:00 AM"),
            (8_640_000_000_000_000, "Sep 13, 275760, 12:00 AM"),
            (-8_640_000_000_000_000, "Apr 20, 271822, 12:00 AM"),
            (8_640_000_000_000_001, "Invalid Date"),
            (i64::MIN, "Invalid Date"),
        ];
        for (ms, want) in cases {
            assert_eq!(format_execution_date(ms), want, "{ms}");
        }
    }

    #[test]
    fn execution_dates_use_short_month_names_and_an_ascii_space() {
        let months: Vec<_> = (1..=12)
            .map(|m| format_execution_date(date(2024, m, 1).to_ms() + 13 * 3_600_000))
            .collect();
        let want = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ]
        .map(|m| format!("{m} 1, 2024, 01:00 PM"));
        assert_eq!(months, want);
        assert!(months.iter().all(|s| s.is_ascii()), "no U+202F before PM");
    }
}
