//! Calendar arithmetic without a time-zone database: civil dates from days since the epoch
//! (Howard Hinnant's algorithm) and the Netherlands' local time (CET/CEST, EU DST rules).

/// (year, month 1-12, day 1-31) of a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Days since 1970-01-01 of a civil date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 of a civil date that exists (`None` for 2020-02-30, month 13, day 0).
pub fn checked_days_from_civil(y: i64, m: u32, d: u32) -> Option<i64> {
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || !(-1_000_000..=1_000_000).contains(&y) {
        return None;
    }
    let days = days_from_civil(y, m, d);
    (civil_from_days(days) == (y, m, d)).then_some(days)
}

/// Day of the year, 1-366.
pub fn day_of_year(days: i64) -> u32 {
    let (y, _, _) = civil_from_days(days);
    (days - days_from_civil(y, 1, 1) + 1) as u32
}

fn last_sunday(y: i64, m: u32) -> i64 {
    let last = days_from_civil(y, m + 1, 1) - 1;
    let weekday = (last + 4).rem_euclid(7); // 0 = Sunday (1970-01-01 was a Thursday)
    last - weekday
}

/// UTC offset in seconds of Europe/Amsterdam at a UTC instant: +2 h from the last Sunday of
/// March 01:00 UTC to the last Sunday of October 01:00 UTC, +1 h otherwise.
pub fn amsterdam_offset(utc_secs: i64) -> i64 {
    let (y, _, _) = civil_from_days(utc_secs.div_euclid(86_400));
    let start = last_sunday(y, 3) * 86_400 + 3_600;
    let end = last_sunday(y, 10) * 86_400 + 3_600;
    if (start..end).contains(&utc_secs) {
        7_200
    } else {
        3_600
    }
}

/// Converts an Amsterdam local date-time (seconds since the epoch as if it were UTC) to UTC.
/// In the repeated autumn hour, the first (summer-time) occurrence is chosen.
pub fn amsterdam_local_to_utc(local_secs: i64) -> i64 {
    let summer = local_secs - 7_200;
    if amsterdam_offset(summer) == 7_200 {
        summer
    } else {
        local_secs - 3_600
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_round_trip() {
        for days in [-1000, 0, 18_444, 18_628, 20_000, 60_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(18_444), (2020, 7, 1));
        assert_eq!(day_of_year(days_from_civil(2020, 12, 31)), 366);
    }

    #[test]
    fn only_dates_that_exist_are_checked_in() {
        assert_eq!(checked_days_from_civil(2020, 7, 1), Some(18_444));
        assert_eq!(checked_days_from_civil(2020, 2, 29), Some(18_321));
        assert_eq!(checked_days_from_civil(2000, 2, 29), Some(11_016));
        for (y, m, d) in [
            (2020, 2, 30),
            (2020, 2, 31),
            (2021, 2, 29),
            (1900, 2, 29),
            (2020, 4, 31),
            (2020, 13, 1),
            (2020, 0, 10),
            (2020, 1, 0),
            (2020, 1, 32),
            (i64::MAX, 1, 1),
        ] {
            assert_eq!(checked_days_from_civil(y, m, d), None, "{y}-{m}-{d}");
        }
    }

    #[test]
    fn dutch_summer_time_2020() {
        // DST 2020: 29 March 01:00 UTC to 25 October 01:00 UTC.
        let at = |y: i64, m: u32, d: u32, h: i64| days_from_civil(y, m, d) * 86_400 + h * 3_600;
        assert_eq!(amsterdam_offset(at(2020, 3, 29, 0)), 3_600);
        assert_eq!(amsterdam_offset(at(2020, 3, 29, 1)), 7_200);
        assert_eq!(amsterdam_offset(at(2020, 10, 25, 0)), 7_200);
        assert_eq!(amsterdam_offset(at(2020, 10, 25, 1)), 3_600);
        // 2020-07-06 11:30 local is 09:30 UTC.
        assert_eq!(
            amsterdam_local_to_utc(at(2020, 7, 6, 11) + 1_800),
            at(2020, 7, 6, 9) + 1_800
        );
    }
}
