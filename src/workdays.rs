//! Working days, for the seeds' promise (三个工作日内): a review or a ticket older than three
//! working days is overdue. Weekends are days off; a holiday file names the public holidays
//! and the weekend days worked instead (调休), one date a line:
//!
//! ```text
//! # comment
//! 2026-10-01            a holiday
//! 2026-10-10 workday    a Saturday that is worked
//! ```
//!
//! Days are counted in Beijing time.

use std::collections::BTreeMap;

/// The service's promise, in working days.
pub const PROMISE: i64 = 3;

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn parse_date(text: &str) -> Option<i64> {
    let mut parts = text.splitn(3, '-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: i64 = parts.next()?.parse().ok()?;
    let day: i64 = parts.next()?.parse().ok()?;
    let valid = (1..=12).contains(&month) && (1..=31).contains(&day);
    valid.then(|| days_from_civil(year, month, day))
}

/// The Beijing day (days since the epoch) of a time in milliseconds.
pub fn beijing_day(millis: i64) -> i64 {
    (millis + 8 * 3_600_000).div_euclid(86_400_000)
}

/// The calendar: which days are worked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Calendar {
    /// Day → worked (a make-up working day) or not (a holiday).
    exceptions: BTreeMap<i64, bool>,
}

impl Calendar {
    /// Parses a holiday file; an error names the line.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut exceptions = BTreeMap::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut words = line.split_whitespace();
            let date = words.next().unwrap_or("");
            let day = parse_date(date).ok_or_else(|| {
                format!("line {}: {date:?} is not a date (YYYY-MM-DD)", number + 1)
            })?;
            let worked = match words.next() {
                None | Some("holiday") => false,
                Some("workday") => true,
                Some(other) => {
                    return Err(format!(
                        "line {}: {other:?} is neither \"holiday\" nor \"workday\"",
                        number + 1
                    ))
                }
            };
            exceptions.insert(day, worked);
        }
        Ok(Self { exceptions })
    }

    pub fn is_working_day(&self, day: i64) -> bool {
        if let Some(worked) = self.exceptions.get(&day) {
            return *worked;
        }
        // 1970-01-01 was a Thursday: day 2 a Saturday, day 3 a Sunday.
        !matches!(day.rem_euclid(7), 2 | 3)
    }

    /// Working days after the day of `since` up to and including the day of `now`.
    pub fn working_days_between(&self, since_millis: i64, now_millis: i64) -> i64 {
        let (from, to) = (beijing_day(since_millis), beijing_day(now_millis));
        ((from + 1)..=to)
            .filter(|day| self.is_working_day(*day))
            .count() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(date: &str) -> i64 {
        // Noon in Beijing.
        parse_date(date).unwrap() * 86_400_000 + 4 * 3_600_000
    }

    #[test]
    fn weekends_holidays_and_make_up_days() {
        let calendar = Calendar::parse(
            "# National Day 2026\n2026-10-01\n2026-10-02 holiday\n2026-10-10 workday\n",
        )
        .unwrap();
        // Monday 2026-09-28 → Monday 2026-10-05: Tue, Wed are worked; Thu, Fri holidays.
        assert_eq!(
            calendar.working_days_between(millis("2026-09-28"), millis("2026-10-05")),
            3
        );
        assert!(calendar.is_working_day(parse_date("2026-10-10").unwrap()));
        assert!(!calendar.is_working_day(parse_date("2026-10-11").unwrap()));
        assert_eq!(
            Calendar::default().working_days_between(millis("2026-12-04"), millis("2026-12-07")),
            1,
            "Friday to Monday is one working day"
        );
    }

    #[test]
    fn a_bad_line_is_named() {
        let error = Calendar::parse("2026-10-01\n2026-13-01\n").unwrap_err();
        assert!(error.contains("line 2"), "{error}");
        assert!(Calendar::parse("2026-10-01 maybe").is_err());
    }
}
