//! US stock-market holidays as the legacy bot computes them (legacy §7): the cron broadcast skips
//! them (§8.2) and `/now` adds a "Market Closed" notice (§3.6).

use super::Date;

/// One market holiday of a year's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holiday {
    /// The exact text users see, e.g. `Martin Luther King Jr. Day`.
    pub name: &'static str,
    /// The day the market is closed (the observed day when a weekend shift applied).
    pub date: Date,
    /// Whether a weekend shift moved the holiday (the legacy `isObserved`; never shown).
    pub observed: bool,
}

const MONDAY: u32 = 1;
const THURSDAY: u32 = 4;
const FRIDAY: u32 = 5;
const SATURDAY: u32 = 6;
const SUNDAY: u32 = 0;

/// The year's list in the legacy order (legacy §7.1): New Year's Day, Martin Luther King Jr.
/// Day, Presidents' Day, Good Friday, Memorial Day, Juneteenth (from 2021), Independence Day,
/// Labor Day, Thanksgiving Day, Christmas Day.
///
/// A New Year's Day on a Saturday is observed on Friday December 31 of the **previous** year
/// but stays in this year's list, where [`holiday_on`] never finds it (legacy §7.2).
pub fn holidays_of(year: i32) -> Vec<Holiday> {
    let fixed = |name, month, day| Holiday {
        name,
        date: ymd(year, month, day),
        observed: false,
    };
    let shifted = |name, month, day| observed(fixed(name, month, day));
    let nth = |name, month, weekday, n| fixed(name, month, nth_weekday(year, month, weekday, n));
    let mut list = vec![
        shifted("New Year's Day", 1, 1),
        nth("Martin Luther King Jr. Day", 1, MONDAY, 3),
        nth("Presidents' Day", 2, MONDAY, 3),
        Holiday {
            name: "Good Friday",
            date: easter(year).add_days(-2),
            observed: false,
        },
        fixed("Memorial Day", 5, last_weekday(year, 5, MONDAY)),
    ];
    if year >= 2021 {
        list.push(shifted("Juneteenth", 6, 19));
    }
    list.extend([
        shifted("Independence Day", 7, 4),
        nth("Labor Day", 9, MONDAY, 1),
        nth("Thanksgiving Day", 11, THURSDAY, 4),
        shifted("Christmas Day", 12, 25),
    ]);
    list
}

/// The holiday on `date`, looked up in **the date's own year's** list only (legacy §7.2).
///
/// So 2021-12-31 and 2027-12-31 are not holidays although the 2022 and 2028 lists hold them as
/// the observed New Year's Day. The quirk is kept (legacy §10.7).
pub fn holiday_on(date: Date) -> Option<Holiday> {
    holidays_of(date.year).into_iter().find(|h| h.date == date)
}

/// "Trading day" (legacy §7.4): Monday to Friday and not a holiday.
pub fn is_trading_day(date: Date) -> bool {
    (MONDAY..=FRIDAY).contains(&date.weekday()) && holiday_on(date).is_none()
}

/// The weekend shift: Saturday → Friday before, Sunday → Monday after.
fn observed(holiday: Holiday) -> Holiday {
    let shift = match holiday.date.weekday() {
        SATURDAY => -1,
        SUNDAY => 1,
        _ => return holiday,
    };
    Holiday {
        date: holiday.date.add_days(shift),
        observed: true,
        ..holiday
    }
}

/// Callers pass fixed days that exist in every month they name.
fn ymd(year: i32, month: u32, day: u32) -> Date {
    Date { year, month, day }
}

/// The day of the month of the `n`-th `weekday` (0 = Sunday) of the month; `n` is 1–4.
fn nth_weekday(year: i32, month: u32, weekday: u32, n: u32) -> u32 {
    let first = ymd(year, month, 1).weekday();
    1 + (weekday + 7 - first) % 7 + 7 * (n - 1)
}

/// The day of the month of the last `weekday` (0 = Sunday) of the month.
fn last_weekday(year: i32, month: u32, weekday: u32) -> u32 {
    let last_day = super::calendar::days_in_month(year, month);
    let last = ymd(year, month, last_day).weekday();
    last_day - (last + 7 - weekday) % 7
}

