//! Masking of personal data for lists, logs and exports.
//!
//! Every function here works on raw text and never fails: text that is too short to mask
//! sensibly is replaced entirely by `*`, one per character. The typed values
//! ([`IdNumber::masked`](crate::id_number::IdNumber::masked),
//! [`Mobile::masked`](crate::phone::Mobile::masked)) use the same rules.

use crate::id_number::{self, IdNumber};
use crate::phone::Mobile;

/// Two-character compound surnames (复姓) that [`mask_name`] keeps whole.
pub const COMPOUND_SURNAMES: [&str; 81] = [
    "欧阳", "太史", "端木", "上官", "司马", "东方", "独孤", "南宫", "万俟", "闻人", "夏侯", "诸葛",
    "尉迟", "公羊", "赫连", "澹台", "皇甫", "宗政", "濮阳", "公冶", "太叔", "申屠", "公孙", "慕容",
    "仲孙", "钟离", "长孙", "宇文", "司徒", "鲜于", "司空", "闾丘", "子车", "亓官", "司寇", "巫马",
    "公西", "颛孙", "壤驷", "公良", "漆雕", "乐正", "宰父", "谷梁", "拓跋", "夹谷", "轩辕", "令狐",
    "段干", "百里", "呼延", "东郭", "南门", "羊舌", "微生", "公户", "公玉", "公仪", "梁丘", "公仲",
    "公上", "公门", "公山", "公坚", "左丘", "公伯", "西门", "公祖", "第五", "公乘", "贯丘", "公皙",
    "南荣", "东里", "东宫", "仲长", "子书", "子桑", "即墨", "达奚", "褚师",
];

/// Separators between the parts of a transliterated name (`阿卜杜拉·买买提`), kept visible
/// by [`mask_name`]. Besides the middle dot `·` (U+00B7) this accepts the look-alikes that
/// input methods produce: `•` (U+2022), `‧` (U+2027), `・` (U+30FB) and `．` (U+FF0E).
const NAME_SEPARATORS: [char; 5] = ['·', '•', '‧', '・', '．'];

/// Markers of a county-level division, used by [`mask_address`].
const COUNTY_MARKERS: [char; 3] = ['县', '区', '旗'];

/// How many leading characters [`mask_address`] searches for a county marker.
const ADDRESS_MARKER_WINDOW: usize = 20;

/// How many leading characters [`mask_address`] keeps when it finds no county marker.
const ADDRESS_FALLBACK_KEPT: usize = 6;

/// Masks a person's name, keeping only the surname.
///
/// Surrounding whitespace is trimmed first; an empty name stays empty.
/// - A single character becomes `*`.
/// - A name containing `·` (or a look-alike, see `NAME_SEPARATORS`) keeps its first
///   character and the separators; every other character becomes `*`:
///   `阿卜杜拉·买买提` → `阿***·***`.
/// - A name of three or more characters starting with a compound surname from
///   [`COMPOUND_SURNAMES`] keeps those two characters: `欧阳娜娜` → `欧阳**`. A two-character
///   name that *is* a compound surname keeps only its first character (`欧阳` → `欧*`), so
///   at least one `*` is always shown.
/// - Otherwise the first character is kept and every other becomes `*`: `张三` → `张*`,
///   `王小明` → `王**`.
///
/// A name like `东方明` may really be surname `东` and given name `方明`; it is still masked as
/// `东方*`, which reveals one character more than necessary but nothing beyond the name.
pub fn mask_name(name: &str) -> String {
    let name = name.trim();
    let chars: Vec<char> = name.chars().collect();
    if chars.len() <= 1 {
        return "*".repeat(chars.len());
    }
    if chars.iter().any(|c| NAME_SEPARATORS.contains(c)) {
        return chars
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                if i == 0 || NAME_SEPARATORS.contains(&c) {
                    c
                } else {
                    '*'
                }
            })
            .collect();
    }
    let has_compound_surname = COMPOUND_SURNAMES
        .iter()
        .any(|surname| name.starts_with(surname));
    let kept = if chars.len() > 2 && has_compound_surname {
        2
    } else {
        1
    };
    keep_ends(&chars, kept, 0)
}

