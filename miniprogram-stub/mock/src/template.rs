//! The rules WeChat applies to a subscribe message's template values, by the type its key
//! names (`thing1` is a `thing`, `character_string19` a `character_string`). WeChat answers
//! 47003 `argument invalid! data.<key>.value …` when one is broken. Lengths count characters
//! (Unicode scalar values), not bytes.
//!
//! | type | rule |
//! |---|---|
//! | `thing` | ≤ 20 characters of any kind |
//! | `number` | ≤ 32 digits, a decimal point allowed |
//! | `letter` | ≤ 32 ASCII letters |
//! | `symbol` | ≤ 5 symbols (no letters, digits or Chinese) |
//! | `character_string` | ≤ 32 ASCII digits, letters or symbols |
//! | `time` | a 24-hour time, optionally after a date; a range `a~b` |
//! | `date` | a date, optionally followed by a 24-hour time; a range `a~b` |
//! | `amount` | an optional currency sign, ≤ 10 integer digits, decimals, an optional 元 |
//! | `phone_number` | ≤ 17 digits and symbols |
//! | `car_number` | ≤ 8; first and last may be Chinese, the rest letters or digits |
//! | `name` | ≤ 10 characters with Chinese, or ≤ 20 letters and symbols |
//! | `phrase` | ≤ 5 Chinese characters only |
//! | `enum` | any non-empty value (the mock does not know the template's list) |
//!
//! Every value must be non-empty; a key of no known type is refused.

/// Checks `value` against the rule of `key`'s type: `Err("is empty")` or `Err("invalid")`,
/// the tail of WeChat's errmsg.
pub fn check(key: &str, value: &str) -> Result<(), &'static str> {
    if value.is_empty() {
        return Err("is empty");
    }
    let kind = key.trim_end_matches(|c: char| c.is_ascii_digit());
    let n = value.chars().count();
    let all = |f: fn(char) -> bool| value.chars().all(f);
    let ok = match kind {
        "thing" => n <= 20,
        "number" => n <= 32 && is_decimal(value),
        "letter" => n <= 32 && all(|c| c.is_ascii_alphabetic()),
        "symbol" => n <= 5 && all(is_symbol),
        "character_string" => n <= 32 && all(|c| c.is_ascii_graphic()),
        "time" => ranged(value, |p| date_time(p, false, true)),
        "date" => ranged(value, |p| date_time(p, true, false)),
        "amount" => is_amount(value),
        "phone_number" => n <= 17 && all(|c| c.is_ascii_digit() || is_symbol(c)),
        "car_number" => is_car_number(value),
        "name" => {
            if value.chars().any(is_chinese) {
                n <= 10
            } else {
                n <= 20 && all(|c| c.is_ascii_alphabetic() || is_symbol(c) || c == ' ')
            }
        }
        "phrase" => n <= 5 && all(is_chinese),
        "enum" => true,
        _ => false,
    };
    if ok { Ok(()) } else { Err("invalid") }
}

fn is_chinese(c: char) -> bool {
    matches!(c, '\u{4e00}'..='\u{9fff}' | '\u{3400}'..='\u{4dbf}' | '\u{20000}'..='\u{2a6df}')
}

fn is_symbol(c: char) -> bool {
    !c.is_alphanumeric() && !c.is_whitespace() && !c.is_control()
}

fn is_decimal(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    let mut parts = s.splitn(2, '.');
    let int = parts.next().unwrap_or_default();
    let frac = parts.next();
    !int.is_empty()
        && int.chars().all(|c| c.is_ascii_digit())
        && frac.is_none_or(|f| !f.is_empty() && f.chars().all(|c| c.is_ascii_digit()))
}

fn is_amount(s: &str) -> bool {
    let s = s.strip_prefix(['¥', '￥', '$', '€', '£']).unwrap_or(s);
    let s = s.strip_suffix('元').unwrap_or(s);
    let int = s.split('.').next().unwrap_or_default();
    !s.starts_with('-') && is_decimal(s) && int.len() <= 10
}