/// Easter Sunday by the anonymous Gregorian (Meeus/Jones/Butcher) computus.
///
/// Euclidean division keeps every remainder non-negative, so even years before 1 give March 22
/// to April 25 rather than a month that does not exist.
fn easter(year: i32) -> Date {
    let y = i64::from(year);
    let a = y.rem_euclid(19);
    let (b, c) = (y.div_euclid(100), y.rem_euclid(100));
    let (d, e) = (b.div_euclid(4), b.rem_euclid(4));
    let f = (b + 8).div_euclid(25);
    let g = (b - f + 1).div_euclid(3);
    let h = (19 * a + b - d - g + 15).rem_euclid(30);
    let (i, k) = (c / 4, c % 4);
    let l = (32 + 2 * e + 2 * i - h - k).rem_euclid(7);
    let m = (a + 11 * h + 22 * l) / 451;
    let n = h + l - 7 * m + 114;
    // h ≤ 29, l ≤ 6 and m ∈ {0, 1} keep n in 107..=149: month 3 or 4 and a real day.
    ymd(year, (n / 31) as u32, (n % 31 + 1) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn date(year: i32, month: u32, day: u32) -> Date {
        Date::new(year, month, day).unwrap()
    }

    const NAMES: [&str; 10] = [
        "New Year's Day",
        "Martin Luther King Jr. Day",
        "Presidents' Day",
        "Good Friday",
        "Memorial Day",
        "Juneteenth",
        "Independence Day",
        "Labor Day",
        "Thanksgiving Day",
        "Christmas Day",
    ];

    /// Legacy §7.3, copied byte for byte: `(obs)` marks a shifted date, bold dates fall in the
    /// previous year, `—` is a holiday the year does not have.
    const SPEC_TABLE: &str = "\
| 2020 | 01-01 | 01-20 | 02-17 | 04-10 | 05-25 | — | 07-03 (obs) | 09-07 | 11-26 | 12-25 |
| 2021 | 01-01 | 01-18 | 02-15 | 04-02 | 05-31 | 06-18 (obs) | 07-05 (obs) | 09-06 | 11-25 | 12-24 (obs) |
| 2022 | **2021-12-31 (obs)** | 01-17 | 02-21 | 04-15 | 05-30 | 06-20 (obs) | 07-04 | 09-05 | 11-24 | 12-26 (obs) |
| 2023 | 01-02 (obs) | 01-16 | 02-20 | 04-07 | 05-29 | 06-19 | 07-04 | 09-04 | 11-23 | 12-25 |
| 2024 | 01-01 | 01-15 | 02-19 | 03-29 | 05-27 | 06-19 | 07-04 | 09-02 | 11-28 | 12-25 |
| 2025 | 01-01 | 01-20 | 02-17 | 04-18 | 05-26 | 06-19 | 07-04 | 09-01 | 11-27 | 12-25 |
| 2026 | 01-01 | 01-19 | 02-16 | 04-03 | 05-25 | 06-19 | 07-03 (obs) | 09-07 | 11-26 | 12-25 |
| 2027 | 01-01 | 01-18 | 02-15 | 03-26 | 05-31 | 06-18 (obs) | 07-05 (obs) | 09-06 | 11-25 | 12-24 (obs) |
| 2028 | **2027-12-31 (obs)** | 01-17 | 02-21 | 04-14 | 05-29 | 06-19 | 07-04 | 09-04 | 11-23 | 12-25 |
| 2029 | 01-01 | 01-15 | 02-19 | 03-30 | 05-28 | 06-19 | 07-04 | 09-03 | 11-22 | 12-25 |
| 2030 | 01-01 | 01-21 | 02-18 | 04-19 | 05-27 | 06-19 | 07-04 | 09-02 | 11-28 | 12-25 |
";

    /// One row of the §7.3 table, rendered from `holidays_of` in the spec's notation.
    fn table_row(year: i32) -> String {
        let list = holidays_of(year);
        let cells = NAMES.map(|name| match list.iter().find(|h| h.name == name) {
            None => "—".to_string(),
            Some(h) if h.date.year != year => format!("**{} (obs)**", h.date),
            Some(h) => {
                let obs = if h.observed { " (obs)" } else { "" };
                format!("{:02}-{:02}{obs}", h.date.month, h.date.day)
            }
        });
        format!("| {year} | {} |\n", cells.join(" | "))
    }

    #[test]
    fn lists_2020_to_2030_match_the_spec_table() {
        let rendered: String = (2020..=2030).map(table_row).collect();
        assert_eq!(rendered, SPEC_TABLE);
    }

    #[test]
    fn lists_hold_exactly_the_spec_names_in_order() {
        for year in 2021..=2030 {
            let names: Vec<_> = holidays_of(year).iter().map(|h| h.name).collect();
            assert_eq!(names, NAMES, "{year}");
        }
        let names_2020: Vec<_> = holidays_of(2020).iter().map(|h| h.name).collect();
        let without_juneteenth: Vec<_> = NAMES.into_iter().filter(|&n| n != "Juneteenth").collect();
        assert_eq!(names_2020, without_juneteenth, "2020 has nine holidays");
    }

    #[test]
    fn juneteenth_starts_in_2021() {
        let has = |year| holidays_of(year).iter().any(|h| h.name == "Juneteenth");
        assert!(!has(2019) && !has(2020));
        assert!(has(2021) && has(2031));
        assert_eq!(holiday_on(date(2020, 6, 19)), None);
        assert_eq!(
            holiday_on(date(2021, 6, 18)).map(|h| h.name),
            Some("Juneteenth")
        );
    }

    #[test]
    fn the_previous_years_new_years_observance_is_never_found() {
        for (day, next_year) in [
            (date(2021, 12, 31), 2022),
            (date(2027, 12, 31), 2028),
            (date(2032, 12, 31), 2033),
        ] {
            let listed = holidays_of(next_year)[0];
            assert_eq!(
                listed,
                Holiday {
                    name: "New Year's Day",
                    date: day,
                    observed: true
                }
            );
            assert_eq!(
                holiday_on(day),
                None,
                "{day} is looked up in {}'s list",
                day.year
            );
            assert!(is_trading_day(day), "{day} is a Friday the market is open");
        }
        assert_eq!(holiday_on(date(2022, 1, 1)), None, "the Saturday itself");
    }

    #[test]
    fn good_friday_is_two_days_before_computus_easter() {
        let easters = [
            date(1818, 3, 22), // earliest possible
            date(1943, 4, 25), // latest possible
            date(2000, 4, 23),
            date(2008, 3, 23),
            date(2011, 4, 24),
            date(2019, 4, 21),
            date(2024, 3, 31),
            date(2038, 4, 25),
            date(2285, 3, 22),
        ];
        for sunday in easters {
            assert_eq!(easter(sunday.year), sunday);
            assert_eq!(sunday.weekday(), SUNDAY);
            let friday = holidays_of(sunday.year)[3];
            assert_eq!(
                (friday.name, friday.date),
                ("Good Friday", sunday.add_days(-2))
            );
        }
    }

    #[test]
    fn easter_is_a_spring_sunday_in_any_year() {
        for year in (-3000..3000).chain([i32::MIN / 2, i32::MAX / 2]) {
            let e = easter(year);
            assert!(Date::new(e.year, e.month, e.day).is_some(), "{year}");
            assert!((date(year, 3, 22)..=date(year, 4, 25)).contains(&e), "{e}");
            assert_eq!(e.weekday(), SUNDAY, "{e}");
        }
    }

    /// Legacy §9.12.
    #[test]
    fn reference_holidays_are_detected_with_their_names() {
        let cases = [
            (date(2024, 12, 25), "Christmas Day", false),
            (date(2025, 11, 27), "Thanksgiving Day", false),
            (date(2026, 7, 3), "Independence Day", true),
            (date(2023, 1, 2), "New Year's Day", true),
            (date(2024, 3, 29), "Good Friday", false),
            (date(2025, 4, 18), "Good Friday", false),
            (date(2024, 1, 15), "Martin Luther King Jr. Day", false),
            (date(2024, 5, 27), "Memorial Day", false),
            (date(2024, 6, 19), "Juneteenth", false),
            (date(2025, 1, 1), "New Year's Day", false),
        ];
        for (day, name, observed) in cases {
            assert_eq!(
                holiday_on(day),
                Some(Holiday {
                    name,
                    date: day,
                    observed
                }),
                "{day}"
            );
        }
        for day in [
            date(2020, 6, 19),
            date(2024, 3, 5),
            date(2024, 12, 31),
            date(2021, 12, 31),
            date(2027, 12, 31),
        ] {
            assert_eq!(holiday_on(day), None, "{day}");
        }
        assert!(is_trading_day(date(2024, 3, 5)));
        for day in [date(2024, 3, 2), date(2024, 3, 3), date(2024, 12, 25)] {
            assert!(!is_trading_day(day), "{day}");
        }
    }

    /// Legacy §9.12 properties for 2020–2030.
    #[test]
    fn lists_2020_to_2030_are_distinct_weekdays_near_their_year() {
        for year in 2020..=2030 {
            let list = holidays_of(year);
            assert!(list.len() >= if year >= 2021 { 10 } else { 9 }, "{year}");
            let distinct: HashSet<_> = list.iter().map(|h| h.date).collect();
            assert_eq!(distinct.len(), list.len(), "{year} has no duplicate dates");
            for h in &list {
                assert!(
                    (MONDAY..=FRIDAY).contains(&h.date.weekday()),
                    "{} {}",
                    h.name,
                    h.date
                );
                assert!(
                    (year - 1..=year + 1).contains(&h.date.year),
                    "{} {}",
                    h.name,
                    h.date
                );
                if h.date.year == year {
                    assert_eq!(
                        holiday_on(h.date).map(|d| d.name),
                        Some(h.name),
                        "{}",
                        h.date
                    );
                    assert!(!is_trading_day(h.date));
                }
            }
        }
    }
}