/// Masks an identity number given as raw text, with the rule of
/// [`IdNumber::masked`](crate::id_number::IdNumber::masked).
///
/// The text is normalised like [`IdNumber::parse`](crate::id_number::IdNumber::parse) does
/// (trimmed, full-width digits and `x` folded) but not validated. With 15 or more characters
/// the first 6 and the last 4 are kept and the rest become `*` (an 18-character number gives
/// `110105********002X`, a legacy 15-digit one `110105*****1002`); shorter text becomes all
/// `*`, one per character.
pub fn mask_id_number(raw: &str) -> String {
    const MIN_LENGTH: usize = 15;
    let chars: Vec<char> = id_number::normalise(raw).chars().collect();
    if chars.len() < MIN_LENGTH {
        return "*".repeat(chars.len());
    }
    keep_ends(&chars, 6, 4)
}

/// Masks a mobile number given as raw text, with the rule of
/// [`Mobile::masked`](crate::phone::Mobile::masked).
///
/// If the text is a valid mobile number (in any form [`Mobile::parse`] accepts, e.g.
/// `+86 138-1234-5678`) the result is its masked normalised form, `138****5678`. Otherwise
/// the trimmed text keeps its first 3 and last 4 characters when it has at least 11, and is
/// entirely `*` (one per character) when shorter.
pub fn mask_mobile(raw: &str) -> String {
    if let Ok(mobile) = Mobile::parse(raw) {
        return mobile.masked();
    }
    let chars: Vec<char> = raw.trim().chars().collect();
    if chars.len() < crate::phone::MOBILE_LENGTH {
        return "*".repeat(chars.len());
    }
    keep_ends(&chars, 3, 4)
}

/// Masks an address down to its county-level division, followed by `****`.
///
/// The rule is deliberately simple: within the first 20 characters of the trimmed address,
/// find the **last** `县`, `区` or `旗` and keep everything up to and including it:
/// `浙江省湖州市长兴县雉城街道金陵路88号` → `浙江省湖州市长兴县****`. Taking the last one skips
/// the `区` of a province-level `自治区` (`内蒙古自治区呼和浩特市新城区…` → `…新城区****`).
///
/// Without such a marker (e.g. a county-level city, `浙江省嘉兴市海宁市…`) the first 6
/// characters are kept, but never more than half of the address, so a short address is not
/// shown whole. An empty address stays empty.
///
/// Known limitation: a `区` of a neighbourhood name within the first 20 characters (`小区`,
/// `社区`, `园区`) also counts, so `长兴县阳光小区3幢` keeps `长兴县阳光小区`.
pub fn mask_address(address: &str) -> String {
    let chars: Vec<char> = address.trim().chars().collect();
    if chars.is_empty() {
        return String::new();
    }
    let kept = chars
        .iter()
        .take(ADDRESS_MARKER_WINDOW)
        .rposition(|c| COUNTY_MARKERS.contains(c))
        .map(|index| index + 1)
        .unwrap_or_else(|| ADDRESS_FALLBACK_KEPT.min(chars.len() / 2));
    let mut masked: String = chars.iter().take(kept).collect();
    masked.push_str("****");
    masked
}

/// A person's identity as a view or an export shows it: **the one rule** every view of a person
/// follows, so that nothing shown beside a masked value restores what the mask hid.
///
/// - Full (`full == true`, for a reader entitled to it and audited by the caller): name, ID
///   number, mobile and birth date as they are.
/// - Masked (the default): [`mask_name`], [`IdNumber::masked`](crate::IdNumber::masked) and
///   [`Mobile::masked`](crate::Mobile::masked), and of the birth date **the year only**: the
///   eight characters a masked ID number hides *are* the birth date, so a masked view never
///   shows it (nor the month and day in any other form). The sex is shown in both: it is the
///   17th character, which the masked number keeps visible anyway.
///
/// `Debug` shows only whether it is masked, never a value.
#[derive(Clone, PartialEq, Eq)]
pub struct ShownPerson {
    pub masked: bool,
    pub name: String,
    /// `男` or `女`.
    pub sex: &'static str,
    pub id_number: String,
    /// The year of birth: all a masked view shows of the birth date.
    pub birth_year: i32,
    /// The full birth date: in full views only.
    pub birth_date: Option<chrono::NaiveDate>,
    pub mobile: Option<String>,
}