fn is_car_number(s: &str) -> bool {
    let chars: Vec<char> = s.chars().collect();
    let last = chars.len().saturating_sub(1);
    !chars.is_empty()
        && chars.len() <= 8
        && chars
            .iter()
            .enumerate()
            .all(|(i, &c)| c.is_ascii_alphanumeric() || ((i == 0 || i == last) && is_chinese(c)))
}

/// `part` or `part~part`.
fn ranged(value: &str, one: impl Fn(&str) -> bool) -> bool {
    match value.split_once('~') {
        Some((a, b)) => one(a.trim()) && one(b.trim()),
        None => one(value.trim()),
    }
}

/// A date (`2019年10月1日`, `2019-10-01`, `2019/10/01`, `2019.10.01`) and a 24-hour time
/// (`15:01`, `15:01:30`), separated by a space; `need_date` / `need_time` say which must be
/// there.
fn date_time(s: &str, need_date: bool, need_time: bool) -> bool {
    let (date, time) = match s.split_once(' ') {
        Some((d, t)) => (Some(d), Some(t.trim())),
        None if s.contains(':') => (None, Some(s)),
        None => (Some(s), None),
    };
    if (need_date && date.is_none()) || (need_time && time.is_none()) {
        return false;
    }
    date.is_none_or(is_date) && time.is_none_or(is_time)
}

fn is_date(s: &str) -> bool {
    let numbers: Vec<&str> = if let Some(rest) = s.strip_suffix('日') {
        rest.split(['年', '月']).collect()
    } else {
        s.split(['-', '/', '.']).collect()
    };
    let [y, m, d] = numbers.as_slice() else {
        return false;
    };
    let num = |t: &str, max_len: usize| {
        !t.is_empty() && t.len() <= max_len && t.chars().all(|c| c.is_ascii_digit())
    };
    num(y, 4)
        && y.len() == 4
        && num(m, 2)
        && num(d, 2)
        && (1..=12).contains(&m.parse::<u32>().unwrap_or(0))
        && (1..=31).contains(&d.parse::<u32>().unwrap_or(0))
}

fn is_time(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    if !(2..=3).contains(&parts.len()) {
        return false;
    }
    parts.iter().enumerate().all(|(i, p)| {
        let max = if i == 0 { 23 } else { 59 };
        !p.is_empty()
            && p.len() <= 2
            && p.chars().all(|c| c.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|v| v <= max)
    })
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn values_are_checked_by_their_type() {
        let good = [
            ("thing1", "申请加入甲公司工会"),
            ("thing1", &"工".repeat(20)),
            ("phrase2", "已通过"),
            ("phrase2", "审核未通过"),
            ("number3", "12.5"),
            ("letter4", "abc"),
            ("symbol5", "%"),
            ("character_string6", "HG-2026-0001"),
            ("time7", "15:01"),
            ("time7", "2019年10月1日 15:01"),
            ("time7", "15:01~16:00"),
            ("date8", "2019年10月1日"),
            ("date8", "2019-10-01 15:01"),
            ("amount9", "¥12.50"),
            ("amount9", "100元"),
            ("phone_number10", "+86-0766-66888866"),
            ("car_number11", "粤A8Z888挂"),
            ("name12", "张三"),
            ("name12", "Zhang San"),
            ("enum13", "x"),
        ];
        for (key, value) in good {
            assert_eq!(check(key, value), Ok(()), "{key}={value}");
        }
        let bad = [
            ("thing1", ""),
            ("thing1", &"工".repeat(21)),
            ("phrase2", "通过了的审核结果"),
            ("phrase2", "ok"),
            ("number3", "1a"),
            ("letter4", "ab1"),
            ("character_string6", "北京"),
            ("character_string6", &"x".repeat(33)),
            ("time7", "2019年10月1日"),
            ("time7", "25:00"),
            ("date8", "15:01"),
            ("date8", "2019-13-01"),
            ("amount9", "¥12345678901"),
            ("phone_number10", "138abc"),
            ("car_number11", "粤A8Z8888挂"),
            ("name12", "张三李四王五赵六钱七孙"),
            ("unknown14", "x"),
        ];
        for (key, value) in bad {
            assert!(check(key, value).is_err(), "{key}={value}");
        }
        assert_eq!(check("thing1", ""), Err("is empty"));
    }
}
