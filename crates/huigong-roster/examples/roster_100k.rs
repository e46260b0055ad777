//! Writes and reads back a generated roster of 100,000 members, to measure the crate.
//!
//! ```sh
//! cargo run --release -p huigong-roster --example roster_100k -- write /tmp/roster.xlsx
//! /usr/bin/time -v target/release/examples/roster_100k parse /tmp/roster.xlsx
//! ```
//!
//! `write` times [`write_roster`]; `parse` times [`parse_roster`] alone, so that the peak RSS
//! reported by `/usr/bin/time -v` is the parser's. An optional third argument sets the row
//! count.

use std::error::Error;
use std::time::Instant;

use chrono::{Days, NaiveDate};
use huigong_roster::{Limits, RosterExportRow, RosterHeader, parse_roster, write_roster};

const SURNAMES: [&str; 10] = ["王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴"];
const GIVEN: [&str; 10] = ["伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军"];

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(mode), Some(path)) = (args.get(1), args.get(2)) else {
        return Err("usage: roster_100k write|parse PATH [ROWS]".into());
    };
    let count: usize = args.get(3).map_or(Ok(100_000), |n| n.parse())?;
    match mode.as_str() {
        "write" => write(path, count),
        "parse" => parse(path),
        _ => Err("mode must be write or parse".into()),
    }
}

fn write(path: &str, count: usize) -> Result<(), Box<dyn Error>> {
    let rows = (0..count).map(member).collect::<Result<Vec<_>, _>>()?;
    let header = RosterHeader {
        union_name: Some("长兴县某某集团工会".to_owned()),
        contact: Some("吴可青".to_owned()),
        phone: Some("0572-6022447".to_owned()),
    };
    let started = Instant::now();
    let bytes = write_roster(&header, &rows)?;
    let elapsed = started.elapsed();
    std::fs::write(path, &bytes)?;
    println!(
        "write_roster: {count} rows in {:.3} s, {} bytes",
        elapsed.as_secs_f64(),
        bytes.len()
    );
    Ok(())
}

fn parse(path: &str) -> Result<(), Box<dyn Error>> {
    let bytes = std::fs::read(path)?;
    let today = NaiveDate::from_ymd_opt(2025, 6, 30).ok_or("date")?;
    let started = Instant::now();
    let parsed = parse_roster(&bytes, today, &Limits::default())?;
    let elapsed = started.elapsed();
    println!(
        "parse_roster: {} rows ({} valid, {} errors) in {:.3} s",
        parsed.total_rows,
        parsed.rows.len(),
        parsed.errors.len(),
        elapsed.as_secs_f64()
    );
    Ok(())
}

/// The `index`-th generated member: unique, valid identity number and mobile.
fn member(index: usize) -> Result<RosterExportRow, Box<dyn Error>> {
    let days = Days::new(u64::try_from(index / 1000)?);
    let born = NaiveDate::from_ymd_opt(1960, 1, 1)
        .and_then(|start| start.checked_add_days(days))
        .ok_or("birth date")?;
    let sequence = index % 1000;
    let body = format!("330522{}{sequence:03}", born.format("%Y%m%d"));
    let id_number = format!("{body}{}", check_character(&body));
    let sex = if sequence % 2 == 1 { "男" } else { "女" };
    Ok(RosterExportRow {
        name: format!("{}{}", SURNAMES[index % 10], GIVEN[index / 10 % 10]),
        sex: sex.to_owned(),
        id_number,
        nationality: "中国".to_owned(),
        education: "本科".to_owned(),
        mobile: format!("138{index:08}"),
        household_type: "非农业户口".to_owned(),
        unit_name: format!("长兴县某某集团第{}分公司", index % 20 + 1),
        employment_status: "在岗".to_owned(),
        union_post: "会员".to_owned(),
    })
}

/// GB 11643 check character of 17 digits.
fn check_character(body: &str) -> char {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .chars()
        .zip(WEIGHTS)
        .map(|(c, w)| c.to_digit(10).unwrap_or(0) * w)
        .sum();
    char::from(b"10X98765432"[(sum % 11) as usize])
}
