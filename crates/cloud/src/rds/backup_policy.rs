//! When the instance's next automatic backup runs, from its DescribeBackupPolicy window
//! (`18:00Z-19:00Z`) and days (`Monday,Wednesday,Friday`). After a migration that matters: the
//! first backup of a multi-TB database on RDS takes hours, and it is the first restore point.
//!
//! Pure; the times are UTC as the API gives them.

use time::{Duration, OffsetDateTime, Weekday};

/// The start of the next backup window after `now`, or `None` when the policy names no day or
/// no readable window (e.g. `PreferredBackupPeriod` of `None`).
pub fn next_backup(window: &str, days: &str, now: OffsetDateTime) -> Option<OffsetDateTime> {
    let (hour, minute) = window_start(window)?;
    let days: Vec<Weekday> = days.split(',').filter_map(weekday).collect();
    (0..=7).find_map(|ahead| {
        let date = now.date().checked_add(Duration::days(ahead))?;
        let start = date.with_hms(hour, minute, 0).ok()?.assume_utc();
        (days.contains(&date.weekday()) && start > now).then_some(start)
    })
}

/// `yyyy-MM-ddTHH:mmZ`, the API's own form for a backup time.
pub fn minutes_text(at: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute()
    )
}

/// `18:00Z-19:00Z` → (18, 0).
fn window_start(window: &str) -> Option<(u8, u8)> {
    let start = window.split('-').next()?.trim().trim_end_matches('Z');
    let (hour, minute) = start.split_once(':')?;
    let hour: u8 = hour.parse().ok().filter(|h| *h < 24)?;
    let minute: u8 = minute.parse().ok().filter(|m| *m < 60)?;
    Some((hour, minute))
}

fn weekday(name: &str) -> Option<Weekday> {
    Some(match name.trim().to_ascii_lowercase().as_str() {
        "monday" => Weekday::Monday,
        "tuesday" => Weekday::Tuesday,
        "wednesday" => Weekday::Wednesday,
        "thursday" => Weekday::Thursday,
        "friday" => Weekday::Friday,
        "saturday" => Weekday::Saturday,
        "sunday" => Weekday::Sunday,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_next_window_on_a_listed_day() {
        // Friday 2026-12-04 16:00 UTC.
        let now = datetime!(2026-12-04 16:00 UTC);
        let days = "Monday,Wednesday,Friday";
        assert_eq!(
            next_backup("18:00Z-19:00Z", days, now),
            Some(datetime!(2026-12-04 18:00 UTC)),
            "later today"
        );
        assert_eq!(
            next_backup("14:30Z-15:30Z", days, now),
            Some(datetime!(2026-12-07 14:30 UTC)),
            "today's window passed: Monday"
        );
        assert_eq!(next_backup("14:30Z-15:30Z", "None", now), None);
        assert_eq!(next_backup("soon", days, now), None);
        assert_eq!(
            minutes_text(datetime!(2026-12-07 14:30 UTC)),
            "2026-12-07T14:30Z"
        );
    }
}
