//! Reporting periods in Beijing time (UTC+8): the month of a 进度通报 (`2026-12`) and the
//! half-year of the data update (`2026H2`: updated in July, 1 July – 31 December).

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, TimeZone, Utc};
use std::fmt;

fn beijing() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap_or(chrono::Offset::fix(&Utc))
}

/// Midnight of `date` in Beijing, as an instant.
fn beijing_midnight(date: NaiveDate) -> DateTime<Utc> {
    beijing()
        .from_local_datetime(&date.and_time(chrono::NaiveTime::MIN))
        .single()
        .map_or_else(
            || date.and_time(chrono::NaiveTime::MIN).and_utc(),
            |t| t.with_timezone(&Utc),
        )
}

/// A calendar month, `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    pub year: i32,
    /// 1–12.
    pub month: u32,
}

impl Month {
    /// Parses `YYYY-MM` (years 2000–2999).
    pub fn parse(text: &str) -> Option<Self> {
        let (y, m) = text.trim().split_once('-')?;
        if y.len() != 4 || m.len() != 2 {
            return None;
        }
        let year: i32 = y.parse().ok()?;
        let month: u32 = m.parse().ok()?;
        ((2000..=2999).contains(&year) && (1..=12).contains(&month)).then_some(Self { year, month })
    }

    /// The Beijing month `now` falls in.
    pub fn of(now: DateTime<Utc>) -> Self {
        let local = now.with_timezone(&beijing()).date_naive();
        Self {
            year: local.year(),
            month: local.month(),
        }
    }

    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or_default()
    }

    /// 00:00 on the 1st, Beijing time.
    pub fn start(self) -> DateTime<Utc> {
        beijing_midnight(self.first_day())
    }

    /// The start of the next month (exclusive end of this one).
    pub fn end(self) -> DateTime<Utc> {
        self.next().start()
    }

    pub fn next(self) -> Self {
        if self.month == 12 {
            Self {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Self {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    pub fn prev(self) -> Self {
        if self.month == 1 {
            Self {
                year: self.year - 1,
                month: 12,
            }
        } else {
            Self {
                year: self.year,
                month: self.month - 1,
            }
        }
    }

    /// `2026年12月`.
    pub fn label_zh(self) -> String {
        format!("{}年{}月", self.year, self.month)
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// A half-year of the data update (每年1月、7月): `2026H1` from 1 January, `2026H2` from 1 July.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HalfYear {
    pub year: i32,
    /// 1 or 2.
    pub half: u8,
}

impl HalfYear {
    /// Parses `2026H2` (also lower case `h`).
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let (y, h) = text.split_once(['H', 'h'])?;
        if y.len() != 4 {
            return None;
        }
        let year: i32 = y.parse().ok()?;
        let half: u8 = match h {
            "1" => 1,
            "2" => 2,
            _ => return None,
        };
        (2000..=2999).contains(&year).then_some(Self { year, half })
    }

    /// The half-year `now` falls in (Beijing time).
    pub fn of(now: DateTime<Utc>) -> Self {
        let m = Month::of(now);
        Self {
            year: m.year,
            half: if m.month >= 7 { 2 } else { 1 },
        }
    }

    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, if self.half == 1 { 1 } else { 7 }, 1)
            .unwrap_or_default()
    }

    pub fn start(self) -> DateTime<Utc> {
        beijing_midnight(self.first_day())
    }

    pub fn end(self) -> DateTime<Utc> {
        self.next().start()
    }

    /// The update month (January or July) ends here: unconfirmed after it is overdue.
    pub fn due(self) -> DateTime<Utc> {
        Month {
            year: self.year,
            month: if self.half == 1 { 1 } else { 7 },
        }
        .end()
    }

    pub fn next(self) -> Self {
        if self.half == 1 {
            Self {
                year: self.year,
                half: 2,
            }
        } else {
            Self {
                year: self.year + 1,
                half: 1,
            }
        }
    }

    pub fn prev(self) -> Self {
        if self.half == 2 {
            Self {
                year: self.year,
                half: 1,
            }
        } else {
            Self {
                year: self.year - 1,
                half: 2,
            }
        }
    }
}

impl fmt::Display for HalfYear {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}H{}", self.year, self.half)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_turn_at_beijing_midnight() {
        // 2026-11-30 16:00 UTC is 2026-12-01 00:00 in Beijing.
        let before = Utc
            .with_ymd_and_hms(2026, 11, 30, 15, 59, 59)
            .single()
            .unwrap_or_default();
        let after = Utc
            .with_ymd_and_hms(2026, 11, 30, 16, 0, 0)
            .single()
            .unwrap_or_default();
        assert_eq!(Month::of(before).to_string(), "2026-11");
        assert_eq!(Month::of(after).to_string(), "2026-12");
        assert_eq!(Month::parse("2026-12").map(Month::start), Some(after));
        assert_eq!(
            Month::parse("2026-12")
                .map(|m| m.prev().to_string())
                .as_deref(),
            Some("2026-11")
        );
        assert_eq!(Month::parse("2026-13"), None);
        assert_eq!(Month::parse("26-1"), None);
    }

    #[test]
    fn half_years_start_in_january_and_july() {
        let h = HalfYear::parse("2026H2").unwrap_or(HalfYear { year: 0, half: 1 });
        assert_eq!(
            h.first_day(),
            NaiveDate::from_ymd_opt(2026, 7, 1).unwrap_or_default()
        );
        assert_eq!(h.next().to_string(), "2027H1");
        assert_eq!(h.prev().to_string(), "2026H1");
        assert_eq!(HalfYear::parse("2026H3"), None);
        let july = Utc
            .with_ymd_and_hms(2026, 6, 30, 16, 0, 0)
            .single()
            .unwrap_or_default();
        assert_eq!(HalfYear::of(july), h);
    }
}
