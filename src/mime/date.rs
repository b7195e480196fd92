//! The RFC 5322 §3.3 date, from a UNIX time and a UTC offset, without a date library.

use super::error::Invalid;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// A point in time with the UTC offset to show it in, e.g. `Tue, 1 Jul 2025 10:52:37 +0800`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Date {
    unix: i64,
    offset_minutes: i16,
}

const SECONDS_PER_DAY: i64 = 86_400;

impl Date {
    /// Now, in UTC: `std` cannot read the local offset, so pass one through
    /// [`Date::from_system_time`] to show local time.
    pub fn now() -> Self {
        Self::from_system_time(SystemTime::now(), 0).unwrap_or(Self {
            unix: 0,
            offset_minutes: 0,
        })
    }

    /// `seconds` since the UNIX epoch, shown at `offset_minutes` east of UTC (480 for
    /// China Standard Time). The local year must be within 1900–9999 (RFC 5322 `year`), the
    /// offset within a day.
    pub fn from_unix(seconds: i64, offset_minutes: i32) -> Result<Self, Invalid> {
        let offset_minutes = i16::try_from(offset_minutes)
            .ok()
            .filter(|m| m.abs() < 24 * 60)
            .ok_or(Invalid::Syntax("the utc offset is more than a day"))?;
        let date = Self {
            unix: seconds,
            offset_minutes,
        };
        let (year, _, _) = civil_from_days(date.local().div_euclid(SECONDS_PER_DAY));
        if !(1900..=9999).contains(&year) {
            return Err(Invalid::Syntax("the year is outside 1900-9999"));
        }
        Ok(date)
    }

    /// A [`SystemTime`], shown at `offset_minutes` east of UTC.
    pub fn from_system_time(time: SystemTime, offset_minutes: i32) -> Result<Self, Invalid> {
        let seconds = match time.duration_since(UNIX_EPOCH) {
            Ok(after) => i64::try_from(after.as_secs()),
            Err(before) => i64::try_from(before.duration().as_secs()).map(|s| -s),
        }
        .map_err(|_| Invalid::Syntax("the time is out of range"))?;
        Self::from_unix(seconds, offset_minutes)
    }

    /// Seconds since the UNIX epoch.
    pub fn unix_time(&self) -> i64 {
        self.unix
    }

    /// The UTC offset in minutes.
    pub fn offset_minutes(&self) -> i32 {
        i32::from(self.offset_minutes)
    }

    /// The plain form for people where no header asks for RFC 5322's: `2025-07-01 10:52:37
    /// +0800`, or `… UTC` at offset 0 — e.g. a certificate's expiry.
    pub fn to_plain_string(&self) -> String {
        let local = self.local();
        let (year, month, day) = civil_from_days(local.div_euclid(SECONDS_PER_DAY));
        let secs = local.rem_euclid(SECONDS_PER_DAY);
        let time = format!(
            "{:02}:{:02}:{:02}",
            secs / 3600,
            secs % 3600 / 60,
            secs % 60
        );
        let zone = match self.offset_minutes {
            0 => "UTC".to_owned(),
            minutes => format!(
                "{}{:02}{:02}",
                if minutes < 0 { '-' } else { '+' },
                minutes.unsigned_abs() / 60,
                minutes.unsigned_abs() % 60
            ),
        };
        format!("{year:04}-{month:02}-{day:02} {time} {zone}")
    }

    fn local(&self) -> i64 {
        self.unix
            .saturating_add(i64::from(self.offset_minutes) * 60)
    }
}

/// Howard Hinnant's `civil_from_days`: the proleptic Gregorian (year, month, day) of a day
/// number counted from 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let local = self.local();
        let days = local.div_euclid(SECONDS_PER_DAY);
        let secs = local.rem_euclid(SECONDS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        let weekday = DAYS
            .get(days.rem_euclid(7) as usize)
            .copied()
            .unwrap_or("Thu");
        let month = MONTHS.get(month as usize - 1).copied().unwrap_or("Jan");
        let sign = if self.offset_minutes < 0 { '-' } else { '+' };
        let offset = self.offset_minutes.unsigned_abs();
        write!(
            f,
            "{weekday}, {day} {month} {year} {:02}:{:02}:{:02} {sign}{:02}{:02}",
            secs / 3600,
            secs % 3600 / 60,
            secs % 60,
            offset / 60,
            offset % 60
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn formats_rfc_5322_dates() {
        let cases = [
            (0, 0, "Thu, 1 Jan 1970 00:00:00 +0000"),
            (951_782_400, 0, "Tue, 29 Feb 2000 00:00:00 +0000"),
            (1_700_000_000, 480, "Wed, 15 Nov 2023 06:13:20 +0800"),
            (1_700_000_000, -330, "Tue, 14 Nov 2023 16:43:20 -0530"),
            (-2_208_988_800, 0, "Mon, 1 Jan 1900 00:00:00 +0000"),
            (253_402_300_799, 0, "Fri, 31 Dec 9999 23:59:59 +0000"),
        ];
        for (unix, offset, expected) in cases {
            assert_eq!(Date::from_unix(unix, offset).unwrap().to_string(), expected);
        }
        assert!(Date::from_unix(-2_208_988_801, 0).is_err());
    }

    #[test]
    fn plain_strings_for_people() {
        let plain = |unix, offset| Date::from_unix(unix, offset).unwrap().to_plain_string();
        assert_eq!(plain(0, 0), "1970-01-01 00:00:00 UTC");
        assert_eq!(plain(1_700_000_000, 480), "2023-11-15 06:13:20 +0800");
        assert_eq!(plain(1_700_000_000, -330), "2023-11-14 16:43:20 -0530");
        assert_eq!(plain(253_402_300_799, 0), "9999-12-31 23:59:59 UTC");
        assert!(Date::from_unix(0, 24 * 60).is_err());
    }
}