impl ShownPerson {
    /// The person as a view shows it, masked unless `full`.
    pub fn new(full: bool, name: &str, id_number: &IdNumber, mobile: Option<&Mobile>) -> Self {
        use chrono::Datelike as _;
        let birth = id_number.birth_date();
        ShownPerson {
            masked: !full,
            name: if full {
                name.to_owned()
            } else {
                mask_name(name)
            },
            sex: id_number.sex().label_zh(),
            id_number: if full {
                id_number.as_str().to_owned()
            } else {
                id_number.masked()
            },
            birth_year: birth.year(),
            birth_date: full.then_some(birth),
            mobile: mobile.map(|m| {
                if full {
                    m.as_str().to_owned()
                } else {
                    m.masked()
                }
            }),
        }
    }

    /// The masked view (the default everywhere).
    pub fn masked(name: &str, id_number: &IdNumber, mobile: Option<&Mobile>) -> Self {
        Self::new(false, name, id_number, mobile)
    }
}

impl std::fmt::Debug for ShownPerson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShownPerson")
            .field("masked", &self.masked)
            .finish_non_exhaustive()
    }
}

/// A union's leader (工会负责人) and contact phone as a view or an export shows them: masked
/// ([`mask_name`], [`mask_mobile`] — which also masks a landline) unless `full`, which the
/// caller audits.
pub fn shown_contact(full: bool, leader_name: &str, phone: &str) -> (String, String) {
    if full {
        (leader_name.to_owned(), phone.to_owned())
    } else {
        (mask_name(leader_name), mask_mobile(phone))
    }
}

/// Keeps `head` leading and `tail` trailing characters and replaces the others with `*`.
/// When `head + tail` covers the whole text, the text is returned unchanged.
pub(crate) fn keep_ends(chars: &[char], head: usize, tail: usize) -> String {
    let tail_start = chars.len().saturating_sub(tail);
    chars
        .iter()
        .enumerate()
        .map(|(i, &c)| if i < head || i >= tail_start { c } else { '*' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_only_the_first_character() {
        assert_eq!(mask_name("张三"), "张*");
        assert_eq!(mask_name("王小明"), "王**");
        assert_eq!(mask_name(" 李四 "), "李*");
        assert_eq!(mask_name("John Smith"), "J*********");
    }

    #[test]
    fn single_character_and_empty_names() {
        assert_eq!(mask_name("张"), "*");
        assert_eq!(mask_name(""), "");
        assert_eq!(mask_name("   "), "");
    }

    #[test]
    fn compound_surnames_are_kept_whole() {
        assert_eq!(mask_name("欧阳娜娜"), "欧阳**");
        assert_eq!(mask_name("司马光"), "司马*");
        assert_eq!(mask_name("诸葛孔明"), "诸葛**");
        assert_eq!(mask_name("褚师一"), "褚师*");
        // A name that is only a compound surname still shows a star.
        assert_eq!(mask_name("欧阳"), "欧*");
    }

    #[test]
    fn compound_surname_list_has_unique_two_character_entries() {
        let mut list = COMPOUND_SURNAMES.to_vec();
        assert!(list.iter().all(|s| s.chars().count() == 2));
        list.sort_unstable();
        list.dedup();
        assert_eq!(list.len(), COMPOUND_SURNAMES.len());
    }

    #[test]
    fn transliterated_names_keep_their_separators() {
        assert_eq!(mask_name("阿卜杜拉·买买提"), "阿***·***");
        assert_eq!(mask_name("迪丽热巴·迪力木拉提"), "迪***·*****");
        assert_eq!(mask_name("阿卜杜拉•买买提"), "阿***•***");
        assert_eq!(mask_name("阿·买"), "阿·*");
    }

    #[test]
    fn id_numbers_keep_first_six_and_last_four() {
        assert_eq!(mask_id_number("330522199001011234"), "330522********1234");
        assert_eq!(mask_id_number(" 11010519491231002x "), "110105********002X");
        assert_eq!(
            mask_id_number("１１０１０５１９４９１２３１００２Ｘ"),
            "110105********002X"
        );
        // Not validated: an invalid 18-character number is masked the same way.
        assert_eq!(mask_id_number("110105194912310021"), "110105********0021");
        // Legacy 15-digit number.
        assert_eq!(mask_id_number("110105491231002"), "110105*****1002");
    }

    #[test]
    fn short_id_numbers_are_masked_entirely() {
        assert_eq!(mask_id_number("11010519491"), "***********");
        assert_eq!(mask_id_number("1234"), "****");
        assert_eq!(mask_id_number(""), "");
    }

    #[test]
    fn mobiles_keep_first_three_and_last_four() {
        assert_eq!(mask_mobile("13812345678"), "138****5678");
        assert_eq!(mask_mobile("+86 138-1234-5678"), "138****5678");
        assert_eq!(mask_mobile("１３８１２３４５６７８"), "138****5678");
        // Not a mobile, but long enough: the same rule on the raw text.
        assert_eq!(mask_mobile("0572-6022447"), "057*****2447");
        assert_eq!(mask_mobile("12012345678"), "120****5678");
    }

    #[test]
    fn short_mobiles_are_masked_entirely() {
        assert_eq!(mask_mobile("1381234567"), "**********");
        assert_eq!(mask_mobile("110"), "***");
        assert_eq!(mask_mobile(""), "");
    }

    #[test]
    fn addresses_keep_the_county() {
        assert_eq!(
            mask_address("浙江省湖州市长兴县雉城街道金陵路88号"),
            "浙江省湖州市长兴县****"
        );
        assert_eq!(
            mask_address("北京市海淀区中关村大街1号"),
            "北京市海淀区****"
        );
        assert_eq!(
            mask_address("内蒙古自治区呼和浩特市新城区新华大街1号"),
            "内蒙古自治区呼和浩特市新城区****"
        );
        assert_eq!(
            mask_address("内蒙古自治区呼伦贝尔市鄂伦春自治旗阿里河镇"),
            "内蒙古自治区呼伦贝尔市鄂伦春自治旗****"
        );
    }

    #[test]
    fn marker_after_twenty_characters_is_ignored() {
        // The 县 is the 21st character.
        let address = "一二三四五六七八九十一二三四五六七八九十县城路1号";
        assert_eq!(mask_address(address), "一二三四五六****");
    }

    #[test]
    fn addresses_without_marker_keep_six_characters_at_most_half() {
        assert_eq!(
            mask_address("浙江省嘉兴市海宁市硖石街道"),
            "浙江省嘉兴市****"
        );
        assert_eq!(mask_address("金陵路88号"), "金陵路****");
        assert_eq!(mask_address("1"), "****");
        assert_eq!(mask_address("  "), "");
    }

    #[test]
    fn keep_ends_leaves_short_text_unchanged() {
        let chars: Vec<char> = "abc".chars().collect();
        assert_eq!(keep_ends(&chars, 2, 2), "abc");
        assert_eq!(keep_ends(&chars, 1, 1), "a*c");
        assert_eq!(keep_ends(&chars, 0, 0), "***");
    }

    #[test]
    fn a_masked_person_shows_the_birth_year_not_the_birth_date() {
        let today = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default();
        let id = IdNumber::parse("11010519491231002X", today).unwrap_or_else(|e| panic!("{e}"));
        let mobile = Mobile::parse("13812345678").unwrap_or_else(|e| panic!("{e}"));
        let masked = ShownPerson::masked("张三", &id, Some(&mobile));
        assert_eq!(masked.id_number, "110105********002X");
        assert_eq!((masked.birth_year, masked.birth_date), (1949, None));
        assert_eq!(masked.name, "张*");
        assert_eq!(masked.mobile.as_deref(), Some("138****5678"));
        assert_eq!(masked.sex, "女");
        assert!(!format!("{masked:?}").contains('张'));
        let full = ShownPerson::new(true, "张三", &id, Some(&mobile));
        assert_eq!(full.id_number, "11010519491231002X");
        assert_eq!(
            full.birth_date.map(|d| d.to_string()).as_deref(),
            Some("1949-12-31")
        );
        assert_eq!(full.mobile.as_deref(), Some("13812345678"));
        assert!(!format!("{full:?}").contains("1101"));
    }

    #[test]
    fn union_contacts_are_masked_unless_full() {
        assert_eq!(
            shown_contact(false, "王主席", "0572-6022447"),
            ("王**".to_owned(), "057*****2447".to_owned())
        );
        assert_eq!(
            shown_contact(true, "王主席", "0572-6022447"),
            ("王主席".to_owned(), "0572-6022447".to_owned())
        );
    }
}
